import pytest

from contrastdm.training import refinement


def _fake_accuracy(with_refinement, without):
    return lambda net, x, y, device, refine_strength=0.0: (with_refinement if refine_strength > 0 else without, 0.0)


@pytest.mark.parametrize("refined, kept", [(0.9, 0.3), (0.8, 0.0), (0.7, 0.0)])
def test_refinement_is_kept_only_when_validation_says_it_helps(context, monkeypatch, refined, kept):
    ctx = context(refine=True, refine_strength=0.3)
    monkeypatch.setattr(refinement, "accuracy", _fake_accuracy(refined, 0.8))
    refinement.choose(ctx)
    assert ctx.validation["refine"] == {"requested_strength": 0.3, "strength": kept, "oa_without": 0.8,
                                        "oa_with": refined}
    assert ctx.net.config.refine_strength == kept and ctx.cfg.refine_strength == 0.3


def test_refinement_is_judged_on_the_real_network(context):
    ctx = context(refine=True, refine_strength=0.3)
    refinement.choose(ctx)
    choice = ctx.validation["refine"]
    assert choice["strength"] == (0.3 if choice["oa_with"] > choice["oa_without"] else 0.0)


def test_after_a_refit_refinement_stays_off(context):
    ctx = context(refine=True, refine_strength=0.3)
    refinement.choose(ctx, after_refit=True)
    assert ctx.validation["refine"]["strength"] == 0.0 and not ctx.net.refine_active


def test_without_validation_data_the_requested_strength_stands(context):
    ctx = context(refine=True, refine_strength=0.3)
    ctx.x_va, ctx.y_va = ctx.x_va[:0], ctx.y_va[:0]
    refinement.choose(ctx)
    assert ctx.validation["refine"]["strength"] == 0.3 and ctx.net.refine_active
