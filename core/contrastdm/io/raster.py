"""Reading hyperspectral rasters through rasterio: metadata, validity masks, padded windows, tiling."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from ..errors import InputError
from .spectral import SpectralInfo, read_spectral_info

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
    wavelengths: tuple[float, ...] | None  # nanometres, from :mod:`contrastdm.io.spectral`
    has_dataset_mask: bool
    spectral: SpectralInfo = field(default_factory=SpectralInfo)
    bands: tuple[int, ...] | None = None  # 0-based bands that reads return (None: all)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    @property
    def band_indices(self) -> tuple[int, ...]:
        return tuple(range(self.count)) if self.bands is None else self.bands

    @property
    def read_count(self) -> int:
        """How many bands a read returns."""
        return len(self.band_indices)

    def with_bands(self, indices) -> RasterInfo:
        """The same raster, read through the given 0-based bands only (the kept bands)."""
        indices = tuple(int(i) for i in indices)
        if not indices or min(indices) < 0 or max(indices) >= self.count:
            raise InputError(f"band selection {indices[:5]}... does not fit a raster of {self.count} bands")
        return replace(self, bands=indices)

    def band_nodata(self) -> list[float | None]:
        """The nodata value of each band read (a per-band value wins over the dataset's)."""
        per_band = self.spectral.band_nodata
        return [(per_band[i] if per_band and per_band[i] is not None else self.nodata) for i in self.band_indices]

    def band_scaling(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(gain, offset) per band read, or None when the values are physical already."""
        gains, offsets = self.spectral.gains, self.spectral.offsets
        if gains is None and offsets is None:
            return None
        idx = list(self.band_indices)
        gain = np.array([gains[i] for i in idx] if gains else [1.0] * len(idx), dtype=np.float32)
        offset = np.array([offsets[i] for i in idx] if offsets else [0.0] * len(idx), dtype=np.float32)
        if np.all(gain == 1) and np.all(offset == 0):
            return None
        return gain, offset


def open_raster(path) -> rasterio.io.DatasetReader:
    """Open a raster with one clear error for the usual mistakes.

    A sensor product (EnMAP L2A, EMIT L2A, PRISMA L2D; :mod:`contrastdm.io.products`) is opened through the
    GDAL-readable raster made from it once and kept in the engine's cache.
    """
    path = str(path)
    if not Path(path).exists() and "://" not in path and not path.startswith("/vsi"):
        raise InputError(f"raster not found: {path}")
    path = _product_raster(path)
    if Path(path).is_dir() and not path.lower().endswith((".zarr", ".gdb")):
        raise InputError(f"raster path is a directory, not a raster file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except RasterioIOError as exc:
        raise InputError(f"not a raster GDAL can read: {path} ({_first_line(exc)})") from exc


def _product_raster(path: str) -> str:
    from ..cache import cache_dir
    from .products import detect, materialize

    return str(materialize(path, cache_dir("products"))) if detect(path) is not None else path


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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
    spectral = read_spectral_info(ds)
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
        wavelengths=spectral.wavelengths,
        has_dataset_mask=MaskFlags.per_dataset in flags and MaskFlags.all_valid not in flags,
        spectral=spectral,
    )


def read_window(ds, window: Window, info: RasterInfo | None = None, per_band: bool = False,
                out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read the bands ``info`` selects in ``window`` as float32, with a validity mask (True = usable).

    A band's value is invalid when it is non-finite or its band's nodata value, and every band of a pixel
    the dataset's own mask hides; the mask is per pixel (valid in every band read), or ``[B, h, w]`` per
    band with ``per_band``. Gains and offsets of the spectral metadata are applied after the nodata test.
    ``out``: a float32 array of the read's shape to read into (a reused buffer spares the allocation).
    """
    info = info or describe(ds)
    indexes = [i + 1 for i in info.band_indices]
    if out is None:
        data = ds.read(indexes, window=window, out_dtype="float32")
    else:
        data = ds.read(indexes, window=window, out=out)
    valid = _validity(ds, window, info, data, per_band)
    scaling = info.band_scaling()
    if scaling is not None:
        gain, offset = scaling
        data *= gain[:, None, None]
        data += offset[:, None, None]
    return data, valid


def _validity(ds, window: Window, info: RasterInfo, data: np.ndarray, per_band: bool) -> np.ndarray:
    nodata = [(band, np.float32(value)) for band, value in enumerate(info.band_nodata())
              if value is not None and not (isinstance(value, float) and math.isnan(value))]
    if per_band or not all(np.dtype(ds.dtypes[i]).kind in "iub" for i in info.band_indices):
        valid = np.isfinite(data)
        for band, value in nodata:
            valid[band] &= data[band] != value
        if not per_band:
            valid = np.all(valid, axis=0)
    else:  # integers read as float32 are always finite: only the nodata values can invalidate a pixel
        valid = np.ones(data.shape[1:], dtype=bool)
        for band, value in nodata:
            valid &= data[band] != value
    if info.has_dataset_mask:
        mask = ds.read_masks(1, window=window) > 0
        valid &= mask[None] if per_band else mask
    return valid


def read_padded(ds, window: Window, halo: int, info: RasterInfo | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` grown by ``halo`` pixels on every side, reflecting at the scene's edges.

    Reflection is applied to the part of the halo that falls outside the scene, which gives the same
    values as reflect-padding the whole scene: patches and dense tiles therefore agree everywhere.
    """
    data, valid, pads = read_with_halo(ds, window, halo, info)
    return reflect_pad(data, pads), reflect_pad(valid, pads)


def halo_window(window: Window, halo: int, width: int, height: int) -> tuple[Window, tuple]:
    """The part of ``window`` grown by ``halo`` that lies in the scene, and the reflection padding
    ``((top, bottom), (left, right))`` that completes it."""
    row0, col0 = int(window.row_off) - halo, int(window.col_off) - halo
    row1, col1 = int(window.row_off + window.height) + halo, int(window.col_off + window.width) + halo
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row1, height), min(col1, width)
    return Window(c0, r0, c1 - c0, r1 - r0), ((r0 - row0, row1 - r1), (c0 - col0, col1 - c1))


def read_with_halo(ds, window: Window, halo: int, info: RasterInfo | None = None, out: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """:func:`read_padded` before its padding: the data and validity of the part in the scene, and the pads
    for :func:`reflect_pad`. Any per-pixel computation may run before padding: it commutes with it.
    ``out``: a flat float32 buffer, at least as large as the read, to read into."""
    info = info or describe(ds)
    inside, pads = halo_window(window, halo, info.width, info.height)
    if out is not None:
        out = out[:info.read_count * int(inside.height) * int(inside.width)]
        out = out.reshape(info.read_count, int(inside.height), int(inside.width))
    data, valid = read_window(ds, inside, info, out=out)
    return data, valid, pads


def halo_cache_bytes(ds, info: RasterInfo, tile_size: int, halo: int) -> int:
    """GDAL block cache that lets row-major tiles grown by ``halo`` decode every block of the file once: the
    blocks of the block rows one row of such tiles spans, across the scene (plus a block column of slack).
    A smaller cache re-decodes a tile's neighbouring blocks for its halo, several times over when blocks hold
    many bands (a 256 x 256 block of 200 uint16 bands is 26 MB)."""
    block_height, block_width = ds.block_shapes[0]
    rows = min(info.height, int(tile_size) + 2 * halo)
    block_rows = min(math.ceil(info.height / block_height), math.ceil(rows / block_height) + 1)
    block_cols = math.ceil(info.width / block_width) + 1
    itemsize = max(np.dtype(d).itemsize for d in ds.dtypes)
    return block_rows * block_cols * block_height * block_width * ds.count * itemsize


def reflect_pad(array: np.ndarray, pads, axes: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """``array`` reflect-padded by ``pads`` ((top, bottom), (left, right)) along its two spatial ``axes``."""
    if not any(p for pair in pads for p in pair):
        return array
    spec = [(0, 0)] * array.ndim
    spec[axes[0]], spec[axes[1]] = pads
    # numpy's "reflect" needs at least two pixels along an axis; a one-pixel scene repeats its edge.
    mode = "reflect" if min(array.shape[a] for a in axes) > 1 else "edge"
    return np.pad(array, spec, mode=mode)


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


def pixel_blocks(rows: np.ndarray, cols: np.ndarray, width: int, block: int) -> list:
    """``[(window, indices), ...]`` for every ``block`` x ``block`` square of a scene ``width`` pixels wide that
    holds some of the pixels (``rows``, ``cols``): the window bounds those pixels, so scattered pixels are read
    with one small window per square instead of one each."""
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    if rows.size == 0:
        return []
    keys = (rows // block) * ((width + block - 1) // block) + cols // block
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
    blocks = []
    for members in np.split(order, starts[1:]):
        r, c = rows[members], cols[members]
        r0, c0 = int(r.min()), int(c.min())
        blocks.append((Window(c0, r0, int(c.max()) - c0 + 1, int(r.max()) - r0 + 1), members))
    return blocks


def values_at(ds, rows: np.ndarray, cols: np.ndarray, band: int = 1, block: int = 1024) -> np.ndarray:
    """Band values at pixel positions, reading one bounding window per block of the scene."""
    values = np.zeros(rows.size, dtype=ds.dtypes[band - 1])
    for window, members in pixel_blocks(rows, cols, ds.width, block):
        data = ds.read(band, window=window)
        values[members] = data[rows[members] - window.row_off, cols[members] - window.col_off]
    return values


def preview(ds, band: int = 1, max_side: int = 1024) -> np.ndarray:
    """A nearest-neighbour overview of one band, at most ``max_side`` pixels on its longer side."""
    factor = max(1, math.ceil(max(ds.width, ds.height) / max_side))
    shape = (max(1, ds.height // factor), max(1, ds.width // factor))
    return ds.read(band, out_shape=shape)
