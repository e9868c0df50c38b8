"""The smoothing radius from the scene's spatial scale: how far apart pixels stay alike.

Smoothing the class probabilities (:mod:`contrastdm.spatial`) removes isolated errors inside objects larger than
its window and erases objects smaller than it. Which of the two a scene has is something its label-free patches
show, over the whole scene rather than where someone drew. The guided filter of radius ``r`` averages a pixel
with those up to ``2 r`` away, with the weights of two box filters in a row (a pyramid); the share of that
weight on pixels alike to the one smoothed is the pyramid-weighted correlation ``1 - sum(w(d) g(d)) / (sum(w) s)``,
with ``g(d)`` the semivariance of pixels ``d`` apart and ``s`` the variance, both summed over the standardised
bands as the reduction keeps them (the reduced patches are mapped back to the bands' distances, so PCA and MNF
give the same answer). The radius is the largest ``r``, at most the configured radius, whose share is at least
:data:`CORRELATION`; where every radius the patches can measure (``2 r`` at most the patch size less one)
passes, the configured radius stays.

Measured by training's own read of the benchmark's scenes (30 components, PCA or MNF), the share at radius 5
is 0.58 on Indian Pines and 0.60 on the fields scene (radius 5 kept), and on the urban scene of 1-4 px objects
it is 0.42-0.44 at radius 1 (radius 0); about 1 s.
"""

from __future__ import annotations

import numpy as np

CORRELATION = 0.5
MAX_PATCHES = 1024  # label-free patches measured, spread over the sample (which is sorted by position)
SMALL_OBJECT_WEIGHT = 0.75  # the spectral member's weight at least, where the objects are smaller than the window


def band_space(patches: np.ndarray, components: np.ndarray | None) -> np.ndarray:
    """``patches`` [N, K, p, p] of reduced channels, centred, mapped so that squared distances between pixels are
    those of the standardised bands the reduction keeps (``z ~ out @ pinv(components)``), whatever the reduction:
    PCA's orthonormal components leave them as they are, MNF's noise-whitened ones do not."""
    spread = np.unique(np.linspace(0, len(patches) - 1, min(len(patches), MAX_PATCHES)).round().astype(int))
    x = np.asarray(patches[spread], dtype=np.float64)
    x = x - x.mean(axis=(0, 2, 3), keepdims=True)
    if components is None:
        return x
    back = np.linalg.pinv(np.asarray(components, dtype=np.float64))  # [K, B]
    gram = back @ back.T  # the bands' squared distance as a quadratic form in the channels
    factor = np.linalg.cholesky(gram + 1e-12 * np.trace(gram) * np.eye(len(gram)))
    return np.einsum("kj,nkhw->njhw", factor, x)


def _semivariances(x: np.ndarray, reach: int) -> dict:
    """``{(dy, dx): semivariance}`` of pixels that far apart, summed over the channels, for ``0 <= dy <= reach``
    and ``|dx| <= reach`` (the other half-plane mirrors it)."""
    p = x.shape[-1]
    out = {}
    for dy in range(reach + 1):
        for dx in range(-reach, reach + 1):
            if dy == 0 and dx <= 0:
                continue
            a = x[:, :, dy:, max(dx, 0):p + min(dx, 0)]
            b = x[:, :, :p - dy, max(-dx, 0):p - max(dx, 0)]
            out[dy, dx] = 0.5 * float(((a - b) ** 2).mean(axis=(0, 2, 3)).sum())
    return out


def smoothing_correlation(patches: np.ndarray, max_radius: int, components: np.ndarray | None = None) -> list[float]:
    """The pyramid-weighted correlation (see the module's docstring) for radius 1..``max_radius`` (at most what
    ``patches`` [N, K, p, p] reach: ``2 r <= p - 1``)."""
    radii = min(int(max_radius), (np.shape(patches)[-1] - 1) // 2)
    if radii < 1 or not len(patches):
        return []
    x = band_space(patches, components)
    variance = max(float((x ** 2).mean(axis=(0, 2, 3)).sum()), 1e-12)
    semivariance = _semivariances(x, 2 * radii)
    out = []
    for r in range(1, radii + 1):
        side = 2 * r + 1
        weighted, total = 0.0, float(side * side)  # the centre: weight side^2, semivariance 0
        for (dy, dx), g in semivariance.items():
            if dy <= 2 * r and abs(dx) <= 2 * r:
                w = 2.0 * (side - abs(dx)) * (side - dy)  # and its mirror offset
                weighted, total = weighted + w * g, total + w
        out.append(1.0 - weighted / total / variance)
    return out


def radius_for_scene(patches: np.ndarray, configured: int, components: np.ndarray | None = None) -> dict:
    """``{"radius", "configured", "correlation"}``: the smoothing radius the scene's label-free ``patches``
    (reduced by ``components`` [B, K], or None) allow, never above ``configured``; ``correlation``: the share
    of each radius up to it (see the module's docstring)."""
    correlation = smoothing_correlation(patches, configured, components) if configured > 0 else []
    radius = 0
    for r, value in enumerate(correlation, start=1):
        if value < CORRELATION:
            break
        radius = r
    else:
        radius = configured  # alike as far as the patches reach
    return {"radius": int(radius), "configured": int(configured), "correlation": [round(v, 3) for v in correlation]}


def objects_are_small(choice: dict) -> bool:
    """Whether the radius had to come down (``choice`` from :func:`radius_for_scene`): the scene's objects are
    smaller than the smoothing window, and so smaller than the network's patch too."""
    return choice["radius"] < choice["configured"]


def member_weight(choice: dict, configured: float) -> float:
    """The spectral member's weight on a scene of this scale: at least :data:`SMALL_OBJECT_WEIGHT` where its
    objects are small (the patch's context then misleads the network), ``configured`` elsewhere."""
    return max(float(configured), SMALL_OBJECT_WEIGHT) if objects_are_small(choice) else float(configured)


def patch_shift(choice: dict, configured: int) -> int:
    """The training patches' shift augmentation (in pixels) on a scene of this scale: none where its objects are
    small, since a one-pixel shift then centres a patch on another object under the first one's label."""
    return 0 if objects_are_small(choice) else int(configured)


def describe(choice: dict) -> str:
    """One line for the log and the report."""
    values = ", ".join(f"radius {r}: {value:.2f}" for r, value in enumerate(choice["correlation"], start=1))
    kept = "kept" if choice["radius"] == choice["configured"] else f"of at most {choice['configured']}"
    radius = (f"smoothing radius {choice['radius']} ({kept})" if choice.get("applied", True)
              else f"smoothing radius {choice['configured']} as configured (the scale gives {choice['radius']})")
    weight = f"; spectral member weight {choice['member_weight']:g}" if "member_weight" in choice else ""
    shift = f"; patch shift {choice['patch_shift']} px" if "patch_shift" in choice else ""
    return (f"{radius} from the scene's spatial scale: share of the smoothing on alike pixels "
            f"{values or 'not measured'} (at least {CORRELATION} wanted){weight}{shift}")
