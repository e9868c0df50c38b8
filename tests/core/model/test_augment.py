import pytest
import torch
import torch.nn.functional as F

from contrastdm.model.augment import HyperspectralAugment, band_dropout, dihedral_and_shift


def _reference(x, generator, max_shift, prob):
    """Dihedral transform, then reflect-padded shift, written out transform by transform."""
    choice = torch.randint(0, 8, (x.shape[0],), generator=generator)
    out = x.clone()
    for c in range(1, 8):
        idx = (choice == c).nonzero(as_tuple=True)[0]
        part = x.index_select(0, idx)
        out[idx] = torch.rot90(part.flip(-1) if c >= 4 else part, c % 4, dims=(-2, -1))
    if max_shift <= 0 or prob <= 0:
        return out
    n, _, p, _ = x.shape
    padded = F.pad(out, (max_shift,) * 4, mode="reflect" if max_shift < p else "replicate")
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    offs[torch.rand(n, generator=generator) >= prob] = max_shift
    return torch.stack([padded[i, :, dy:dy + p, dx:dx + p] for i, (dy, dx) in enumerate(offs.tolist())])


def test_same_generator_seed_gives_same_augmentation():
    x = torch.randn(16, 6, 5, 5)
    aug = HyperspectralAugment()
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("patch,max_shift,prob", [(5, 1, 0.5), (7, 2, 1.0), (1, 1, 0.5), (5, 0, 0.5), (3, 1, 0.0)])
def test_one_gather_equals_the_transforms_applied_one_by_one(patch, max_shift, prob):
    x = torch.randn(64, 3, patch, patch)
    got = dihedral_and_shift(x, torch.Generator().manual_seed(1), max_shift, prob)
    torch.testing.assert_close(got, _reference(x, torch.Generator().manual_seed(1), max_shift, prob), rtol=0, atol=0)


def test_dihedral_keeps_each_patch_values_and_centre():
    x = torch.randn(64, 3, 5, 5)
    y = dihedral_and_shift(x, torch.Generator().manual_seed(0), max_shift=0)
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
    y = dihedral_and_shift(x, torch.Generator().manual_seed(0), max_shift=1, prob=1.0)
    centre = y[:, 0, 2, 2]
    allowed = {float(x[0, 0, 2 + dy, 2 + dx]) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert set(centre.tolist()) <= allowed
    assert len(set(centre.tolist())) > 1
