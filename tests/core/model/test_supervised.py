"""The torch baselines' training loop: the same model selection and refit as ContrastDM's learner."""

import numpy as np
import torch
from torch import nn

from contrastdm.model.supervised import train_supervised


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    x = (rng.normal(size=(n, 5)) + 2.0 * np.eye(3, 5)[y]).astype(np.float32)
    return x, y


def _train(refit, progress=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = _data()
    info = train_supervised(model, x, y, epochs=12, batch_size=16, learning_rate=1e-2, weight_decay=0.0,
                            device=torch.device("cpu"), seed=0, refit=refit, progress=progress)
    return model, info


def test_the_chosen_epoch_is_replayed_on_every_label():
    fractions = []
    model, info = _train(True, lambda f, m: fractions.append(f))
    assert info["validation_pixels"] == 12 and len(info["validation_curve"]) == 12
    assert 1 <= info["best_epoch"] <= 12 and info["refit_epochs"] == info["best_epoch"] and info["refit_samples"] == 60
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    selected, no_refit = _train(False)
    assert "refit_samples" not in no_refit and no_refit["best_epoch"] == info["best_epoch"]
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), selected.state_dict().values()))
    x, y = _data(seed=1)
    with torch.no_grad():
        assert (model(torch.from_numpy(x)).argmax(1).numpy() == y).mean() > 0.8
