"""Edge-preserving smoothing of class probabilities."""

import numpy as np
import pytest

from contrastdm.spatial import guided_filter, halo, smooth_probabilities


def _two_fields(noise=0.25, seed=0):
    """A 40 x 40 scene: class 0 left, class 1 right; the guide steps at the edge; a quarter of the pixels wrong."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((40, 40), dtype=int)
    truth[:, 20:] = 1
    guide = np.where(truth == 1, 1.0, -1.0)[None] + rng.normal(0, 0.05, (1, 40, 40))
    noisy = np.where(rng.random(truth.shape) < noise, 1 - truth, truth)
    probs = np.stack([noisy == 0, noisy == 1]).astype(np.float32)
    return truth, guide, probs


def _box_twice(image, r):
    from scipy.ndimage import uniform_filter

    return uniform_filter(uniform_filter(image, 2 * r + 1, mode="reflect"), 2 * r + 1, mode="reflect")


def test_a_flat_guide_averages_like_two_box_filters():
    rng = np.random.default_rng(1)
    source = rng.random((2, 15, 17))
    out = guided_filter(np.zeros((3, 15, 17)), source, 2, 0.1)
    np.testing.assert_allclose(out, np.stack([_box_twice(s, 2) for s in source]), atol=1e-5)


def test_noise_inside_fields_goes_and_the_edge_stays():
    truth, guide, probs = _two_fields()
    labels = smooth_probabilities(probs, guide, 3, 0.25).argmax(0)
    assert np.mean(probs.argmax(0) == truth) < 0.8
    assert np.mean(labels == truth) > 0.99
    # A plain mean over the same window blurs the edge instead: the columns next to it go wrong more often.
    flat = smooth_probabilities(probs, np.zeros_like(guide), 3, 0.25).argmax(0)
    assert np.mean(labels[:, 18:22] == truth[:, 18:22]) > np.mean(flat[:, 18:22] == truth[:, 18:22])


def test_output_is_a_probability_per_pixel_and_radius_zero_is_off():
    _, guide, probs = _two_fields()
    out = smooth_probabilities(probs, guide, 2, 0.25)
    assert out.dtype == np.float32 and np.all(out >= 0)
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(smooth_probabilities(probs, guide, 0, 0.25), probs)
    assert halo(0) == 0 and halo(5) == 10


def test_invalid_pixels_do_not_vote():
    truth, guide, probs = _two_fields(noise=0.0)
    valid = np.ones(truth.shape, dtype=bool)
    valid[:, :5] = False
    garbage = probs.copy()
    garbage[:, :, :5] = np.array([0.0, 1.0])[:, None, None]  # nodata pixels claiming class 1
    labels = smooth_probabilities(garbage, guide, 3, 0.25, valid).argmax(0)
    assert np.all(labels[:, 5:20] == 0)


@pytest.mark.parametrize("radius", [1, 4])
def test_a_pixel_depends_only_on_pixels_within_the_halo(radius):
    _, guide, probs = _two_fields(seed=2)
    full = smooth_probabilities(probs, guide, radius, 0.25)
    reach = halo(radius)
    r0, r1, c0, c1 = 10, 25, 8, 30
    crop = (slice(None), slice(r0 - reach, r1 + reach), slice(c0 - reach, c1 + reach))
    part = smooth_probabilities(probs[crop], guide[crop], radius, 0.25)
    np.testing.assert_allclose(part[:, reach:-reach, reach:-reach], full[:, r0:r1, c0:c1], atol=1e-5)


def _reference_guided_filter(guide, source, radius, eps):
    """The filter as He et al. write it, with a general matrix inverse per pixel (float64)."""
    from scipy.ndimage import uniform_filter1d

    def box(a):
        return uniform_filter1d(uniform_filter1d(a, 2 * radius + 1, axis=-2, mode="reflect"), 2 * radius + 1,
                                axis=-1, mode="reflect")

    guide, source = guide.astype(np.float64), source.astype(np.float64)
    c = guide.shape[0]
    mean_i, mean_p = box(guide), box(source)
    cov = np.stack([np.stack([box(guide[i] * guide[j]) - mean_i[i] * mean_i[j] + (eps if i == j else 0)
                              for j in range(c)], -1) for i in range(c)], -2)
    cross = np.stack([box(source * guide[i]) - mean_p * mean_i[i] for i in range(c)], -1)  # [K, h, w, C]
    a = np.einsum("hwij,khwj->khwi", np.linalg.inv(cov), cross)
    b = mean_p - np.einsum("khwi,ihw->khw", a, mean_i)
    return np.einsum("khwi,ihw->khw", box(np.moveaxis(a, -1, 0)).transpose(1, 2, 3, 0), guide) + box(b)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_the_filter_equals_the_textbook_one_for_any_guide(channels):
    rng = np.random.default_rng(channels)
    guide = rng.standard_normal((channels, 21, 18)).astype(np.float32)
    guide[0] += np.linspace(-2, 2, 18, dtype=np.float32)  # an edge-like trend, not only noise
    source = rng.dirichlet(np.ones(5), size=(21, 18)).transpose(2, 0, 1).astype(np.float32)
    out = guided_filter(guide, source, 2, 0.25)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _reference_guided_filter(guide, source, 2, 0.25), atol=2e-5)
