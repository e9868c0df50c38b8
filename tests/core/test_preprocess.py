"""The preprocessing's tiled-inference path gives what the general one gives."""

import numpy as np
import pytest

from contrastdm.preprocess import fit_preprocessor


@pytest.mark.parametrize("components", [2, None])
def test_standardising_in_place_equals_the_general_transform(components):
    rng = np.random.default_rng(1)
    pixels = rng.standard_normal((600, 6)) * 20 + 300
    pre = fit_preprocessor(pixels, components)
    cube = pixels.T.reshape(6, 20, 30).astype(np.float32)
    valid = np.ones((20, 30), bool)
    valid[3, 4] = False
    cube[:, 3, 4] = np.nan  # what a nodata pixel may hold
    expected_features, expected_bands = pre.transform_with_bands(cube.copy(), valid)
    data = cube.copy()
    features, bands = pre.apply_in_place(data, valid)
    assert bands is data and bands.shape == (6, 20, 30)
    assert features.shape == (20, 30, pre.out_bands) and features.flags.c_contiguous
    np.testing.assert_allclose(bands, expected_bands.transpose(2, 0, 1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(features, expected_features.transpose(1, 2, 0), rtol=1e-5, atol=1e-5)
    assert np.all(features[3, 4] == 0) and np.isfinite(features).all()
