import pytest
import torch
from model_testdata import tiny_config

from contrastdm.errors import Cancelled
from contrastdm.feedback import RecordingFeedback
from contrastdm.training import FitResult, fit


def _fit(data, cfg, feedback=None, **kw):
    feedback = feedback or RecordingFeedback()
    args = dict(unlabeled=data["unlabeled"], x_train=data["x_train"], y_train=data["y_train"], x_val=None, y_val=None)
    args.update(kw)
    return fit(**args, n_classes=3, config=cfg, device="cpu", progress=feedback.progress,
               is_cancelled=feedback.cancelled)


def _accuracy(net, x, y):
    with torch.no_grad():
        return float((net.eval()(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


@pytest.mark.parametrize("stage, order", [("finetuned", ["contrastive", "finetune", "diffusion"]),
                                          ("pretrained", ["contrastive", "diffusion", "finetune"])])
def test_full_pipeline_runs_every_stage_and_learns(tiny_data, stage, order):
    fb = RecordingFeedback()
    # No refit: the untouched validation slice judges the retrained head and refinement.
    res = _fit(tiny_data, tiny_config(refine=True, diffusion_reg_weight=0.1, diffusion_stage=stage, refit_all=False),
               fb)
    assert isinstance(res, FitResult)
    assert fb.stages == order
    for name in fb.stages:
        fractions = [e[2] for e in fb.events if e[0] == "progress" and e[1] == name]
        assert fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    h = res.history
    assert len(h["contrastive"]) == 2 and len(h["finetune"]) == 12 and len(h["val_oa"]) == 12
    assert h["diffusion"][-1] < h["diffusion"][0]
    assert h["finetune"][-1] < h["finetune"][0]
    v = res.validation
    assert v["source"] == "carved" and v["n"] == 6 and 1 <= v["best_epoch"] <= 12
    assert v["refine"]["strength"] in (0.0, 0.3)
    assert res.config.refine_strength == v["refine"]["strength"]
    assert not res.network.training
    assert set(res.stage_seconds) == {"contrastive", "diffusion", "finetune", "refinement"}
    assert all(seconds >= 0 for seconds in res.stage_seconds.values())
    assert _accuracy(res.network, tiny_data["x_test"], tiny_data["y_test"]) > 0.8
    if stage == "finetuned":  # the head was retrained on real + synthetic features, judged on validation
        assert len(h["head"]) == res.config.head_epochs and h["head"][-1] < h["head"][0]
        head = v["head"]
        assert head["retrained"] == (head["oa_with"] >= head["oa_without"])
    else:
        assert "head" not in h and "head" not in v


def test_late_diffusion_samples_the_space_the_head_classifies(tiny_data):
    """Synthetic features drawn after fine-tuning are classified as their own class by the final head; drawn
    before fine-tuning ("pretrained"), they no longer match the features the head sees."""
    diffusion = dict(diffusion_steps=800, diffusion_timesteps=1000, ddim_steps=20, diffusion_hidden=64,
                     diffusion_blocks=2, diffusion_views=4)
    labels = torch.arange(3).repeat_interleave(20)
    agreement = {}
    for stage in ("finetuned", "pretrained"):
        net = _fit(tiny_data, tiny_config(diffusion_stage=stage, **diffusion)).network
        with torch.no_grad():
            synthetic = net.diffusion.sample(labels, 20, 2.0, generator=torch.Generator().manual_seed(1))
            agreement[stage] = float((net.head(synthetic).argmax(1) == labels).float().mean())
    assert agreement["finetuned"] > 0.9 and agreement["finetuned"] > agreement["pretrained"] + 0.3, agreement


def test_unknown_diffusion_stage_is_an_input_error(tiny_data):
    from contrastdm.errors import InputError

    with pytest.raises(InputError, match="diffusion_stage"):
        _fit(tiny_data, tiny_config(diffusion_stage="later"))


def test_fit_checks_the_config_before_training(tiny_data):
    from contrastdm.errors import InputError

    fb = RecordingFeedback()
    with pytest.raises(InputError, match="batch_size"):
        _fit(tiny_data, tiny_config(batch_size=0), fb)
    assert fb.events == []


def test_model_package_re_exports_fit():
    import contrastdm.model
    import contrastdm.training

    assert contrastdm.model.fit is contrastdm.training.fit and contrastdm.model.FitResult is FitResult


def test_supervised_only_config_skips_contrastive_and_diffusion(tiny_data):
    fb = RecordingFeedback()
    x_val, y_val = tiny_data["x_test"][:9], tiny_data["y_test"][:9]
    res = _fit(tiny_data, tiny_config(contrastive_epochs=0, synthetic=False, refine=False, finetune_epochs=8), fb,
               x_val=x_val, y_val=y_val)
    assert fb.stages == ["finetune"]
    assert res.network.diffusion is None
    assert res.history["contrastive"] == [] and res.history["diffusion"] == []
    assert res.validation["source"] == "given" and res.validation["n"] == 9
    assert _accuracy(res.network, tiny_data["x_test"], tiny_data["y_test"]) > 0.8


def test_same_seed_gives_same_network_and_different_seed_does_not(tiny_data):
    cfg = tiny_config(contrastive_epochs=1, diffusion_steps=20, finetune_epochs=1)
    a = _fit(tiny_data, cfg).network.state_dict()
    b = _fit(tiny_data, cfg).network.state_dict()
    c = _fit(tiny_data, cfg.replace(seed=1)).network.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fit_leaves_global_rng_alone(tiny_data):
    torch.manual_seed(42)
    expected = torch.rand(3)
    torch.manual_seed(42)
    _fit(tiny_data, tiny_config(contrastive_epochs=0, synthetic=False, finetune_epochs=1))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("after", [3, 40])
def test_cancellation_raises_cancelled(tiny_data, after):
    fb = RecordingFeedback(cancel_after=after)
    with pytest.raises(Cancelled):
        _fit(tiny_data, tiny_config(), fb)
    progress = [e for e in fb.events if e[0] == "progress"]
    assert len(progress) == after  # stopped at the very next batch


def test_bad_inputs_are_input_errors(tiny_data):
    from contrastdm.errors import InputError

    with pytest.raises(InputError):
        _fit(tiny_data, tiny_config(patch_size=7))
    with pytest.raises(InputError):
        _fit(tiny_data, tiny_config(), y_train=tiny_data["y_train"] + 5)


def test_refit_all_replays_the_selected_epoch_on_every_label(tiny_data):
    fb = RecordingFeedback()
    res = _fit(tiny_data, tiny_config(contrastive_epochs=0, synthetic=False, refit_all=True), fb)
    v = res.validation
    assert v["source"] == "carved" and v["refit_samples"] == len(tiny_data["y_train"])
    assert v["refit_epochs"] == v["best_epoch"] and len(res.history["finetune_refit"]) == v["best_epoch"]
    fractions = [e[2] for e in fb.events if e[0] == "progress" and e[1] == "finetune"]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    selected_only = _fit(tiny_data, tiny_config(contrastive_epochs=0, synthetic=False, refit_all=False))
    selected_only = selected_only.network.state_dict()
    refit = res.network.state_dict()
    assert any(not torch.equal(selected_only[k], refit[k]) for k in refit)
    assert _accuracy(res.network, tiny_data["x_test"], tiny_data["y_test"]) > 0.8


def test_after_a_refit_nothing_is_judged_on_the_used_validation_slice(tiny_data):
    res = _fit(tiny_data, tiny_config(refine=True))
    v = res.validation
    assert v["refit_samples"] == len(tiny_data["y_train"])
    assert v["head"] == {"retrained": True, "note": "no untouched validation data"}
    assert v["refine"]["strength"] == 0.0 and res.config.refine_strength == 0.0 and not res.network.refine_active


def test_refit_all_is_skipped_when_validation_data_is_given(tiny_data):
    x_val, y_val = tiny_data["x_test"][:9], tiny_data["y_test"][:9]
    res = _fit(tiny_data, tiny_config(contrastive_epochs=0, synthetic=False, refit_all=True), x_val=x_val, y_val=y_val)
    assert "refit_samples" not in res.validation and "finetune_refit" not in res.history


def test_bfloat16_on_the_cpu_trains_float32_weights_that_learn_as_well(tiny_data):
    """bf16 autocast changes the arithmetic (so the weights differ from float32's), not what is learned or kept."""
    nets = {p: _fit(tiny_data, tiny_config(cpu_precision=p)).network for p in ("float32", "bfloat16")}
    weights = {p: net.encoder.conv3d_1.weight for p, net in nets.items()}
    assert all(w.dtype == torch.float32 for net in nets.values() for w in net.state_dict().values()
               if w.is_floating_point())
    assert not torch.equal(weights["float32"], weights["bfloat16"])
    accuracy = {p: _accuracy(net, tiny_data["x_test"], tiny_data["y_test"]) for p, net in nets.items()}
    assert accuracy["bfloat16"] > 0.8 and abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.1
