import torch

from contrastdm.model.augment import HyperspectralAugment, band_dropout, random_dihedral, random_shift


def test_same_generator_seed_gives_same_augmentation():
    x = torch.randn(16, 6, 5, 5)
    aug = HyperspectralAugment()
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_dihedral_keeps_each_patch_values_and_centre():
    x = torch.randn(64, 3, 5, 5)
    y = random_dihedral(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(y.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)
    torch.testing.assert_close(y[..., 2, 2], x[..., 2, 2])  # the labelled centre pixel stays put
    assert not torch.equal(x, y)


def test_band_dropout_zeroes_whole_bands():
    x = torch.randn(32, 10, 3, 3) + 5.0
    y = band_dropout(x, torch.Generator().manual_seed(0), prob=0.3)
    per_band = (y == 0).flatten(2).all(-1)  # [N, C] fully zero bands
    assert per_band.any()
    assert ((y == 0) == per_band[..., None, None].expand_as(y)).all()


def test_shift_moves_by_at_most_one_pixel():
    x = torch.arange(25.0).reshape(1, 1, 5, 5).repeat(40, 1, 1, 1)
    y = random_shift(x, torch.Generator().manual_seed(0), max_shift=1, prob=1.0)
    centre = y[:, 0, 2, 2]
    allowed = {float(x[0, 0, 2 + dy, 2 + dx]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert set(centre.tolist()) <= allowed
    assert len(set(centre.tolist())) > 1
