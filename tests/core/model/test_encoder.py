import pytest
import torch

from contrastdm.model.encoder import SpectralSpatialEncoder


def _warmed(enc: SpectralSpatialEncoder, bands: int, p: int) -> SpectralSpatialEncoder:
    """One training-mode pass so BatchNorm running statistics are not the trivial defaults."""
    enc.train()
    with torch.no_grad():
        enc(torch.randn(32, bands, p, p, generator=torch.Generator().manual_seed(5)) * 2 + 0.5)
    return enc.eval()


def _patches_of(tile: torch.Tensor, p: int) -> torch.Tensor:
    """All p x p windows of a padded tile, in row-major pixel order."""
    win = tile.unfold(2, p, 1).unfold(3, p, 1)[0]  # [C, H, W, p, p]
    c, h, w = win.shape[:3]
    return win.permute(1, 2, 0, 3, 4).reshape(h * w, c, p, p)


@pytest.mark.parametrize("centre_branch", [False, True])
@pytest.mark.parametrize("p", [1, 3, 5, 7, 11])
def test_dense_equals_patchwise(p, centre_branch):
    torch.manual_seed(0)
    bands = 9
    enc = _warmed(SpectralSpatialEncoder(bands, p, feature_dim=12, spectral_channels=(2, 4), spatial_channels=8,
                                         centre_branch=centre_branch), bands, p)
    h, w = 6, 5
    tile = torch.randn(1, bands, h + p - 1, w + p - 1)
    with torch.no_grad():
        dense = enc.forward_dense(tile)
        patchwise = enc(_patches_of(tile, p))
    assert dense.shape == (1, 12, h, w)
    assert patchwise.shape == (h * w, 12)
    torch.testing.assert_close(dense[0].reshape(12, -1).t(), patchwise, atol=1e-5, rtol=1e-4)


def test_encoder_output_depends_only_on_the_patch():
    torch.manual_seed(0)
    enc = _warmed(SpectralSpatialEncoder(8, 5, feature_dim=8, spectral_channels=(2, 4), spatial_channels=8), 8, 5)
    tile = torch.randn(1, 8, 9, 9)
    changed = tile.clone()
    changed[..., 0, 0] += 10.0  # pixel (0, 0) of the padded tile only affects outputs within 2 pixels
    with torch.no_grad():
        a, b = enc.forward_dense(tile), enc.forward_dense(changed)
    assert not torch.allclose(a[..., 0, 0], b[..., 0, 0])
    torch.testing.assert_close(a[..., 3:, 3:], b[..., 3:, 3:])


def test_centre_branch_sees_the_centre_pixel_more_than_its_neighbours():
    """The fused centre path responds to the centre's spectrum beyond the pooled window's share of it."""
    p, bands = 5, 8

    def centre_to_edge_ratio(centre_branch):
        torch.manual_seed(1)
        enc = _warmed(SpectralSpatialEncoder(bands, p, feature_dim=8, spectral_channels=(2, 4), spatial_channels=8,
                                             centre_branch=centre_branch), bands, p)
        x = torch.randn(64, bands, p, p, generator=torch.Generator().manual_seed(2))
        bump = torch.randn(64, bands, generator=torch.Generator().manual_seed(3))
        at_centre, at_edge = x.clone(), x.clone()
        at_centre[:, :, 2, 2] += bump
        at_edge[:, :, 1, 2] += bump
        with torch.no_grad():
            base = enc(x)
            return ((enc(at_centre) - base).norm() / (enc(at_edge) - base).norm()).item()

    assert centre_to_edge_ratio(True) > 1.2 * centre_to_edge_ratio(False)


def test_rejects_wrong_shapes():
    enc = SpectralSpatialEncoder(8, 5)
    with pytest.raises(ValueError):
        enc(torch.randn(2, 7, 5, 5))
    with pytest.raises(ValueError):
        enc(torch.randn(2, 8, 7, 7))
    with pytest.raises(ValueError):
        SpectralSpatialEncoder(8, 4)


@pytest.mark.parametrize("centre_branch", [False, True])
@pytest.mark.parametrize("p, bands", [(1, 9), (3, 9), (5, 4), (7, 9), (11, 30)])
def test_dense_inference_equals_forward_dense(p, bands, centre_branch):
    torch.manual_seed(0)
    enc = _warmed(SpectralSpatialEncoder(bands, p, feature_dim=12, spectral_channels=(2, 4), spatial_channels=8,
                                         centre_branch=centre_branch), bands, p)
    tile = torch.randn(1, bands, 9 + p - 1, 7 + p - 1)
    with torch.no_grad():
        expected = enc.forward_dense(tile)
        fast = enc.inference()(tile)
        fast_channels_last = enc.inference()(tile.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fast_channels_last, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("centre_branch", [False, True])
def test_dense_inference_in_strips_equals_the_whole_tile(centre_branch):
    """Rows that do not divide into strips, with the halo each strip needs, give the whole tile's map."""
    torch.manual_seed(0)
    enc = _warmed(SpectralSpatialEncoder(9, 5, feature_dim=12, spectral_channels=(2, 4), spatial_channels=8,
                                         centre_branch=centre_branch), 9, 5)
    tile = torch.randn(1, 9, 23 + 4, 11 + 4)
    whole, strips = enc.inference(), enc.inference()
    whole.STRIP_ROWS, strips.STRIP_ROWS = 1000, 5
    with torch.no_grad():
        expected, got = whole(tile), strips(tile)
    assert got.shape == expected.shape == (1, 12, 23, 11)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_dense_inference_in_bfloat16_stays_close_to_float32():
    torch.manual_seed(0)
    enc = _warmed(SpectralSpatialEncoder(16, 5, feature_dim=12, spectral_channels=(2, 4), spatial_channels=8), 16, 5)
    tile = torch.randn(1, 16, 20, 20)
    with torch.no_grad():
        expected = enc.forward_dense(tile)
        fast = enc.inference(torch.bfloat16)(tile).float()
    assert (fast - expected).abs().max() < 0.02 * expected.abs().max()


def test_dense_inference_leaves_the_training_path_alone():
    enc = _warmed(SpectralSpatialEncoder(8, 5, feature_dim=8, spectral_channels=(2, 4), spatial_channels=8), 8, 5)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    enc.inference()(torch.randn(1, 8, 9, 9))
    assert not enc.training
    for key, value in enc.state_dict().items():
        assert torch.equal(value, before[key]), key
