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
    pairs = [(c, d) for c in range(channels) for d in range(c, channels)]
    moments = _box(np.stack([guide[c] * guide[d] for c, d in pairs]), radius)
    cov = {}  # guide covariance per pixel (+ eps on the diagonal), each pair once: it is symmetric
    for (c, d), moment in zip(pairs, moments):
        moment -= mean_i[c] * mean_i[d]
        if c == d:
            moment += np.float32(eps)
        cov[c, d] = cov[d, c] = moment
    cross = _box(source[None] * guide[:, None], radius)  # [C, K, h, w]
    cross -= mean_p[None] * mean_i[:, None]
    inverse = _inverse(cov, channels)
    a = np.empty_like(cross)
    for c in range(channels):
        np.multiply(inverse[c, 0][None], cross[0], out=a[c])
        for d in range(1, channels):
            a[c] += inverse[c, d][None] * cross[d]
    b = mean_p
    for c in range(channels):
        b -= a[c] * mean_i[c]
    out = _box(b, radius)
    for c, mean_a in enumerate(_box(a, radius)):
        mean_a *= guide[c]
        out += mean_a
    return out


def _inverse(cov: dict, channels: int) -> np.ndarray:
    """The inverse [C, C, h, w] of each pixel's symmetric covariance; closed-form (the adjugate) up to 3
    channels, where a batched LU solve of many tiny matrices costs far more than the arithmetic."""
    if channels > 3:
        matrix = np.stack([np.stack([cov[c, d] for d in range(channels)], -1) for c in range(channels)], -2)
        return np.moveaxis(np.linalg.inv(matrix), (-2, -1), (0, 1))
    if channels == 1:
        return (1.0 / cov[0, 0])[None, None]
    if channels == 2:
        det = cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[0, 1]
        return np.stack([np.stack([cov[1, 1], -cov[0, 1]]), np.stack([-cov[0, 1], cov[0, 0]])]) / det
    (a, b, c), (d, e), f = (cov[0, 0], cov[0, 1], cov[0, 2]), (cov[1, 1], cov[1, 2]), cov[2, 2]
    adjugate = [d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b]
    det = a * adjugate[0] + b * adjugate[1] + c * adjugate[2]
    adjugate = [x / det for x in adjugate]
    rows = [(0, 1, 2), (1, 3, 4), (2, 4, 5)]
    return np.stack([np.stack([adjugate[i] for i in row]) for row in rows])


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
