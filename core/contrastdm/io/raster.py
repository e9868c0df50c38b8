"""Reading hyperspectral rasters through rasterio: metadata, validity masks, padded windows, tiling."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from ..errors import InputError

MAX_BANDS = 2000


@dataclass(frozen=True)
class RasterInfo:
    path: str
    width: int
    height: int
    count: int
    dtype: str
    crs: object  # rasterio.crs.CRS or None
    transform: object  # affine.Affine
    nodata: float | None
    band_names: tuple[str, ...]
    wavelengths: tuple[float, ...] | None
    has_dataset_mask: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None


def open_raster(path) -> rasterio.io.DatasetReader:
    """Open a raster with one clear error for the usual mistakes."""
    path = str(path)
    if not Path(path).exists() and "://" not in path and not path.startswith("/vsi"):
        raise InputError(f"raster not found: {path}")
    if Path(path).is_dir() and not path.lower().endswith((".zarr", ".gdb")):
        raise InputError(f"raster path is a directory, not a raster file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"not a raster GDAL can read: {path} ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _wavelengths(ds) -> tuple[float, ...] | None:
    values = []
    for band in range(1, ds.count + 1):
        tags = ds.tags(band)
        value = tags.get("wavelength") or tags.get("WAVELENGTH") or tags.get("CENTRAL_WAVELENGTH_UM")
        if value is None:
            return None
        try:
            values.append(float(value))
        except ValueError:
            return None
    return tuple(values)


def describe(ds, min_bands: int = 2) -> RasterInfo:
    """Metadata of an open dataset, validated for classification (``min_bands=1`` for class maps)."""
    if ds.count < min_bands:
        raise InputError(
            f"raster has {ds.count} band(s); hyperspectral classification needs at least 2: {ds.name}"
        )
    if ds.count > MAX_BANDS:
        raise InputError(f"raster has {ds.count} bands; at most {MAX_BANDS} are supported: {ds.name}")
    dtypes = set(ds.dtypes)
    if any(d.startswith("complex") for d in dtypes):
        raise InputError(f"complex-valued rasters are not supported: {ds.name}")
    names = tuple(ds.descriptions[i] or f"band {i + 1}" for i in range(ds.count))
    flags = ds.mask_flag_enums[0] if ds.count else ()
    return RasterInfo(
        path=ds.name,
        width=ds.width,
        height=ds.height,
        count=ds.count,
        dtype=ds.dtypes[0],
        crs=ds.crs,
        transform=ds.transform,
        nodata=ds.nodata,
        band_names=names,
        wavelengths=_wavelengths(ds),
        has_dataset_mask=MaskFlags.per_dataset in flags and MaskFlags.all_valid not in flags,
    )


def read_window(ds, window: Window, info: RasterInfo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read all bands of ``window`` as float32 with a boolean validity mask (True = usable pixel).

    A pixel is invalid when any band holds the nodata value or a non-finite number, or the
    dataset's own mask says so.
    """
    info = info or describe(ds)
    data = ds.read(window=window, out_dtype="float32")
    valid = np.all(np.isfinite(data), axis=0)
    if info.nodata is not None and not (isinstance(info.nodata, float) and math.isnan(info.nodata)):
        valid &= ~np.any(data == np.float32(info.nodata), axis=0)
    if info.has_dataset_mask:
        valid &= ds.read_masks(1, window=window) > 0
    return data, valid


def read_padded(ds, window: Window, halo: int, info: RasterInfo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` grown by ``halo`` pixels on every side, reflecting at the scene's edges.

    Reflection is applied to the part of the halo that falls outside the scene, which gives the same
    values as reflect-padding the whole scene: patches and dense tiles therefore agree everywhere.
    """
    info = info or describe(ds)
    row0, col0 = int(window.row_off) - halo, int(window.col_off) - halo
    row1, col1 = int(window.row_off + window.height) + halo, int(window.col_off + window.width) + halo
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row1, info.height), min(col1, info.width)
    data, valid = read_window(ds, Window(c0, r0, c1 - c0, r1 - r0), info)
    pads = ((r0 - row0, row1 - r1), (c0 - col0, col1 - c1))
    if any(p for pair in pads for p in pair):
        data = _reflect(data, ((0, 0), *pads))
        valid = _reflect(valid, pads)
    return data, valid


def _reflect(array: np.ndarray, pads) -> np.ndarray:
    # numpy's "reflect" needs at least two pixels along an axis; a one-pixel scene repeats its edge.
    mode = "reflect" if min(array.shape[-2:]) > 1 else "edge"
    return np.pad(array, pads, mode=mode)


def iter_tiles(width: int, height: int, tile_size: int, rank: int = 0, world_size: int = 1) -> Iterator[Window]:
    """Tiles covering the scene in row-major order; ``rank``/``world_size`` give a process its share."""
    if tile_size < 1:
        raise InputError("tile size must be positive")
    index = 0
    for row in range(0, height, tile_size):
        for col in range(0, width, tile_size):
            if index % world_size == rank:
                yield Window(col, row, min(tile_size, width - col), min(tile_size, height - row))
            index += 1


def tile_count(width: int, height: int, tile_size: int) -> int:
    return math.ceil(width / tile_size) * math.ceil(height / tile_size)


def values_at(ds, rows: np.ndarray, cols: np.ndarray, band: int = 1, block: int = 1024) -> np.ndarray:
    """Band values at pixel positions, reading one bounding window per block of the scene."""
    values = np.zeros(rows.size, dtype=ds.dtypes[band - 1])
    if rows.size == 0:
        return values
    keys = (rows // block) * ((ds.width + block - 1) // block) + cols // block
    for key in np.unique(keys):
        members = np.flatnonzero(keys == key)
        r, c = rows[members], cols[members]
        r0, c0 = int(r.min()), int(c.min())
        data = ds.read(band, window=Window(c0, r0, int(c.max()) - c0 + 1, int(r.max()) - r0 + 1))
        values[members] = data[r - r0, c - c0]
    return values


def preview(ds, band: int = 1, max_side: int = 1024) -> np.ndarray:
    """A nearest-neighbour overview of one band, at most ``max_side`` pixels on its longer side."""
    factor = max(1, math.ceil(max(ds.width, ds.height) / max_side))
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    return ds.read(band, out_shape=shape)
