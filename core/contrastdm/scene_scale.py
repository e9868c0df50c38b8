"""The smoothing radius from the scene's spatial scale: how far apart pixels stay alike.

Smoothing the class probabilities over a window (:mod:`contrastdm.spatial`) removes isolated errors inside
objects larger than the window and erases objects smaller than it. Which of the two a scene has is something
its label-free patches show, over the whole scene rather than where someone drew: the correlation between
pixels ``h`` apart of the channels the network sees (the reduction's components, each weighted by its variance,
so the leading ones count most and noise components little). The radius is the
largest ``h`` up to which that correlation stays at least :data:`CORRELATION` (pixels that far apart still
share half their variation), at most the configured radius; where every lag the patches hold passes, the
configured radius stays.

On the benchmark's scenes (30 principal components) the correlation at 5 px is about 0.60 on Indian Pines and
0.63 on the fields scene (radius 5 kept), and on the urban scene of 1-4 px objects it is 0.52 at 1 px and 0.29 at
2 px (radius 1).
A choice on held-out polygons (:mod:`contrastdm.heldout`) measures the same trade-off where the polygons
are, which over-weights small objects: on the fields scene it chose radii 1-3 and lost up to 2.9 OA.
"""

from __future__ import annotations

import numpy as np

CORRELATION = 0.5
MAX_PATCHES = 4096  # label-free patches measured; the scene's sample is random, so the first ones will do


def correlation_by_lag(patches: np.ndarray, max_lag: int) -> list[float]:
    """The correlation of ``patches`` [N, K, p, p] between pixels 1..``max_lag`` apart along rows and columns
    (at most ``p - 1``): ``1 - semivariance / variance``, both summed over the channels."""
    x = np.asarray(patches[:MAX_PATCHES], dtype=np.float64)
    x = x - x.mean(axis=(0, 2, 3), keepdims=True)
    variance = max(float((x ** 2).mean(axis=(0, 2, 3)).sum()), 1e-12)
    out = []
    for lag in range(1, min(max_lag, x.shape[-1] - 1) + 1):
        rows = ((x[:, :, lag:, :] - x[:, :, :-lag, :]) ** 2).mean(axis=(0, 2, 3)).sum()
        cols = ((x[:, :, :, lag:] - x[:, :, :, :-lag]) ** 2).mean(axis=(0, 2, 3)).sum()
        out.append(float(1.0 - 0.25 * (rows + cols) / variance))
    return out


def radius_for_scene(patches: np.ndarray, configured: int) -> dict:
    """``{"radius", "configured", "correlation"}``: the smoothing radius the scene's label-free ``patches``
    allow (see the module's docstring), never above ``configured``."""
    correlation = correlation_by_lag(patches, configured) if configured > 0 and len(patches) else []
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
