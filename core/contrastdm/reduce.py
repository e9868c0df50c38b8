"""Label-free spectral reduction of standardised bands: PCA or MNF (pure numpy).

Both take ``z`` [N, B], pixel spectra already standardised per band (``z = (x - mean) / scale``, so every
column has mean 0) and NaN-free: the caller removes rows with an invalid value in any band. Both return a
:class:`Reduction` whose ``components`` [B, K] map standardised spectra to output channels (``z @ components``).

MNF, the minimum noise fraction transform (Green, Berman, Switzer & Craig 1988, IEEE TGRS 26(1), 65-74), as
ENVI and the EnMAP-Box compute it: the noise covariance is estimated from shift differences (each pixel minus
its horizontal neighbour, :func:`noise_covariance`), the data are rotated and scaled so that noise has unit
variance in every direction (noise whitening), and a PCA of the whitened data orders the components by
decreasing signal-to-noise ratio. Unlike PCA it ranks a band that is mostly noise last however large its
variance, so a few very noisy bands do not take the place of weak but clean signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .choices import REDUCTIONS  # noqa: F401 - re-exported: callers check a method name against it

# Directions of the standardised bands whose variance is below this fraction of the largest carry nothing
# but rounding (constant bands, exact duplicates, fewer pixels than bands): MNF works in the complement.
RANK_TOL = 1e-10
# Noise eigenvalues are floored at this fraction of the largest (a cap of 1e6 on the noise covariance's
# condition number), so a direction with (almost) no measured noise gets a large but finite SNR instead of
# a division by zero. Real sensors' band noise spans far less than six decades, so the floor only acts on
# rank-deficient estimates.
NOISE_FLOOR = 1e-6
# Output standard deviations are floored here: callers divide by them (the smoothing guide).
MIN_STD = 1e-6


@dataclass
class Reduction:
    """A fitted reduction of standardised bands.

    ``components`` [B, K]: applied to standardised bands, ``out = z @ components``;
    ``output_std`` [K]: standard deviation of each output channel over the fitted pixels (at least
    :data:`MIN_STD`);
    ``explained`` [K]: PCA, each component's fraction of the total variance; MNF, the MNF eigenvalues,
    total variance over noise variance of each component (1 = noise only, SNR = eigenvalue - 1), decreasing;
    ``method``: ``"pca"`` or ``"mnf"``.
    """

    components: np.ndarray
    output_std: np.ndarray
    explained: np.ndarray
    method: str


def _check(z: np.ndarray, n_components: int) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"need standardised spectra [N >= 2, B], got shape {z.shape}")
    if not 1 <= int(n_components) <= z.shape[1]:
        raise ValueError(f"n_components must be in 1..{z.shape[1]}, got {n_components}")
    return z


def _covariance(z: np.ndarray) -> np.ndarray:
    """``z.T @ z / (N - 1)``: ``z`` is centred already (standardised), as in the original PCA."""
    return z.T @ z / max(1, len(z) - 1)


def _descending_eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    order = np.argsort(eigenvalues)[::-1]
    return eigenvalues[order], eigenvectors[:, order]


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Each column's largest loading positive: eigenvectors' signs are arbitrary and differ between
    platforms' eigensolvers, and a fixed sign keeps models reproducible."""
    if components.size == 0:
        return components
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(components.shape[1])])
    return components * np.where(signs == 0, 1.0, signs)


def _output_std(z: np.ndarray, components: np.ndarray) -> np.ndarray:
    return np.maximum((z @ components).std(axis=0), MIN_STD)


def fit_pca(z: np.ndarray, n_components: int) -> Reduction:
    """Principal components of standardised spectra ``z`` [N, B] (centred, NaN-free): the ``n_components``
    leading eigenvectors of their covariance, signs fixed. The same maths as the original
    ``preprocess.fit_preprocessor``."""
    z = _check(z, n_components)
    eigenvalues, eigenvectors = _descending_eigh(_covariance(z))
    components = _fix_signs(eigenvectors[:, :n_components])
    explained = eigenvalues[:n_components] / max(eigenvalues.sum(), 1e-12)
    return Reduction(components, _output_std(z, components), explained, "pca")


def noise_covariance(z: np.ndarray, z_neighbours: np.ndarray) -> np.ndarray:
    """Shift-difference noise covariance ``cov(z - z_n) / 2`` [B, B].

    ``z_neighbours`` [N, B]: the same bands at each pixel's horizontal neighbour. Where the signal varies
    slowly from one pixel to the next and the noise is spatially white, the difference is the noise of two
    pixels: its covariance is twice the noise covariance. Real texture between neighbours adds to the
    estimate (it can only over-estimate the noise).
    """
    z = np.asarray(z, dtype=np.float64)
    z_neighbours = np.asarray(z_neighbours, dtype=np.float64)
    if z.shape != z_neighbours.shape or z.ndim != 2:
        raise ValueError(f"pixels {z.shape} and neighbours {z_neighbours.shape} must be the same [N, B]")
    d = z - z_neighbours
    d -= d.mean(axis=0)  # a steady gradient across the scene is signal, not noise
    return d.T @ d / (2.0 * max(1, len(d) - 1))


def _noise_whitening(noise: np.ndarray) -> np.ndarray:
    """``W`` with ``W.T @ noise @ W = I`` (up to the :data:`NOISE_FLOOR` on the eigenvalues)."""
    eigenvalues, eigenvectors = _descending_eigh(noise)
    floor = max(float(eigenvalues[0]) * NOISE_FLOOR, 1e-300) if eigenvalues.size else 1.0
    return eigenvectors / np.sqrt(np.maximum(eigenvalues, floor))


def fit_mnf(z: np.ndarray, z_neighbours: np.ndarray, n_components: int) -> Reduction:
    """Minimum noise fraction transform of standardised spectra ``z`` [N, B] (centred, NaN-free), the noise
    estimated from ``z_neighbours`` [N, B] (each pixel's horizontal neighbour, standardised the same way).

    Steps: keep the directions in which the data vary at all (:data:`RANK_TOL`: constant bands, duplicate
    bands and N < B leave the rest empty); whiten the shift-difference noise there; take the principal
    components of the whitened data (decreasing SNR); fix the signs as PCA does.

    Scaling: raw MNF outputs have unit noise variance and a variance equal to their eigenvalue, often
    10^3..10^5, unfriendly to a network. All K outputs are multiplied by one common factor so that their
    total variance equals that of the K leading principal components of ``z`` (what PCA would feed the
    network): magnitudes stay in the familiar PCA range, the noise stays white (the same variance in every
    output) and the SNR ordering shows in the variances. ``output_std`` is measured on ``z``.
    """
    z = _check(z, n_components)
    noise = noise_covariance(z, z_neighbours)
    covariance = _covariance(z)
    pca_values, pca_vectors = _descending_eigh(covariance)
    rank = int(np.sum(pca_values > RANK_TOL * max(float(pca_values[0]), 1e-300)))
    basis = pca_vectors[:, :rank]  # [B, r]
    whitening = basis @ _noise_whitening(basis.T @ noise @ basis)  # [B, r]
    snr, rotation = _descending_eigh(whitening.T @ covariance @ whitening)
    k = min(n_components, rank)
    components = np.zeros((z.shape[1], n_components))
    components[:, :k] = _fix_signs(whitening @ rotation[:, :k])
    explained = np.zeros(n_components)
    explained[:k] = np.maximum(snr[:k], 0.0)
    raw_total = float(explained.sum())
    target = float(np.maximum(pca_values[:n_components], 0.0).sum())
    if raw_total > 0 and target > 0:
        components *= np.sqrt(target / raw_total)
    return Reduction(components, _output_std(z, components), explained, "mnf")
