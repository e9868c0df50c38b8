import json

import pytest
import torch
from model_testdata import BANDS, PATCH, K, tiny_config
from safetensors.torch import load_file, save_file

from contrastdm.model import ContrastDMNet, LearnerConfig


def _trained_like(cfg: LearnerConfig) -> ContrastDMNet:
    """A network with non-trivial BatchNorm statistics and diffusion normalisation."""
    torch.manual_seed(0)
    net = ContrastDMNet(BANDS, K, cfg)
    net.train()
    with torch.no_grad():
        net(torch.randn(32, BANDS, PATCH, PATCH) * 2 + 0.3)
        if net.diffusion is not None:
            net.diffusion.set_normalization(torch.randn(64, cfg.feature_dim) * 3 + 1)
    return net.eval()


def _windows(tile: torch.Tensor, p: int) -> torch.Tensor:
    win = tile.unfold(2, p, 1).unfold(3, p, 1)[0]
    c, h, w = win.shape[:3]
    return win.permute(1, 2, 0, 3, 4).reshape(h * w, c, p, p)


@pytest.mark.parametrize("refine", [False, True])
def test_predict_dense_equals_patchwise_softmax(refine):
    net = _trained_like(tiny_config(refine=refine, refine_strength=0.3))
    assert net.refine_active == refine
    h, w = 7, 6
    tile = torch.randn(1, BANDS, h + PATCH - 1, w + PATCH - 1, generator=torch.Generator().manual_seed(1))
    probs = net.predict_dense(tile)
    assert probs.shape == (K, h, w)
    with torch.no_grad():
        expected = torch.softmax(net(_windows(tile, PATCH)), 1).t().reshape(K, h, w)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(probs.sum(0), torch.ones(h, w))
    if refine:  # refinement really changes the prediction
        plain = _trained_like(tiny_config(refine=False, synthetic=True))
        plain.load_state_dict(net.state_dict())
        assert not torch.allclose(plain.predict_dense(tile), probs, atol=1e-4)


def test_predict_dense_uses_eval_mode_and_restores_it():
    net = _trained_like(tiny_config())
    net.train()
    tile = torch.randn(1, BANDS, 5 + PATCH - 1, 5 + PATCH - 1)
    a = net.predict_dense(tile)
    assert net.training
    torch.testing.assert_close(a, net.eval().predict_dense(tile))


@pytest.mark.parametrize("changes", [dict(refine=True), dict(synthetic=False, refine=False), dict(centre_branch=True)])
def test_safetensors_round_trip_predicts_identically(tmp_path, changes):
    cfg = tiny_config(**changes)
    net = _trained_like(cfg)
    path = tmp_path / "model.safetensors"
    save_file(net.state_dict(), str(path), metadata={"config": json.dumps(cfg.to_dict())})
    rebuilt = ContrastDMNet(BANDS, K, LearnerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))))
    rebuilt.load_state_dict(load_file(str(path)), strict=True)
    rebuilt.eval()
    assert (rebuilt.diffusion is None) == (not (cfg.synthetic or cfg.refine))
    x = torch.randn(10, BANDS, PATCH, PATCH)
    with torch.no_grad():
        assert torch.equal(net(x), rebuilt(x))
    tile = torch.randn(1, BANDS, 8, 8)
    assert torch.equal(net.predict_dense(tile), rebuilt.predict_dense(tile))


def test_config_json_round_trip_and_errors():
    from contrastdm.model import PRESETS

    assert set(PRESETS) == {"fast", "balanced"}
    for cfg in PRESETS.values():
        assert LearnerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert PRESETS["balanced"] == LearnerConfig()
    with pytest.raises(ValueError):
        LearnerConfig.from_dict({"no_such_field": 1})


def test_a_config_written_before_a_field_existed_reads_as_its_time_not_todays_default(tmp_path):
    """Model files keep loading strictly after a default moves: the missing field means what it meant then."""
    from contrastdm.model.config import IMPLIED_WHEN_MISSING

    old = tiny_config()
    net = _trained_like(old)
    written = {k: v for k, v in old.to_dict().items() if k not in IMPLIED_WHEN_MISSING}
    read = LearnerConfig.from_dict(written)
    for name, value in IMPLIED_WHEN_MISSING.items():
        assert getattr(read, name) == value
    assert LearnerConfig.from_dict({**written, "centre_branch": True}).centre_branch
    ContrastDMNet(BANDS, K, read).load_state_dict(net.state_dict(), strict=True)
    with pytest.raises(RuntimeError):  # the other architecture does not take these weights
        ContrastDMNet(BANDS, K, read.replace(centre_branch=True)).load_state_dict(net.state_dict(), strict=True)


def test_predict_dense_in_bfloat16_gives_nearly_the_float32_probabilities():
    net = _trained_like(tiny_config())
    tile = torch.randn(1, BANDS, 12 + PATCH - 1, 10 + PATCH - 1, generator=torch.Generator().manual_seed(3))
    exact = net.predict_dense(tile)
    fast = net.predict_dense(tile, dtype=torch.bfloat16)
    assert fast.dtype == torch.float32 and fast.shape == exact.shape
    torch.testing.assert_close(fast.sum(0), torch.ones(12, 10))
    assert (fast - exact).abs().max() < 0.02
