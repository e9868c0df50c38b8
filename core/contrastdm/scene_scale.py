"""The smoothing radius from the scene's spatial scale: how far apart pixels stay alike.

Smoothing the class probabilities over a window (:mod:`contrastdm.spatial`) removes isolated errors inside
objects larger than the window and erases objects smaller than it. Which of the two a scene has is something
its label-free patches show, over the whole scene rather than where someone drew: the correlation between
pixels ``h`` apart of the standardised bands, as the reduction keeps them (measured on the reduced patches
mapped back to the bands' distances, so PCA and MNF give the same answer). The radius is the
largest ``h`` up to which that correlation stays at least :data:`CORRELATION` (pixels that far apart still
share half their variation), at most the configured radius; where every lag the patches hold passes, the
configured radius stays.

On the benchmark's scenes (30 components) the correlation at 5 px is about 0.60 on Indian Pines and 0.63-0.64 on
the fields scene (radius 5 kept), and on the urban scene of 1-4 px objects it is 0.52-0.58 at 1 px and 0.29 at
2 px (radius 1), with PCA and with MNF.
A choice on held-out polygons (:mod:`contrastdm.heldout`) measures the same trade-off where the polygons
are, which over-weights small objects: on the fields scene it chose radii 1-3 and lost up to 2.9 OA.
"""

from __future__ import annotations

import numpy as np

CORRELATION = 0.5
MAX_PATCHES = 4096  # label-free patches measured; the scene's sample is random, so the first ones will do


def band_space(patches: np.ndarray, components: np.ndarray | None) -> np.ndarray:
    """``patches`` [N, K, p, p] of reduced channels mapped so that squared distances between pixels are those
    of the standardised bands the reduction keeps (``z ~ out @ pinv(components)``), whatever the reduction:
    PCA's orthonormal components leave them as they are, MNF's noise-whitened ones do not."""
    x = np.asarray(patches[:MAX_PATCHES], dtype=np.float64)
    if components is None:
        return x
    back = np.linalg.pinv(np.asarray(components, dtype=np.float64))  # [K, B]
    gram = back @ back.T  # the bands' squared distance as a quadratic form in the channels
    factor = np.linalg.cholesky(gram + 1e-12 * np.trace(gram) * np.eye(len(gram)))
    return np.einsum("kj,nkhw->njhw", factor, x)


def correlation_by_lag(patches: np.ndarray, max_lag: int, components: np.ndarray | None = None) -> list[float]:
    """The correlation of ``patches`` [N, K, p, p] between pixels 1..``max_lag`` apart along rows and columns
    (at most ``p - 1``): ``1 - semivariance / variance``, both summed over the standardised bands the channels
    stand for (``components`` [B, K]: the reduction, None: the channels are the bands)."""
    x = band_space(patches, components)
    x = x - x.mean(axis=(0, 2, 3), keepdims=True)
    variance = max(float((x ** 2).mean(axis=(0, 2, 3)).sum()), 1e-12)
    out = []
    for lag in range(1, min(max_lag, x.shape[-1] - 1) + 1):
        rows = ((x[:, :, lag:, :] - x[:, :, :-lag, :]) ** 2).mean(axis=(0, 2, 3)).sum()
        cols = ((x[:, :, :, lag:] - x[:, :, :, :-lag]) ** 2).mean(axis=(0, 2, 3)).sum()
        out.append(float(1.0 - 0.25 * (rows + cols) / variance))
    return out


def radius_for_scene(patches: np.ndarray, configured: int, components: np.ndarray | None = None) -> dict:
    """``{"radius", "configured", "correlation"}``: the smoothing radius the scene's label-free ``patches``
    (reduced by ``components`` [B, K], or None) allow (see the module's docstring), never above ``configured``."""
    correlation = correlation_by_lag(patches, configured, components) if configured > 0 and len(patches) else []
    radius = 0
    for lag, value in enumerate(correlation, start=1):
        if value < CORRELATION:
            break
        radius = lag
    else:
        radius = configured  # alike as far as the patches reach
    return {"radius": int(radius), "configured": int(configured), "correlation": [round(v, 3) for v in correlation]}


def describe(choice: dict) -> str:
    """One line for the log and the report."""
    values = ", ".join(f"{lag} px {value:.2f}" for lag, value in enumerate(choice["correlation"], start=1))
    kept = "kept" if choice["radius"] == choice["configured"] else f"of at most {choice['configured']}"
    return (f"smoothing radius {choice['radius']} ({kept}) from the scene's spatial scale: correlation of "
            f"neighbouring pixels {values or 'not measured'} (at least {CORRELATION} wanted)")
