import torch

from contrastdm.training import finetune, synthesis
from contrastdm.training.common import accuracy


def test_synthetic_features_have_the_requested_count_per_class(context):
    ctx = context(synthetic_per_class=5, diffusion_views=3)
    synthetic, real = synthesis.fit_diffusion(ctx, ctx.x_tr, ctx.y_tr, ctx.progress)
    features, labels = synthetic
    assert features.shape == (15, ctx.cfg.feature_dim) and torch.bincount(labels).tolist() == [5, 5, 5]
    assert len(real[0]) == len(real[1]) == 3 * len(ctx.y_tr)  # every view of every training patch
    assert torch.equal(real[1], ctx.y_tr.repeat(3))
    assert ctx.history["diffusion"] and not any(p.requires_grad for p in ctx.net.diffusion.parameters())


def test_no_synthesis_still_fits_the_diffusion_model(context):
    ctx = context(synthetic=False, refine=True)
    synthetic, real = synthesis.fit_diffusion(ctx, ctx.x_tr, ctx.y_tr, ctx.progress)
    assert synthetic is None and len(real[1]) == 2 * len(ctx.y_tr) and ctx.history["diffusion"]


def test_late_stage_retrains_the_head_and_judges_it_on_validation(context):
    ctx = context(contrastive_epochs=0, finetune_epochs=4, refit_all=False, head_epochs=3)
    finetune.select_epoch(ctx)
    synthesis.fit_on_finetuned(ctx)
    head = ctx.validation["head"]
    assert len(ctx.history["head"]) == 3 and head["retrained"] == (head["oa_with"] >= head["oa_without"])


def test_a_head_that_validation_finds_worse_is_put_back(context):
    ctx = context(contrastive_epochs=0, synthetic=False, refine=True, finetune_epochs=6, refit_all=False,
                  head_epochs=4, synthetic_weight=5.0)
    finetune.select_epoch(ctx)
    _, (feats, labels) = synthesis.fit_diffusion(ctx, ctx.x_tr, ctx.y_tr, ctx.progress)
    before = {k: v.clone() for k, v in ctx.net.head.state_dict().items()}
    wrong = (feats, (labels + 1) % 3)  # "synthetic" features with every label wrong, weighted heavily
    decision = synthesis.retrain_head(ctx, (feats, labels), wrong, validation=(ctx.x_va, ctx.y_va),
                                      progress=lambda f: None)
    assert decision["retrained"] is False and decision["oa_with"] < decision["oa_without"]
    assert all(torch.equal(before[k], v) for k, v in ctx.net.head.state_dict().items())
    assert accuracy(ctx.net, ctx.x_va, ctx.y_va, ctx.device)[0] == decision["oa_without"]


def test_without_untouched_validation_the_retrained_head_is_kept(context):
    ctx = context(contrastive_epochs=0, synthetic_per_class=4, head_epochs=2)
    synthetic, real = synthesis.fit_diffusion(ctx, ctx.x_tr, ctx.y_tr, ctx.progress)
    before = {k: v.clone() for k, v in ctx.net.head.state_dict().items()}
    decision = synthesis.retrain_head(ctx, real, synthetic, validation=None, progress=lambda f: None)
    assert decision == {"retrained": True, "note": "no untouched validation data"} and len(ctx.history["head"]) == 2
    assert any(not torch.equal(before[k], v) for k, v in ctx.net.head.state_dict().items())
