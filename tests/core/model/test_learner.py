import numpy as np
import pytest
import torch
from model_testdata import tiny_config

from contrastdm.errors import Cancelled
from contrastdm.feedback import RecordingFeedback
from contrastdm.model import FitResult, fit


def _fit(data, cfg, feedback=None, **kw):
    feedback = feedback or RecordingFeedback()
    args = dict(unlabeled=data["unlabeled"], x_train=data["x_train"], y_train=data["y_train"], x_val=None, y_val=None)
    args.update(kw)
    return fit(**args, n_classes=3, config=cfg, device="cpu", progress=feedback.progress,
               is_cancelled=feedback.cancelled)


def _accuracy(net, x, y):
    with torch.no_grad():
        return float((net.eval()(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def test_full_pipeline_runs_every_stage_and_learns(tiny_data):
    fb = RecordingFeedback()
    res = _fit(tiny_data, tiny_config(refine=True, diffusion_reg_weight=0.1), fb)
    assert isinstance(res, FitResult)
    assert fb.stages == ["contrastive", "diffusion", "finetune"]
    for stage in fb.stages:
        fractions = [e[2] for e in fb.events if e[0] == "progress" and e[1] == stage]
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
    assert _accuracy(res.network, tiny_data["x_test"], tiny_data["y_test"]) > 0.8


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


def test_validation_slice_is_stratified_and_carved_from_training_only():
    from contrastdm.model.learner import stratified_split

    y = np.array([0] * 10 + [1] * 5 + [2] * 1)
    tr, va = stratified_split(y, 0.2, seed=0)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(16))
    assert np.bincount(y[va], minlength=3).tolist() == [2, 1, 0]


def test_bad_inputs_are_input_errors(tiny_data):
    from contrastdm.errors import InputError

    with pytest.raises(InputError):
        _fit(tiny_data, tiny_config(patch_size=7))
    with pytest.raises(InputError):
        _fit(tiny_data, tiny_config(), y_train=tiny_data["y_train"] + 5)
