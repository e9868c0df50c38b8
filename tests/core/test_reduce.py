from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from contrastdm.preprocess import fit_preprocessor
from contrastdm.reduce import REDUCTIONS, Reduction, fit_mnf, fit_pca, noise_covariance

H, W, B, L = 64, 97, 40, 3
NOISY_BANDS = [3, 9, 17, 24, 29, 38]


class Scene:
    """Standardised pixels ``z``, their right-hand neighbours ``zn``, the true latents [N, L] and the
    standardised true noise [N, B] of the same pixels."""

    def __init__(self, z, zn, latents, noise):
        self.z, self.zn, self.latents, self.noise = z, zn, latents, noise


@lru_cache(maxsize=1)
def scene() -> Scene:
    """Three latent fields, smooth along rows (so shift differences see only noise), mixed into 40 bands
    with smooth spectra; the third latent is weak. Spatially white noise whose std varies five-fold
    between bands, and six bands drowned in noise 100x stronger than the others."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W] / 60.0
    latents = []
    for _ in range(L):
        field = np.zeros((H, W))
        for _ in range(4):
            fy, fx, phase = rng.uniform(0.3, 1.5), rng.uniform(0.0, 0.03), rng.uniform(0, 2 * np.pi)
            field += np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
        latents.append((field - field.mean()) / field.std())
    latents = np.stack(latents)
    bands = np.arange(B)
    spectra = np.stack([np.exp(-0.5 * ((bands - c) / w) ** 2) + 0.2 for c, w in ((8, 6), (22, 5), (33, 4))])
    signal = np.einsum("l,lhw,lb->bhw", np.array([1.0, 0.6, 0.05]), latents, spectra)
    sigma = 0.02 * np.exp(rng.uniform(0, np.log(5), B))
    sigma[NOISY_BANDS] = 5.0
    noise = sigma[:, None, None] * rng.standard_normal((B, H, W))
    x = signal + noise
    pixels, neighbours = x[:, :, :-1].reshape(B, -1).T, x[:, :, 1:].reshape(B, -1).T
    mean, scale = pixels.mean(axis=0), pixels.std(axis=0)
    return Scene((pixels - mean) / scale, (neighbours - mean) / scale,
                 latents[:, :, :-1].reshape(L, -1).T, noise[:, :, :-1].reshape(B, -1).T / scale)


def _r2(outputs: np.ndarray, target: np.ndarray) -> float:
    """Squared multiple correlation of ``target`` with the ``outputs`` (how well they recover it)."""
    design = np.c_[outputs, np.ones(len(outputs))]
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return 1.0 - float(residual @ residual) / float(((target - target.mean()) ** 2).sum())


def _reference_pca(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The PCA ``preprocess.fit_preprocessor`` computed before MNF existed (commit 2596149)."""
    cov = z.T @ z / max(1, len(z) - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1][:k]
    components = eigenvectors[:, order]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(components.shape[1])])
    components = components * np.where(signs == 0, 1.0, signs)
    return components, eigenvalues[order] / max(eigenvalues.sum(), 1e-12)


def test_reductions_listed():
    assert set(REDUCTIONS) == {"mnf", "pca"}


def test_noise_covariance_from_shift_differences():
    rng = np.random.default_rng(1)
    sigma = np.array([0.1, 1.0, 3.0])
    smooth = np.linspace(-1, 1, 20001)[:, None] * np.array([1.0, 2.0, -1.0])  # varies slowly pixel to pixel
    x = smooth + sigma * rng.standard_normal((20001, 3))
    estimate = noise_covariance(x[:-1], x[1:])
    np.testing.assert_allclose(np.diag(estimate), sigma ** 2, rtol=0.05)
    assert np.abs(estimate - np.diag(np.diag(estimate))).max() < 0.05
    with pytest.raises(ValueError):
        noise_covariance(x[:-1], x[1:, :2])


def test_mnf_whitens_the_noise():
    s = scene()
    mnf = fit_mnf(s.z, s.zn, 10)
    cov = np.cov((s.noise @ mnf.components).T)
    cov /= np.diag(cov).mean()
    np.testing.assert_allclose(np.diag(cov), 1.0, atol=0.15)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.05
    # on the estimate itself the whitening is exact: the common scale factor squared times identity
    estimated = mnf.components.T @ noise_covariance(s.z, s.zn) @ mnf.components
    np.testing.assert_allclose(estimated / estimated[0, 0], np.eye(10), atol=1e-8)


def test_mnf_orders_components_by_snr():
    s = scene()
    mnf = fit_mnf(s.z, s.zn, 10)
    assert mnf.method == "mnf"
    assert np.all(np.diff(mnf.explained) <= 0)
    assert mnf.explained[2] > 5.0  # the three signals, the weak one included...
    assert np.all(mnf.explained[3:] < 1.5)  # ...then noise only (eigenvalue ~1)
    out = s.z @ mnf.components
    noise = s.noise @ mnf.components
    snr = (out - noise).var(axis=0) / noise.var(axis=0)
    assert np.all(np.diff(snr[:3]) < 0) and snr[2] > 3 * snr[3:].max()


def test_mnf_recovers_weak_signal_that_pca_misses():
    s = scene()
    mnf_out = s.z @ fit_mnf(s.z, s.zn, L).components
    pca_out = s.z @ fit_pca(s.z, L).components
    mnf_r2 = [_r2(mnf_out, s.latents[:, i]) for i in range(L)]
    pca_r2 = [_r2(pca_out, s.latents[:, i]) for i in range(L)]
    assert min(mnf_r2) > 0.9
    assert pca_r2[2] < 0.5  # PCA's third component is a noisy band, not the weak signal
    assert np.mean(mnf_r2) > np.mean(pca_r2) + 0.2


def test_mnf_scaling_matches_pca_total_variance():
    s = scene()
    for k in (3, 8):
        mnf, pca = fit_mnf(s.z, s.zn, k), fit_pca(s.z, k)
        out = s.z @ mnf.components
        np.testing.assert_allclose(out.std(axis=0), mnf.output_std, rtol=1e-10)
        np.testing.assert_allclose((mnf.output_std ** 2).sum(), (pca.output_std ** 2).sum(), rtol=1e-10)
        assert np.all(np.diff(mnf.output_std) <= 1e-12)  # decreasing SNR, decreasing variance
    pca = fit_pca(s.z, 5)
    np.testing.assert_allclose((s.z @ pca.components).std(axis=0), pca.output_std, rtol=1e-10)


def test_pca_equals_the_original_and_fit_preprocessor():
    s = scene()
    components, explained = _reference_pca(s.z, 6)
    pca = fit_pca(s.z, 6)
    assert pca.method == "pca" and pca.components.shape == (B, 6)
    np.testing.assert_allclose(pca.components, components, atol=1e-10)
    np.testing.assert_allclose(pca.explained, explained, rtol=1e-10)
    raw = np.random.default_rng(2).normal(size=(500, 12)) @ np.random.default_rng(3).normal(size=(12, 12))
    pre = fit_preprocessor(raw, 4)
    z = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    np.testing.assert_allclose(pre.components, _reference_pca(z, 4)[0], atol=1e-10)
    np.testing.assert_allclose(pre.explained_variance, _reference_pca(z, 4)[1], rtol=1e-10)


@pytest.mark.parametrize("method", REDUCTIONS)
def test_signs_are_deterministic(method):
    s = scene()

    def fit(z, zn) -> Reduction:
        return fit_mnf(z, zn, 5) if method == "mnf" else fit_pca(z, 5)

    first = fit(s.z, s.zn)
    columns = np.arange(5)
    assert np.all(first.components[np.abs(first.components).argmax(axis=0), columns] > 0)
    np.testing.assert_array_equal(fit(s.z, s.zn).components, first.components)
    order = np.random.default_rng(4).permutation(len(s.z))
    np.testing.assert_allclose(fit(s.z[order], s.zn[order]).components, first.components, atol=1e-8)
    # negated spectra have the same covariances: eigensolvers may return either sign, the rule does not
    np.testing.assert_allclose(fit(-s.z, -s.zn).components, first.components, atol=1e-8)


@pytest.mark.parametrize("method", REDUCTIONS)
def test_constant_bands_get_no_weight(method):
    s = scene()
    keep = np.ones(B + 2, bool)
    keep[[0, 20]] = False  # standardised constant bands are all zeros
    z, zn = np.zeros((len(s.z), B + 2)), np.zeros((len(s.z), B + 2))
    z[:, keep], zn[:, keep] = s.z, s.zn
    fit = (lambda a, b: fit_mnf(a, b, 4)) if method == "mnf" else (lambda a, b: fit_pca(a, 4))
    with_constant, without = fit(z, zn), fit(s.z, s.zn)
    assert np.all(np.isfinite(with_constant.components))
    assert np.abs(with_constant.components[~keep]).max() < 1e-8
    np.testing.assert_allclose(with_constant.components[keep], without.components, atol=1e-6)
    np.testing.assert_allclose(with_constant.output_std, without.output_std, rtol=1e-6)


def test_fewer_pixels_than_bands():
    s = scene()
    z, zn = s.z[:15] - s.z[:15].mean(axis=0), s.zn[:15] - s.z[:15].mean(axis=0)
    for reduction in (fit_mnf(z, zn, 10), fit_pca(z, 10), fit_mnf(z, zn, 20)):
        k = reduction.components.shape[1]
        assert reduction.output_std.shape == reduction.explained.shape == (k,)
        assert np.all(np.isfinite(reduction.components)) and np.all(np.isfinite(reduction.explained))
        assert np.all(reduction.output_std >= 1e-6) and np.all(np.diff(reduction.explained) <= 1e-9)
    # 15 centred pixels span 14 directions: MNF components beyond them are zero, not noise blown up
    mnf = fit_mnf(z, zn, 20)
    assert np.abs(mnf.components[:, 14:]).max() == 0.0 and np.all(mnf.explained[14:] == 0.0)


def test_noise_free_band_stays_finite():
    s = scene()
    zn = s.zn.copy()
    zn[:, 5] = s.z[:, 5]  # no measured noise at all in band 5: a rank-deficient noise covariance
    mnf = fit_mnf(s.z, zn, 4)
    assert np.all(np.isfinite(mnf.components)) and np.all(np.isfinite(mnf.output_std))
    assert np.all(np.isfinite(mnf.explained)) and mnf.explained[0] < 1e12


def test_constant_input_and_bad_arguments():
    z = np.zeros((50, 6))
    for reduction in (fit_mnf(z, z, 3), fit_pca(z, 3)):
        assert np.all(np.isfinite(reduction.components)) and np.all(np.isfinite(reduction.explained))
        np.testing.assert_array_equal(reduction.output_std, 1e-6)
    rng = np.random.default_rng(5)
    z = rng.normal(size=(30, 6))
    for bad in (0, 7):
        with pytest.raises(ValueError):
            fit_pca(z, bad)
        with pytest.raises(ValueError):
            fit_mnf(z, z, bad)
    with pytest.raises(ValueError):
        fit_pca(z[:1], 2)
