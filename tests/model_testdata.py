"""Tiny generated hyperspectral data and a tiny config (shared by the model and training tests)."""

import numpy as np
import pytest
import torch

from contrastdm.model import LearnerConfig

BANDS, PATCH, K = 6, 5, 3


def make_patches(n_per_class: int, seed: int = 0, k: int = K, bands: int = BANDS, patch: int = PATCH):
    """Each class has its own spectral signature; the centre region carries it, plus noise."""
    rng = np.random.default_rng(seed)
    signatures = np.random.default_rng(123).normal(0, 1.5, size=(k, bands)).astype(np.float32)
    x, y = [], []
    for c in range(k):
        base = signatures[c][None, :, None, None] * np.ones((n_per_class, bands, patch, patch), np.float32)
        x.append(base + rng.normal(0, 0.5, size=base.shape).astype(np.float32))
        y.append(np.full(n_per_class, c, np.int64))
    x, y = np.concatenate(x), np.concatenate(y)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def tiny_dataset() -> dict:
    """12 training, 20 unlabelled and 20 test patches per class."""
    x_tr, y_tr = make_patches(12, seed=1)
    x_unl, _ = make_patches(20, seed=2)
    x_te, y_te = make_patches(20, seed=3)
    return dict(unlabeled=x_unl, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def tiny_config(**changes) -> LearnerConfig:
    cfg = LearnerConfig(
        patch_size=PATCH, feature_dim=16, spectral_channels=2, spatial_channels=8, head_hidden=16,
        contrastive_epochs=2, contrastive_samples_per_epoch=0, diffusion_steps=60, diffusion_timesteps=100,
        diffusion_hidden=32, diffusion_blocks=1, diffusion_views=2, diffusion_unlabeled=64, ddim_steps=8,
        synthetic=True, synthetic_per_class=8, refine=False, refine_strength=0.3, finetune_epochs=12, learning_rate=3e-3,
        min_steps_per_epoch=5, batch_size=16, seed=0,
    )
    return cfg.replace(**changes)


@pytest.fixture(scope="session")
def tiny_data():
    return tiny_dataset()


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep the tiny tests from competing for the machine's cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
