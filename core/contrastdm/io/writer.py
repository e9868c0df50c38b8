"""Streaming, all-or-nothing writer for classification outputs.

A :class:`ClassificationWriter` writes, tile by tile, up to three GeoTIFFs on the grid of the input
raster (same CRS, transform and shape):

* the class map: one band, ``uint8`` when every class id is < 256 (else ``uint16``), nodata ``0``
  (= unclassified / no data), a GDAL colour table (0 transparent), category names (index 0
  ``"unclassified"``, gaps ``""``; stored by GDAL in the ``.aux.xml`` PAM sidecar), band description
  ``"class"``, dataset tag ``CONTRASTDM_CLASSES`` (JSON list of ``{"id", "name", "color"}``, kept inside
  the TIFF so the map describes itself without sidecars) and a QGIS style ``<map>.qml``;
* optionally the confidence: ``float32`` in [0, 1], nodata ``-1`` (:data:`CONFIDENCE_NODATA`), with a
  viridis ``<confidence>.qml``;
* optionally the class probabilities: ``float32``, one band per class in class-list order, band
  descriptions = class names, band tag ``CLASS_ID``, nodata ``-1``.

Confidence and probabilities are set to nodata where the class id is 0 or the value is not finite.
All files (and sidecars) go through :func:`~contrastdm.io.atomic.atomic_outputs`: they appear together
when the ``with`` block ends normally; on any exception nothing new is left and older files stay.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InputError
from ..version import __version__
from .atomic import atomic_outputs
from .styles import class_map_qml, color_to_hex, confidence_qml, default_color, parse_color

CLASS_NODATA = 0
CONFIDENCE_NODATA = -1.0
PROBABILITY_NODATA = -1.0
UNCLASSIFIED_NAME = "unclassified"
CLASSES_TAG = "CONTRASTDM_CLASSES"
PRODUCT_TAG = "CONTRASTDM_PRODUCT"
VERSION_TAG = "CONTRASTDM_VERSION"


@dataclass(frozen=True)
class ClassInfo:
    """One class of a classification: raster value ``id`` (1..65535), display ``name`` and ``color``.

    ``color`` may be given as ``"#rrggbb"`` or any (r, g, b) sequence; it is stored as a tuple of ints.
    """

    id: int
    name: str
    color: tuple[int, int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", int(self.id))
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "color", parse_color(self.color))

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "color": color_to_hex(self.color)}

    @classmethod
    def from_dict(cls, data: dict) -> ClassInfo:
        return cls(int(data["id"]), str(data["name"]), data["color"])


def classes_to_json(classes: Sequence[ClassInfo]) -> str:
    return json.dumps([c.to_dict() for c in classes], ensure_ascii=False)


def category_names(classes: Sequence[ClassInfo]) -> list[str]:
    """GDAL category names: index = raster value; 0 is ``"unclassified"``, unused values ``""``."""
    names = [""] * (max(c.id for c in classes) + 1)
    names[0] = UNCLASSIFIED_NAME
    for c in classes:
        names[c.id] = c.name
    return names


def _check_classes(classes: Sequence[ClassInfo]) -> list[ClassInfo]:
    classes = list(classes)
    if not classes:
        raise ValueError("at least one class is needed")
    ids = [c.id for c in classes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate class ids in {ids}")
    if min(ids) < 1 or max(ids) > 65535:
        raise ValueError("class ids must be in 1..65535 (0 means unclassified)")
    return classes


def _gdal():
    """GDAL's own Python bindings when installed (Debian's python3-gdal, conda's gdal), else None: a
    pip-only environment has rasterio without them, and the writer then uses its rasterio fallbacks."""
    try:
        from osgeo import gdal
    except ImportError:
        return None
    return gdal


def _finish_class_map(path: str, classes: Sequence[ClassInfo]) -> None:
    """Colour table and category names: rasterio cannot write category names at all (GTiff keeps them in
    the ``<path>.aux.xml`` PAM sidecar), so through GDAL when its bindings are there, else the colour table
    through rasterio and the sidecar written as GDAL writes it."""
    gdal = _gdal()
    if gdal is None:
        _finish_class_map_with_rasterio(path, classes)
        return
    dataset = gdal.Open(path, gdal.GA_Update)
    if dataset is None:
        raise OSError(f"GDAL cannot reopen {path}")
    try:
        band = dataset.GetRasterBand(1)
        table = gdal.ColorTable()
        max_id = max(c.id for c in classes)
        for value in range(max_id + 1):
            table.SetColorEntry(value, (0, 0, 0, 0))
        for c in classes:
            table.SetColorEntry(c.id, (*c.color, 255))
        band.SetColorTable(table)
        band.SetColorInterpretation(gdal.GCI_PaletteIndex)
        band.SetCategoryNames(category_names(classes))
        dataset.FlushCache()
    finally:
        dataset = None


def _finish_class_map_with_rasterio(path: str, classes: Sequence[ClassInfo]) -> None:
    from xml.sax.saxutils import escape

    colormap = {value: (0, 0, 0, 0) for value in range(max(c.id for c in classes) + 1)}
    colormap.update({c.id: (*c.color, 255) for c in classes})
    with rasterio.open(path, "r+") as dst:
        dst.write_colormap(1, colormap)
    categories = "".join(f"<Category>{escape(name)}</Category>" for name in category_names(classes))
    _write_text(path + ".aux.xml", f'<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>{categories}'
                                   f"</CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n")


def _read_category_names(path: str) -> list[str]:
    gdal = _gdal()
    if gdal is None:
        return _read_pam_category_names(path)
    dataset = None
    try:  # works whether or not some other code switched on gdal.UseExceptions()
        dataset = gdal.Open(path)
        if dataset is None:
            return []
        dataset.GetFileList()  # GDAL 3.6 GTiff loads the PAM sidecar lazily; this makes it load
        return list(dataset.GetRasterBand(1).GetCategoryNames() or [])
    except Exception:
        return []
    finally:
        dataset = None


def _read_pam_category_names(path: str) -> list[str]:
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.parse(path + ".aux.xml").getroot()
    except (OSError, ElementTree.ParseError):
        return []
    band = next((b for b in root.iter("PAMRasterBand") if b.get("band", "1") == "1"), None)
    names = band.find("CategoryNames") if band is not None else None
    return [c.text or "" for c in names.iter("Category")] if names is not None else []


class _GdalErrors:
    """Collects GDAL failures raised in this thread: libtiff reports a full disk while flushing blocks
    only through GDAL's error handler, and rasterio's close() does not raise them. Without GDAL's
    bindings there is no handler to install; rasterio then raises what its own calls report."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self._gdal = _gdal()

    def __call__(self, level, number, message) -> None:
        if level in (self._gdal.CE_Failure, self._gdal.CE_Fatal):
            self.failures.append(str(message))

    def __enter__(self) -> _GdalErrors:
        if self._gdal is not None:
            self._gdal.PushErrorHandler(self)
        return self

    def __exit__(self, *exc) -> bool:
        if self._gdal is not None:
            self._gdal.PopErrorHandler()
        return False

    def check(self) -> None:
        if self.failures:
            raise OSError(f"GDAL could not write: {self.failures[0]}")


class ClassificationWriter:
    """Write a class map (and optionally confidence and probabilities) tile by tile, atomically.

    Use as a context manager; call :meth:`write` once per window (any order, any window size)::

        with ClassificationWriter("map.tif", width=w, height=h, crs=src.crs, transform=src.transform,
                                  classes=classes, confidence_path="conf.tif", inputs=[raster]) as out:
            for window in iter_tiles(w, h, 256):  # contrastdm.io.raster
                out.write(window, ids, confidence=conf)

    Pixels never written read as nodata. Output-path problems raise
    :class:`~contrastdm.errors.OutputError` when the block is entered.
    """

    def __init__(
        self,
        map_path: str | os.PathLike,
        *,
        width: int,
        height: int,
        crs: Any,
        transform: Any,
        classes: Sequence[ClassInfo],
        confidence_path: Optional[str | os.PathLike] = None,
        probabilities_path: Optional[str | os.PathLike] = None,
        inputs: Iterable[str | os.PathLike] = (),
        tile_size: int = 256,
        tags: Optional[dict] = None,
        cog: bool = False,
    ) -> None:
        if int(width) < 1 or int(height) < 1:
            raise ValueError("width and height must be positive")
        if tile_size < 16 or tile_size % 16:
            raise ValueError("tile_size must be a positive multiple of 16")
        self.classes = _check_classes(classes)
        self.map_path = os.fspath(map_path)
        self.confidence_path = None if confidence_path is None else os.fspath(confidence_path)
        self.probabilities_path = None if probabilities_path is None else os.fspath(probabilities_path)
        self.width, self.height = int(width), int(height)
        self.crs, self.transform = crs, transform
        self.inputs = [os.fspath(p) for p in inputs if p is not None]
        self.tile_size = int(tile_size)
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.cog = bool(cog)
        self.max_id = max(c.id for c in self.classes)
        self.dtype = "uint8" if self.max_id < 256 else "uint16"
        self._valid = np.zeros(self.max_id + 1, dtype=bool)
        self._valid[[0] + [c.id for c in self.classes]] = True
        self._atomic = None
        self._errors: Optional[_GdalErrors] = None
        self._temps: tuple = ()
        self._datasets: dict[str, Any] = {}

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> ClassificationWriter:
        self._atomic = atomic_outputs(
            self.map_path, self.confidence_path, self.probabilities_path, inputs=self.inputs
        )
        self._temps = self._atomic.__enter__()
        self._errors = _GdalErrors().__enter__()
        try:
            self._open()
        except BaseException as exc:
            self._close_datasets()
            atomic, self._atomic = self._atomic, None
            if not atomic.__exit__(type(exc), exc, exc.__traceback__):
                raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            return self._exit(exc_type, exc, tb)
        finally:
            errors, self._errors = self._errors, None
            if errors is not None:
                errors.__exit__(None, None, None)

    def _exit(self, exc_type, exc, tb) -> bool:
        atomic, self._atomic = self._atomic, None
        if atomic is None:
            return False
        if exc_type is None:
            try:
                self._finish()
            except BaseException as error:
                self._close_datasets()
                if not atomic.__exit__(type(error), error, error.__traceback__):
                    raise
                return False
            return bool(atomic.__exit__(None, None, None))
        self._close_datasets()
        return bool(atomic.__exit__(exc_type, exc, tb))

    # -- writing ---------------------------------------------------------------------------------
    def _profile(self, dtype: str, count: int, nodata: float) -> dict:
        profile = dict(
            driver="GTiff", width=self.width, height=self.height, count=count, dtype=dtype,
            crs=self.crs, transform=self.transform, nodata=nodata, tiled=True,
            blockxsize=self.tile_size, blockysize=self.tile_size, compress="deflate", BIGTIFF="IF_SAFER",
        )
        if dtype == "float32":
            profile["predictor"] = 3
        if count > 1:
            profile["interleave"] = "band"
        return profile

    def _common_tags(self, product: str) -> dict:
        return {**self.tags, PRODUCT_TAG: product, VERSION_TAG: __version__,
                CLASSES_TAG: classes_to_json(self.classes)}

    def _open(self) -> None:
        map_temp, conf_temp, prob_temp = self._temps
        dst = rasterio.open(map_temp, "w", **self._profile(self.dtype, 1, CLASS_NODATA))
        self._datasets["map"] = dst
        dst.set_band_description(1, "class")
        dst.update_tags(**self._common_tags("class_map"))

        if conf_temp is not None:
            dst = rasterio.open(conf_temp, "w", **self._profile("float32", 1, CONFIDENCE_NODATA))
            self._datasets["confidence"] = dst
            dst.set_band_description(1, "confidence")
            dst.update_tags(**self._common_tags("confidence"))

        if prob_temp is not None:
            k = len(self.classes)
            dst = rasterio.open(prob_temp, "w", **self._profile("float32", k, PROBABILITY_NODATA))
            self._datasets["probabilities"] = dst
            for band, c in enumerate(self.classes, start=1):
                dst.set_band_description(band, c.name)
                dst.update_tags(band, CLASS_ID=str(c.id))
            dst.update_tags(**self._common_tags("probabilities"))

    def _check_window(self, window: Window) -> tuple[int, int, int, int]:
        col, row = int(round(window.col_off)), int(round(window.row_off))
        w, h = int(round(window.width)), int(round(window.height))
        if col < 0 or row < 0 or w < 1 or h < 1 or col + w > self.width or row + h > self.height:
            raise ValueError(f"window {window} is outside the {self.width} x {self.height} output")
        return col, row, w, h

    def write(
        self,
        window: Window,
        class_ids: np.ndarray,
        confidence: Optional[np.ndarray] = None,
        probabilities: Optional[np.ndarray] = None,
    ) -> None:
        """Write one window. ``class_ids``: (h, w) integers, 0 = unclassified; ``confidence``: (h, w);
        ``probabilities``: (K, h, w) in class-list order. Confidence/probabilities are required when
        their output was asked for and ignored otherwise."""
        if "map" not in self._datasets:
            raise RuntimeError("ClassificationWriter.write() called outside its with block")
        col, row, w, h = self._check_window(window)
        win = Window(col, row, w, h)
        ids = np.asarray(class_ids)
        if ids.shape != (h, w):
            raise ValueError(f"class_ids has shape {ids.shape}, the window is {(h, w)}")
        if ids.dtype.kind not in "iu":
            raise ValueError(f"class_ids must be integers, not {ids.dtype}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) > self.max_id or not self._valid[ids].all()):
            unknown = sorted(set(np.unique(ids).tolist()) - set(np.flatnonzero(self._valid).tolist()))
            raise ValueError(f"class ids {unknown[:10]} are not in the class list")
        self._datasets["map"].write(ids.astype(self.dtype, copy=False), 1, window=win)
        unclassified = ids == 0

        if "confidence" in self._datasets:
            if confidence is None:
                raise ValueError("confidence is required: a confidence output was asked for")
            conf = np.array(confidence, dtype=np.float32, copy=True)
            if conf.shape != (h, w):
                raise ValueError(f"confidence has shape {conf.shape}, the window is {(h, w)}")
            conf[unclassified | ~np.isfinite(conf)] = CONFIDENCE_NODATA
            self._datasets["confidence"].write(conf, 1, window=win)

        if "probabilities" in self._datasets:
            if probabilities is None:
                raise ValueError("probabilities are required: a probabilities output was asked for")
            probs = np.array(probabilities, dtype=np.float32, copy=True)
            if probs.shape != (len(self.classes), h, w):
                raise ValueError(
                    f"probabilities have shape {probs.shape}, expected {(len(self.classes), h, w)}"
                )
            probs[:, unclassified] = PROBABILITY_NODATA
            probs[~np.isfinite(probs)] = PROBABILITY_NODATA
            self._datasets["probabilities"].write(probs, window=win)

    # -- finishing -------------------------------------------------------------------------------
    def _close_datasets(self) -> None:
        datasets, self._datasets = self._datasets, {}
        for dst in datasets.values():
            try:
                dst.close()
            except Exception:  # closing after a failure: the temporaries are deleted anyway
                pass

    def _finish(self) -> None:
        datasets, self._datasets = self._datasets, {}
        for dst in datasets.values():
            dst.close()
        map_temp, conf_temp, _prob_temp = self._temps
        _finish_class_map(map_temp, self.classes)
        self._errors.check()
        if self.cog:
            self._to_cog()
        _write_text(os.path.splitext(map_temp)[0] + ".qml", class_map_qml(self.classes))
        if conf_temp is not None:
            _write_text(os.path.splitext(conf_temp)[0] + ".qml", confidence_qml(0.0, 1.0))

    def _to_cog(self) -> None:
        """Each finished tiled GeoTIFF rewritten as a COG in place (still a temporary until the commit)."""
        from .cog import write_cog

        for temp, resampling in zip(self._temps, ("nearest", "average", "average")):
            if temp is None:
                continue
            staged = os.fspath(temp) + ".cog.tif"  # a sidecar of the temporary: cleaned up on failure
            write_cog(temp, staged, resampling=resampling)
            self._errors.check()
            os.replace(staged, temp)
            for suffix in (".aux.xml",):
                if os.path.exists(staged + suffix):
                    os.replace(staged + suffix, os.fspath(temp) + suffix)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


# -- reading back ---------------------------------------------------------------------------------
def _classes_from_tags(tags: dict) -> Optional[list[ClassInfo]]:
    text = tags.get(CLASSES_TAG)
    if not text:
        return None
    try:
        classes = [ClassInfo.from_dict(item) for item in json.loads(text)]
        return _check_classes(classes)
    except Exception:
        return None


def _unique_values(src) -> list[int]:
    seen: set[int] = set()
    for _ij, window in src.block_windows(1):
        seen.update(np.unique(src.read(1, window=window)).tolist())
    return sorted(seen)


def read_class_map_info(path: str | os.PathLike) -> list[ClassInfo]:
    """The classes of a class map, from (in this order) the ``CONTRASTDM_CLASSES`` tag, GDAL category
    names, or the values present in the raster; colours from the colour table when there is one,
    else the default palette. Value 0 and the nodata value are never classes."""
    path = os.fspath(path)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise InputError(f"cannot open class map {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    with src:
        if src.count < 1 or np.dtype(src.dtypes[0]).kind not in "iu":
            raise InputError(f"{path} is not a class map: its first band must hold integer class ids")
        classes = _classes_from_tags(src.tags())
        if classes is not None:
            return classes
        try:
            colormap = src.colormap(1)
        except ValueError:
            colormap = None
        excluded = {0}
        if src.nodata is not None:
            excluded.add(int(src.nodata))
        names = _read_category_names(path)
        pairs = [(i, n) for i, n in enumerate(names) if n and i not in excluded]
        if not pairs:
            pairs = [(int(v), f"class {int(v)}") for v in _unique_values(src) if int(v) not in excluded]
    result = []
    for position, (class_id, name) in enumerate(pairs):
        if colormap is not None and class_id in colormap:
            color = tuple(colormap[class_id][:3])
        else:
            color = default_color(position)
        result.append(ClassInfo(class_id, name, color))
    if not result:
        raise InputError(f"{path} holds no classified pixels")
    return result
