"""Training and reference vectors: reading, class mapping, reprojection and rasterization on a raster grid."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

POLYGONAL = {"Polygon", "MultiPolygon"}
PUNCTUAL = {"Point", "MultiPoint"}


@dataclass(frozen=True)
class ClassTable:
    """Stable mapping between class values in a vector field and class ids written to maps (1..65535)."""

    ids: tuple[int, ...]
    names: tuple[str, ...]

    def id_of(self, name: str) -> int | None:
        try:
            return self.ids[self.names.index(name)]
        except ValueError:
            return None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class LabelledPixels:
    """Labelled pixels on a raster grid, one entry per pixel, with provenance."""

    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    class_ids: np.ndarray  # int64, values from ClassTable.ids
    feature_ids: np.ndarray  # int64, index of the vector feature the pixel came from
    classes: ClassTable
    counts: dict = field(default_factory=dict)  # what was dropped and why

    def __len__(self) -> int:
        return int(self.rows.size)

    def subset(self, mask: np.ndarray) -> LabelledPixels:
        return LabelledPixels(self.rows[mask], self.cols[mask], self.class_ids[mask], self.feature_ids[mask],
                              self.classes, dict(self.counts))

    def coordinates(self, transform) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of pixel centres."""
        xs = transform.c + (self.cols + 0.5) * transform.a + (self.rows + 0.5) * transform.b
        ys = transform.f + (self.cols + 0.5) * transform.d + (self.rows + 0.5) * transform.e
        return xs, ys


def read_vector(path, class_field: str, layer: str | None = None):
    """Read a vector file into a GeoDataFrame holding only usable features and the class field."""
    import geopandas as gpd

    path = str(path)
    if not Path(path).exists():
        raise InputError(f"vector file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # fiona raises many types; all mean "cannot read this"
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a vector file OGR can read: {path} ({message})") from exc
    if len(frame) == 0:
        raise InputError(f"vector file has no features: {path}")
    if class_field not in frame.columns:
        available = ", ".join(c for c in frame.columns if c != "geometry") or "none"
        raise InputError(f"class field '{class_field}' not found in {path}; available fields: {available}")
    return frame


def class_values(frame, class_field: str) -> list:
    """Non-null class values of a frame, normalised (integral floats become ints, strings are stripped)."""
    values = []
    for value in frame[class_field].tolist():
        values.append(_normalise(value))
    return values


def _normalise(value):
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else value
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value).strip()
    return text or None


def build_class_table(values) -> ClassTable:
    """Integer values 1..65535 keep their value as id; anything else gets ids 1..K in sorted name order."""
    distinct = {v for v in values if v is not None}
    if all(isinstance(v, int) and 1 <= v <= 65535 for v in distinct):
        distinct = sorted(distinct)
        return ClassTable(tuple(distinct), tuple(str(v) for v in distinct))
    names = sorted({str(v) for v in distinct})
    return ClassTable(tuple(range(1, len(names) + 1)), tuple(names))


def prepare_geometries(frame, class_field: str, raster_crs, feedback=None, source: str = "vector"):
    """Drop null classes and unusable geometries, repair invalid ones, reproject to the raster CRS."""
    counts = {}
    values = class_values(frame, class_field)
    keep = np.array([v is not None for v in values])
    counts["null_class"] = int((~keep).sum())
    if not keep.any():
        raise InputError(f"class field '{class_field}' of the {source} is empty (all values are NULL)")
    frame = frame.loc[keep].copy()
    frame["_class_value"] = [v for v in values if v is not None]
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    kinds = set(frame.geom_type.unique())
    unsupported = kinds - POLYGONAL - PUNCTUAL
    if not kinds or unsupported == kinds:
        raise InputError(
            f"the {source} must hold polygons or points; found {', '.join(sorted(kinds)) or 'no geometries'}"
        )
    if unsupported:
        drop = frame.geom_type.isin(unsupported)
        counts["unsupported_geometry"] = int(drop.sum())
        frame = frame.loc[~drop]
    invalid = ~frame.geometry.is_valid
    counts["repaired_geometry"] = int(invalid.sum())
    if invalid.any():
        frame["geometry"] = frame.geometry.where(~invalid, frame.geometry.buffer(0))
        frame = frame[~frame.geometry.is_empty]
    frame = _to_crs(frame, raster_crs, feedback, source)
    if feedback is not None:
        for key, text in (("null_class", "features with a NULL class skipped"),
                          ("unsupported_geometry", "features that are not polygons or points skipped"),
                          ("repaired_geometry", "invalid geometries repaired")):
            if counts.get(key):
                feedback.message(f"{source}: {counts[key]} {text}", "warning")
    return frame, counts


def _undefined(crs) -> bool:
    # GeoPackages written without a CRS come back as "Undefined geographic/Cartesian SRS".
    return crs is None or "undefined" in (getattr(crs, "name", "") or "").lower()


def _to_crs(frame, raster_crs, feedback, source):
    if raster_crs is None:
        if not _undefined(frame.crs):
            raise InputError(
                f"the raster has no CRS but the {source} is in {frame.crs.to_string()}; "
                "give the raster a CRS, or give the vector pixel/raster coordinates and no CRS"
            )
        return frame
    if _undefined(frame.crs):
        if feedback is not None:
            feedback.message(f"{source} has no CRS; assuming the raster's CRS", "warning")
        return frame.set_crs(raster_crs.to_wkt(), allow_override=True)
    from pyproj import CRS

    target = CRS.from_user_input(raster_crs.to_wkt())
    if CRS.from_user_input(frame.crs) != target:
        if feedback is not None:
            feedback.message(f"{source} reprojected from {CRS.from_user_input(frame.crs).to_string()} to the raster CRS")
        frame = frame.to_crs(target)
    return frame


def rasterize_labels(frame, classes: ClassTable, transform, width: int, height: int,
                     feedback=None, source: str = "vector") -> LabelledPixels:
    """Pixels (centre inside a polygon, or holding a point) per feature; conflicting overlaps are dropped."""
    from rasterio.features import rasterize
    from rasterio.windows import from_bounds

    name_to_id = dict(zip(classes.names, classes.ids))
    rows, cols, cids, fids = [], [], [], []
    outside = 0
    for feature_index, (geometry, value) in enumerate(zip(frame.geometry, frame["_class_value"])):
        class_id = name_to_id.get(str(value))
        if class_id is None:
            continue
        window = _pixel_window(from_bounds(*geometry.bounds, transform=transform), width, height)
        if window is None:
            outside += 1
            continue
        r0, c0, h, w = window
        from rasterio.windows import Window
        from rasterio.windows import transform as window_transform

        mask = rasterize([(geometry, 1)], out_shape=(h, w), transform=window_transform(Window(c0, r0, w, h), transform),
                         fill=0, dtype="uint8", all_touched=geometry.geom_type in PUNCTUAL)
        rr, cc = np.nonzero(mask)
        if rr.size == 0:
            outside += 1
            continue
        rows.append(rr + r0)
        cols.append(cc + c0)
        cids.append(np.full(rr.size, class_id, dtype=np.int64))
        fids.append(np.full(rr.size, feature_index, dtype=np.int64))
    if not rows:
        raise InputError(f"no {source} feature covers a pixel of the raster (are they outside it, or in another CRS?)")
    rows, cols = np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)
    cids, fids = np.concatenate(cids), np.concatenate(fids)
    keep, conflicts = _resolve_overlaps(rows * width + cols, cids)
    pixels = LabelledPixels(rows[keep], cols[keep], cids[keep], fids[keep], classes,
                            {"features_outside": outside, "conflicting_pixels": conflicts})
    if feedback is not None:
        if outside:
            feedback.message(f"{source}: {outside} feature(s) outside the raster or smaller than a pixel skipped", "warning")
        if conflicts:
            feedback.message(f"{source}: {conflicts} pixel(s) claimed by polygons of different classes dropped", "warning")
    return pixels


def _pixel_window(window, width, height):
    r0 = max(int(math.floor(window.row_off)) - 1, 0)
    c0 = max(int(math.floor(window.col_off)) - 1, 0)
    r1 = min(int(math.ceil(window.row_off + window.height)) + 1, height)
    c1 = min(int(math.ceil(window.col_off + window.width)) + 1, width)
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, c0, r1 - r0, c1 - c0


def _resolve_overlaps(keys: np.ndarray, class_ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Keep one entry per pixel; drop pixels claimed by features of different classes."""
    order = np.lexsort((class_ids, keys))
    keys_sorted, classes_sorted = keys[order], class_ids[order]
    first = np.ones(keys_sorted.size, dtype=bool)
    first[1:] = keys_sorted[1:] != keys_sorted[:-1]
    group = np.cumsum(first) - 1
    class_min = np.minimum.reduceat(classes_sorted, np.flatnonzero(first))
    class_max = np.maximum.reduceat(classes_sorted, np.flatnonzero(first))
    conflicted = class_min != class_max
    keep_sorted = first & ~conflicted[group]
    keep = np.zeros(keys.size, dtype=bool)
    keep[order[keep_sorted]] = True
    return keep, int(conflicted.sum())


def load_labels(path, class_field: str, raster_info, feedback=None, classes: ClassTable | None = None,
                source: str = "training vector", layer: str | None = None) -> LabelledPixels:
    """Read a vector and return its labelled pixels on the raster's grid.

    ``classes`` fixes the class table (validation and test vectors must use the training one); features
    whose class is not in it are skipped with a warning.
    """
    frame = read_vector(path, class_field, layer)
    frame, counts = prepare_geometries(frame, class_field, raster_info.crs, feedback, source)
    table = classes or build_class_table(frame["_class_value"].tolist())
    if classes is not None:
        unknown = sorted({str(v) for v in frame["_class_value"]} - set(classes.names))
        if unknown and feedback is not None:
            feedback.message(f"{source}: classes not in the model skipped: {', '.join(unknown[:10])}", "warning")
    pixels = rasterize_labels(frame, table, raster_info.transform, raster_info.width, raster_info.height,
                              feedback, source)
    pixels.counts.update(counts)
    return pixels
