import torch
from model_testdata import BANDS, PATCH, make_patches

from contrastdm.model.augment import HyperspectralAugment
from contrastdm.model.contrastive import ProjectionHead, nt_xent_loss, pretrain_contrastive, supcon_loss
from contrastdm.model.encoder import SpectralSpatialEncoder


def test_nt_xent_prefers_matching_views():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 8, generator=g)
    matched = nt_xent_loss(z, z + 0.01 * torch.randn(32, 8, generator=g))
    shuffled = nt_xent_loss(z, z[torch.randperm(32, generator=g)])
    assert matched < shuffled


def test_supcon_prefers_class_clusters():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(8)
    centres = torch.randn(4, 8, generator=g) * 3
    clustered = centres[labels] + 0.1 * torch.randn(32, 8, generator=g)
    assert supcon_loss(clustered, labels) < supcon_loss(torch.randn(32, 8, generator=g), labels)
    # No positives at all: zero loss, not NaN.
    assert torch.isfinite(supcon_loss(clustered[:4], torch.arange(4)))


def test_pretraining_reduces_loss():
    torch.manual_seed(0)
    x_unl, _ = make_patches(40, seed=2)
    x_lab, y_lab = make_patches(6, seed=1)
    enc = SpectralSpatialEncoder(BANDS, PATCH, feature_dim=16, spectral_channels=(2, 4), spatial_channels=8)
    proj = ProjectionHead(16, 16, 8)
    seen = []
    losses = pretrain_contrastive(
        enc, proj, torch.from_numpy(x_unl), torch.from_numpy(x_lab), torch.from_numpy(y_lab), epochs=6,
        batch_size=40, learning_rate=3e-3, supcon_weight=1.0, augment=HyperspectralAugment(),
        generator=torch.Generator().manual_seed(0), progress=lambda s, f, m: seen.append((s, f)),
    )
    assert len(losses) == 6
    assert losses[-1] < losses[0]
    assert {s for s, _ in seen} == {"contrastive"} and seen[-1][1] == 1.0
