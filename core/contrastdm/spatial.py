"""Edge-preserving smoothing of class probabilities, guided by the image (He et al.'s guided filter).

A pixel-wise classifier leaves isolated wrong pixels inside fields; averaging probabilities over a
window removes them but also blurs field edges. The guided filter averages only where the guide
image (the leading principal components) is flat, so edges between fields stay where the image puts
them (Kang et al. 2014 applied it to hyperspectral probability maps). It is label-free: it uses the
image and the classifier's own output, never a label.

A pixel's result depends on pixels up to :func:`halo` away, which a tiled job reads around each tile.
"""

from __future__ import annotations

import numpy as np

GUIDE_CHANNELS = 3


def halo(radius: int) -> int:
    """Pixels of context a filtered pixel depends on (two box filters of ``radius``)."""
    return 2 * max(0, int(radius))


def _box(array: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1)^2`` window along the last two axes (edges: the window is cut, not padded)."""
    from scipy.ndimage import uniform_filter1d

    size = 2 * radius + 1
    ones = np.ones(array.shape[-2:], dtype=np.float64)
    count = uniform_filter1d(uniform_filter1d(ones, size, axis=-2, mode="constant"), size, axis=-1,
                             mode="constant")
    total = uniform_filter1d(uniform_filter1d(array, size, axis=-2, mode="constant"), size, axis=-1,
                             mode="constant")
    return total / count


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Filter every channel of ``source`` [K, h, w] with the multi-channel ``guide`` [C, h, w].

    Locally ``q = a . I + b``, with ``a`` the ridge regression of the source on the guide in each window
    (``eps`` is the ridge: the guide variance below which a window is treated as flat).
    """
    guide = np.asarray(guide, dtype=np.float64)
    source = np.asarray(source, dtype=np.float64)
    channels = guide.shape[0]
    mean_i = _box(guide, radius)  # [C, h, w]
    # Per-pixel covariance of the guide, [h, w, C, C], regularised.
    products = guide[:, None] * guide[None, :]
    cov = _box(products.reshape(channels * channels, *guide.shape[1:]), radius).reshape(products.shape)
    cov = np.moveaxis(cov - mean_i[:, None] * mean_i[None, :], (0, 1), (-2, -1)) + eps * np.eye(channels)
    inverse = np.linalg.inv(cov)
    mean_p = _box(source, radius)  # [K, h, w]
    cross = _box(guide[None] * source[:, None], radius) - mean_i[None] * mean_p[:, None]  # [K, C, h, w]
    a = np.einsum("hwcd,kdhw->kchw", inverse, cross)
    b = mean_p - np.einsum("kchw,chw->khw", a, mean_i)
    mean_a = _box(a.reshape(-1, *guide.shape[1:]), radius).reshape(a.shape)
    return np.einsum("kchw,chw->khw", mean_a, guide) + _box(b, radius)


def smooth_probabilities(probabilities: np.ndarray, guide: np.ndarray, radius: int, eps: float,
                         valid: np.ndarray | None = None) -> np.ndarray:
    """Edge-preserving smoothed probabilities [K, h, w] (float32, non-negative, summing to 1).

    Invalid pixels (``valid`` False) take no part: their probabilities and guide are zeroed first and
    each pixel's result is renormalised, so a nodata border does not pull its neighbours to any class.
    """
    if radius <= 0:
        return np.asarray(probabilities, dtype=np.float32)
    probs = np.asarray(probabilities, dtype=np.float64)
    guide = np.asarray(guide, dtype=np.float64)
    if valid is not None:
        probs = np.where(valid, probs, 0.0)
        guide = np.where(valid, guide, 0.0)
    smoothed = np.clip(guided_filter(guide, probs, radius, eps), 0.0, None)
    total = smoothed.sum(axis=0, keepdims=True)
    uniform = np.full_like(smoothed, 1.0 / max(1, smoothed.shape[0]))
    smoothed = np.where(total > 1e-12, smoothed / np.maximum(total, 1e-12), uniform)
    return smoothed.astype(np.float32)


def guide_from_features(features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The guide: the first :data:`GUIDE_CHANNELS` feature channels at unit variance (``scale``: their std)."""
    n = min(GUIDE_CHANNELS, features.shape[0])
    return features[:n] / np.asarray(scale[:n], dtype=np.float64).reshape(n, 1, 1)
