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
    """Mean over a ``(2r+1)^2`` window along the last two axes (edges reflected)."""
    from scipy.ndimage import uniform_filter1d

    size = 2 * radius + 1
    rows = uniform_filter1d(array, size, axis=-2, mode="reflect")
    return uniform_filter1d(rows, size, axis=-1, mode="reflect")


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Filter every channel of ``source`` [K, h, w] with the multi-channel ``guide`` [C, h, w] (float32).

    Locally ``q = a . I + b``, with ``a`` the ridge regression of the source on the guide in each window
    (``eps`` is the ridge: the guide variance below which a window is treated as flat).
    """
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    source = np.ascontiguousarray(source, dtype=np.float32)
    channels = guide.shape[0]
    mean_i = _box(guide, radius)  # [C, h, w]
    mean_p = _box(source, radius)  # [K, h, w]
    # Per-pixel guide covariance [h, w, C, C] + eps, inverted; cross-covariance of guide and source per channel.
    cov = np.empty(guide.shape[1:] + (channels, channels), dtype=np.float32)
    for c in range(channels):
        for d in range(c, channels):
            value = _box(guide[c] * guide[d], radius) - mean_i[c] * mean_i[d] + (eps if c == d else 0.0)
            cov[..., c, d] = cov[..., d, c] = value
    inverse = np.linalg.inv(cov)
    cross = [_box(source * guide[c], radius) - mean_p * mean_i[c] for c in range(channels)]  # C x [K, h, w]
    a = [sum(inverse[..., c, d] * cross[d] for d in range(channels)) for c in range(channels)]
    b = mean_p - sum(a[c] * mean_i[c] for c in range(channels))
    return sum(_box(a[c], radius) * guide[c] for c in range(channels)) + _box(b, radius)


def smooth_probabilities(probabilities: np.ndarray, guide: np.ndarray, radius: int, eps: float,
                         valid: np.ndarray | None = None) -> np.ndarray:
    """Edge-preserving smoothed probabilities [K, h, w] (float32, non-negative, summing to 1).

    Invalid pixels (``valid`` False) take no part: their probabilities and guide are zeroed first and
    each pixel's result is renormalised, so a nodata border does not pull its neighbours to any class.
    """
    if radius <= 0:
        return np.asarray(probabilities, dtype=np.float32)
    probs = np.asarray(probabilities, dtype=np.float32)
    guide = np.asarray(guide, dtype=np.float32)
    if valid is not None:
        probs = np.where(valid, probs, 0.0)
        guide = np.where(valid, guide, 0.0)
    smoothed = np.clip(guided_filter(guide, probs, radius, eps), 0.0, None)
    total = smoothed.sum(axis=0, keepdims=True)
    uniform = np.float32(1.0 / max(1, smoothed.shape[0]))
    smoothed = np.where(total > 1e-6, smoothed / np.maximum(total, 1e-6), uniform)
    return smoothed.astype(np.float32, copy=False)


def guide_from_features(features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The guide: the first :data:`GUIDE_CHANNELS` feature channels at unit variance (``scale``: their std)."""
    n = min(GUIDE_CHANNELS, features.shape[0])
    return (features[:n] / np.asarray(scale[:n], dtype=np.float32).reshape(n, 1, 1)).astype(np.float32)
