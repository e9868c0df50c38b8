"""Where to label next: points where the model is least sure between its two most probable classes.

The class probabilities come from :func:`contrastdm.classify` itself (written to a temporary GeoTIFF), so the
margins are those of the very map the user sees: network, spectral member and smoothing included. The
probability raster is then read tile by tile; memory is bounded by the tile and by ``count``, not the scene.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import Model, load_model
from .errors import InputError, OutputError
from .feedback import NullFeedback, check_cancelled
from .io.atomic import atomic_outputs, check_outputs

DEFAULT_MIN_DISTANCE = 10
# Sites lie where the map shows one class for this many pixels around: inside an area an analyst can draw a polygon
# on, where the model hesitates about what the area is, rather than on a boundary between two areas (a mixed pixel
# nobody can label).
DEFAULT_AREA_RADIUS = 1
DEFAULT_CANDIDATES = 200_000
LAYER = "sites"
FIELDS = ("rank", "predicted_id", "predicted", "runner_up_id", "runner_up", "margin", "probability",
          "runner_up_probability", "row", "col")
# Candidate columns, one row per classified pixel.
_MARGIN, _ROW, _COL, _BEST, _SECOND, _P1, _P2 = range(7)


@dataclass
class SuggestResult:
    path: str
    sites: int
    min_distance: float
    sites_per_class: dict
    seconds: float
    device: str
    classes: list  # the model's classes: {"id", "name", "color"}


def default_min_distance(patch_size: int) -> int:
    """At least 10 pixels, and at least one patch: two sites' training windows never overlap."""
    return max(DEFAULT_MIN_DISTANCE, int(patch_size))


def suggest_sites(raster, model, output, *, count: int = 20, min_distance: float | None = None, feedback=None,
                  device: str = "auto", tile_size: int = 256, smoothing_radius: int | None = None,
                  candidates: int = DEFAULT_CANDIDATES, area_radius: int = DEFAULT_AREA_RADIUS,
                  precision: str = "float32") -> SuggestResult:
    """Write a GeoPackage (layer ``sites``) of ``count`` points where ``model`` is least sure on ``raster``.

    Uncertainty is the margin between the two most probable classes (0 = a tie, 1 = certain), read from the
    probabilities :func:`contrastdm.classify` writes for the map (``smoothing_radius`` and ``precision`` as there).
    Unclassified (nodata) pixels are skipped, and so are pixels whose (2 ``area_radius`` + 1)-pixel square window
    on the map holds another class or an unclassified pixel (0: every classified pixel is a candidate): a site lies
    inside an area that an analyst can draw a polygon on, not on a mixed boundary.

    The rule: no two sites are closer than ``min_distance`` pixels (Euclidean, between pixel centres; default:
    the larger of 10 and the model's patch size, so that two sites' training windows do not overlap). Sites
    are chosen in rounds: each round, every predicted class (in the order of its least sure pixel) gets its
    least sure pixel that keeps that distance to every site chosen so far, ties broken by row, then column.
    A round's sites are ranked by margin; rank 1 is the least sure site. When the scene has no more such
    pixels, fewer than ``count`` sites are written, with a warning.

    Each point, at its pixel centre in the raster's CRS, carries ``rank``, ``predicted_id``, ``predicted``,
    ``runner_up_id``, ``runner_up``, ``margin``, ``probability``, ``runner_up_probability``, ``row`` and ``col``.
    The file appears only when everything succeeded. At most ``candidates`` pixels are held in memory; a class
    that needs more is read again from the probabilities, so the sites do not depend on it.
    """
    feedback = feedback or NullFeedback()
    started = time.monotonic()
    model_path = None if isinstance(model, Model) else model
    _check_arguments(output, count, min_distance, tile_size, candidates, [raster, model_path])
    if isinstance(area_radius, bool) or not isinstance(area_radius, (int, np.integer)) or area_radius < 0:
        raise InputError(f"the area radius must be 0 or more pixels, not {area_radius!r}")
    if model_path is not None:
        model = load_model(model_path, device="cpu")
    distance = default_min_distance(model.patch_size) if min_distance is None else float(min_distance)
    # next to the output, not in /tmp: the probabilities grow with the scene, and /tmp may be held in memory
    scratch = Path(os.path.abspath(os.fspath(output))).parent
    with tempfile.TemporaryDirectory(prefix=".contrastdm-suggest-", dir=scratch) as folder:
        from .classify import classify

        class_map, probabilities = os.path.join(folder, "map.tif"), os.path.join(folder, "probabilities.tif")
        result = classify(raster, model, class_map, probabilities=probabilities, tile_size=tile_size,
                          device=device, smoothing_radius=smoothing_radius, precision=precision, feedback=feedback)
        with _Candidates(class_map, probabilities, tile_size, candidates, count, feedback,
                         int(area_radius)) as source:
            chosen = _select(source, count, distance)
            crs, transform = source.crs, source.transform
    check_cancelled(feedback)
    if not len(chosen):
        where = f" inside an area of one class (area radius {area_radius}; 0 allows any)" if area_radius else ""
        raise InputError(f"no classified pixel{where} in the raster: there is nowhere to suggest a site")
    _write(output, chosen, model, crs, transform, [raster, model_path])
    per_class = _per_class(chosen, model)
    _report(feedback, len(chosen), count, distance, per_class)
    return SuggestResult(str(output), len(chosen), distance, per_class, time.monotonic() - started, result.device,
                         [c.to_dict() for c in model.classes])


def _check_arguments(output, count, min_distance, tile_size, candidates, inputs) -> None:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError(f"the number of sites must be 1 or more, not {count}")
    if min_distance is not None and not _non_negative(min_distance):
        raise InputError(f"the minimum distance between sites must be 0 or more pixels, not {min_distance:g}"
                         if isinstance(min_distance, (int, float)) else
                         f"the minimum distance between sites must be a number of pixels, not {min_distance!r}")
    if int(tile_size) < 1:
        raise InputError(f"tile size must be a positive number of pixels, not {tile_size}")
    if int(candidates) < 1:
        raise InputError(f"the candidate budget must be 1 or more pixels, not {candidates}")
    if Path(os.fspath(output)).suffix.lower() != ".gpkg":
        raise OutputError(f"the sites are written as a GeoPackage: give the output a .gpkg name ({output})")
    check_outputs([output], inputs=inputs)


def _non_negative(value) -> bool:
    try:
        return math.isfinite(float(value)) and float(value) >= 0
    except (TypeError, ValueError):
        return False


# -- reading the probabilities ------------------------------------------------------------------------------

class _Candidates:
    """Each predicted class's pixels, least sure first, read tile by tile in batches of at most ``limit``."""

    def __init__(self, class_map, probabilities, tile_size, budget, count, feedback, area_radius: int = 0) -> None:
        import rasterio

        self.area_radius = area_radius
        self.labels, self.probs = rasterio.open(class_map), rasterio.open(probabilities)
        self.crs, self.transform = self.probs.crs, self.probs.transform
        self.feedback = feedback
        self.limit = max(int(count), int(budget) // self.probs.count)
        self.windows = _windows(self.probs.width, self.probs.height, int(tile_size))
        self.queues, self.last, self.complete = {}, {}, {}
        try:
            for k, batch in self._read(range(self.probs.count), progress=True).items():
                self._refill(k, batch)
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self) -> _Candidates:
        return self

    def __exit__(self, *exc) -> None:
        self.labels.close()
        self.probs.close()

    def classes(self) -> list[int]:
        """Classes with pixels, in the order of their least sure pixel."""
        return sorted(self.queues, key=lambda k: _key(self.queues[k][0]))

    def pop(self, k: int):
        """The next least sure pixel of class ``k`` (None when there is none left)."""
        if not self.queues[k] and not self.complete[k]:
            self._refill(k, self._read([k]).get(k, np.empty((0, 7))))
        if not self.queues[k]:
            return None
        site = self.queues[k].popleft()
        self.last[k] = _key(site)
        return site

    def _refill(self, k: int, batch: np.ndarray) -> None:
        self.queues[k] = deque(batch)
        self.complete[k] = len(batch) < self.limit

    def _read(self, wanted, progress: bool = False) -> dict:
        """Per wanted class, its ``limit`` least sure pixels after the last one handed out."""
        pools: dict[int, list] = {k: [] for k in wanted}
        for done, window in enumerate(self.windows):
            check_cancelled(self.feedback)
            found = _tile_candidates(self.probs.read(window=window), self._labels(window), window)
            for k in pools:
                mine = found[found[:, _BEST] == k]
                pools[k].append(_after(mine, self.last[k]) if k in self.last else mine)
                if sum(len(part) for part in pools[k]) > 2 * self.limit:
                    pools[k] = [_least_sure(np.concatenate(pools[k]), self.limit)]
            if progress:
                total = len(self.windows)
                self.feedback.progress("suggest", 0.9 * (done + 1) / total, f"tile {done + 1} of {total}")
        batches = {k: _least_sure(np.concatenate(parts), self.limit) for k, parts in pools.items() if parts}
        return {k: batch for k, batch in batches.items() if len(batch)}


    def _labels(self, window) -> np.ndarray:
        """The map's labels in ``window``, 0 where the area rule excludes a pixel (see :func:`one_class_around`)."""
        from rasterio.windows import Window

        r = self.area_radius
        if r == 0:
            return self.labels.read(1, window=window)
        wide = Window(window.col_off - r, window.row_off - r, window.width + 2 * r, window.height + 2 * r)
        return one_class_around(self.labels.read(1, window=wide, boundless=True, fill_value=0), r)


def one_class_around(padded: np.ndarray, radius: int) -> np.ndarray:
    """The labels of the inner part of ``padded`` (a ``radius``-pixel border on each side), 0 where the square
    window of that radius holds another label or 0 (unclassified, or beyond the raster)."""
    h, w = padded.shape[0] - 2 * radius, padded.shape[1] - 2 * radius
    centre = padded[radius:radius + h, radius:radius + w]
    keep = centre != 0
    for dr in range(2 * radius + 1):
        for dc in range(2 * radius + 1):
            keep &= padded[dr:dr + h, dc:dc + w] == centre
    return np.where(keep, centre, 0)


def _windows(width: int, height: int, step: int) -> list:
    from rasterio.windows import Window

    return [Window(col, row, min(step, width - col), min(step, height - row))
            for row in range(0, height, step) for col in range(0, width, step)]


def _tile_candidates(probs: np.ndarray, labels: np.ndarray, window) -> np.ndarray:
    """One row per classified pixel of a tile: margin, row, column, best and runner-up class, their probabilities."""
    rows, cols = np.nonzero(labels != 0)
    p = probs[:, rows, cols].astype(np.float64)  # [K, n]
    pixels = np.arange(rows.size)
    best = p.argmax(axis=0)  # the first on ties, as for the map
    first = p[best, pixels]
    p[best, pixels] = -np.inf
    second = p.argmax(axis=0)
    runner = p[second, pixels]
    return np.column_stack([first - runner, rows + int(window.row_off), cols + int(window.col_off), best, second,
                            first, runner])


def _key(site) -> tuple:
    return float(site[_MARGIN]), int(site[_ROW]), int(site[_COL])


def _after(candidates: np.ndarray, last: tuple) -> np.ndarray:
    """The candidates that come after ``last`` in (margin, row, column) order."""
    margin, row, col = candidates[:, _MARGIN], candidates[:, _ROW], candidates[:, _COL]
    later = (row > last[1]) | ((row == last[1]) & (col > last[2]))
    return candidates[(margin > last[0]) | ((margin == last[0]) & later)]


def _least_sure(candidates: np.ndarray, keep: int) -> np.ndarray:
    """Candidates in (margin, row, column) order, the first ``keep``."""
    order = np.lexsort((candidates[:, _COL], candidates[:, _ROW], candidates[:, _MARGIN]))
    return candidates[order[:keep]]


# -- choosing ---------------------------------------------------------------------------------------------

class _Spacing:
    """The sites chosen so far, hashed by cells of ``distance`` pixels: a check looks at 3 x 3 cells."""

    def __init__(self, distance: float) -> None:
        self.distance = distance
        self.cell = max(1, math.ceil(distance))
        self.cells: dict[tuple[int, int], list[tuple[float, float]]] = {}

    def fits(self, row: float, col: float) -> bool:
        if self.distance <= 0:
            return True
        r, c = int(row) // self.cell, int(col) // self.cell
        limit = self.distance * self.distance
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                for other_row, other_col in self.cells.get((r + dr, c + dc), ()):
                    if (row - other_row) ** 2 + (col - other_col) ** 2 < limit:
                        return False
        return True

    def add(self, row: float, col: float) -> None:
        self.cells.setdefault((int(row) // self.cell, int(col) // self.cell), []).append((row, col))


def _select(source: _Candidates, count: int, distance: float) -> np.ndarray:
    """Round-robin over predicted classes, least sure first, each site at least ``distance`` from the others."""
    order = source.classes()
    spacing, chosen = _Spacing(distance), []
    while len(chosen) < count:
        picks = [pick for pick in (_next_site(source, k, spacing) for k in order) if pick is not None]
        if not picks:
            break
        chosen += sorted(picks, key=_key)
    return np.array(chosen[:count]).reshape(-1, 7)


def _next_site(source: _Candidates, k: int, spacing: _Spacing):
    while (site := source.pop(k)) is not None:
        if spacing.fits(site[_ROW], site[_COL]):
            spacing.add(site[_ROW], site[_COL])
            return site
    return None


# -- writing ----------------------------------------------------------------------------------------------

def _write(output, chosen: np.ndarray, model: Model, crs, transform, inputs) -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    classes = model.classes
    best, second = chosen[:, _BEST].astype(int), chosen[:, _SECOND].astype(int)
    rows, cols = chosen[:, _ROW].astype(int), chosen[:, _COL].astype(int)
    points = [Point(transform * (col + 0.5, row + 0.5)) for row, col in zip(rows, cols)]
    frame = gpd.GeoDataFrame({
        "rank": np.arange(1, len(chosen) + 1), "predicted_id": [classes[k].id for k in best],
        "predicted": [classes[k].name for k in best], "runner_up_id": [classes[k].id for k in second],
        "runner_up": [classes[k].name for k in second], "margin": chosen[:, _MARGIN],
        "probability": chosen[:, _P1], "runner_up_probability": chosen[:, _P2], "row": rows, "col": cols,
    }, geometry=points, crs=crs)
    try:
        with atomic_outputs(output, inputs=inputs) as (temporary,):
            os.remove(temporary)  # OGR creates the GeoPackage itself and refuses an existing (placeholder) file
            frame.to_file(temporary, driver="GPKG", layer=LAYER)
    except OutputError:
        raise
    except Exception as exc:  # fiona raises its own types for a full disk or a folder it cannot write
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OutputError(f"cannot write the sites (disk full or folder not writable?): {text}") from exc


def _per_class(chosen: np.ndarray, model: Model) -> dict:
    names = [model.classes[int(k)].name for k in chosen[:, _BEST]]
    return {c.name: names.count(c.name) for c in model.classes if c.name in names}


def _report(feedback, found: int, count: int, distance: float, per_class: dict) -> None:
    feedback.progress("suggest", 1.0, f"{found} sites")
    if found < count:
        feedback.message(f"only {found} sites at least {distance:g} pixels apart were found, not {count}; "
                         "use a smaller minimum distance for more", "warning")
    summary = ", ".join(f"{name} {n}" for name, n in per_class.items())
    feedback.message(f"{found} sites where the model is least sure, at least {distance:g} pixels apart ({summary})")
