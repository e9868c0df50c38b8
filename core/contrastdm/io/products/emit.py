"""EMIT L2A surface reflectance (netCDF4/HDF5): orthorectified through its GLT into a GeoTIFF.

Layout followed (LP DAAC EMITL2ARFL product page and user guide; reference code
``nasa/EMIT-Data-Resources`` ``python/modules/emit_tools.py`` (``apply_glt``, ``coord_vects``) and
``emit-sds/emit-utils`` ``reformat.py`` (``single_image_ortho``), also used by EnMAP-Box
``importemitl2aalgorithm.py``):

* file ``EMIT_L2A_RFL_<version>_<yyyymmddThhmmss>_<orbit>_<scene>.nc``;
* ``reflectance`` [downtrack, crosstrack, bands] float32, ``_FillValue`` -9999, in raw sensor geometry;
* ``sensor_band_parameters/wavelengths`` and ``fwhm`` (nm), ``good_wavelengths`` (1 good, 0 bad -> ``bbl``);
* ``location/glt_x`` and ``location/glt_y`` [ortho rows, ortho cols]: for each pixel of the map grid, the
  1-based crosstrack (x) and downtrack (y) index of the raw pixel to show there; 0 means no data.
  Negative entries (some GLT builders mark nearest-neighbour fills that way) are read by magnitude;
* global attributes ``geotransform`` (6 numbers, GDAL order, upper-left corner of the grid) and
  ``spatial_ref`` (WKT, WGS84 geographic).

Output: float32 physical reflectance on the GLT grid, nodata -9999 (GLT holes and fill values), as a tiled,
compressed GeoTIFF written in row blocks of the map grid. Each block reads only the raw pixels it needs, a few
raw rows at a time and only their bounding rectangle (see :func:`_ortho_block`), so memory stays bounded by
``BLOCK_BYTES`` + ``READ_BYTES`` whatever the scene size; a strongly rotated swath makes neighbouring blocks
read some raw rows again (I/O traded for bounded memory). Other EMIT products are recognised and refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.windows import Window

from ...errors import InputError
from . import (
    Bands,
    block_rows,
    geotiff_profile,
    hdf5_groups,
    one_line,
    open_hdf5,
    row_blocks,
    write_band_metadata,
)

SENSOR = "EMIT L2A reflectance"
SUFFIX = ".tif"
NODATA = -9999.0
BLOCK_BYTES = 128 * 2**20  # one block of the map grid, all bands
READ_BYTES = 32 * 2**20  # at most this much raw cube per read

_NAME = re.compile(r"^EMIT_(L[0-9][A-Z]?)_([A-Z]+)_\d{3}_.*\.nc$", re.IGNORECASE)
_KINDS = {"RFL": "reflectance", "RFLUNCERT": "reflectance uncertainty", "MASK": "mask", "RAD": "radiance",
          "OBS": "observation geometry", "MIN": "mineral identification", "MINUNC": "mineral uncertainty"}


def detect(path: Path) -> str | None:
    match = _NAME.match(path.name)
    if match:
        level, kind = match.group(1).upper(), match.group(2).upper()
        return f"EMIT {level} {_KINDS.get(kind, kind.lower())}"
    names = hdf5_groups(path)
    if names and {"reflectance", "sensor_band_parameters"} <= names:
        return SENSOR
    return None


def sources(path: Path) -> list[Path]:
    sensor = detect(path)
    if sensor != SENSOR:
        raise InputError(f"{sensor} products are not supported; give the EMIT L2A reflectance file "
                         f"(EMIT_L2A_RFL_*.nc): {path}")
    return [path]


def _dataset(f, name: str, path: Path, why: str = ""):
    item = f.get(name)
    if item is None or not hasattr(item, "shape"):
        raise InputError(f"EMIT file has no {why or name} ({name}): {path}")
    return item


def _read(dataset, selection, path: Path) -> np.ndarray:
    try:
        return dataset[selection]
    except (OSError, ValueError) as exc:  # truncated or corrupt HDF5 chunks
        raise InputError(f"EMIT file cannot be read ({one_line(exc)}): {path}") from None


def _bands(f, path: Path, count: int) -> Bands:
    wavelengths = _read(_dataset(f, "sensor_band_parameters/wavelengths", path, "band wavelengths"), (), path)
    fwhm = _read(_dataset(f, "sensor_band_parameters/fwhm", path, "band widths"), (), path)
    good = f.get("sensor_band_parameters/good_wavelengths")
    good = np.ones(count, int) if good is None else _read(good, (), path)
    for name, values in (("wavelengths", wavelengths), ("fwhm", fwhm), ("good_wavelengths", good)):
        if np.ndim(values) != 1 or len(values) != count:
            raise InputError(f"EMIT sensor_band_parameters/{name} has {np.size(values)} values for {count} "
                             f"reflectance bands: {path}")
    return Bands(wavelengths=list(wavelengths), fwhm=list(fwhm), bbl=[int(v != 0) for v in good])


def _attribute_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _attribute_text(value.reshape(()).item())
    return str(value)


def _georeference(f, path: Path) -> tuple[CRS, Affine]:
    if "geotransform" not in f.attrs or "spatial_ref" not in f.attrs:
        raise InputError(f"EMIT file has no map grid (global attributes geotransform, spatial_ref): {path}")
    numbers = np.asarray(f.attrs["geotransform"], dtype=float).ravel()
    if numbers.size != 6 or not np.all(np.isfinite(numbers)) or numbers[1] == 0 or numbers[5] == 0:
        raise InputError(f"EMIT geotransform attribute is not 6 usable numbers ({numbers.tolist()}): {path}")
    try:
        crs = CRS.from_wkt(_attribute_text(f.attrs["spatial_ref"]))
    except CRSError as exc:
        raise InputError(f"EMIT spatial_ref attribute is not a usable WKT ({one_line(exc)}): {path}") from None
    return crs, Affine.from_gdal(*numbers)


def _glt(f, path: Path):
    if "location" not in f:
        raise InputError(f"EMIT file has no geometry lookup table (location/glt_x, glt_y): {path}")
    glt_x = _dataset(f, "location/glt_x", path, "geometry lookup table")
    glt_y = _dataset(f, "location/glt_y", path, "geometry lookup table")
    if glt_x.ndim != 2 or glt_x.shape != glt_y.shape:
        raise InputError(f"EMIT geometry lookup tables glt_x {glt_x.shape} and glt_y {glt_y.shape} differ: {path}")
    return glt_x, glt_y


def _raw_rows(cube, budget: int) -> int:
    """Raw downtrack rows per read so that one read of full width and all bands fits ``budget`` bytes."""
    row_bytes = int(np.prod(cube.shape[1:])) * 4
    return int(max(1, min(256, budget // row_bytes)))


def _read_raw(cube, rows: slice, cols: slice, fill: float, path: Path) -> np.ndarray:
    data = _read(cube, (rows, cols), path).astype(np.float32, copy=False)
    data[(data == fill) | ~np.isfinite(data)] = NODATA
    return data


def _ortho_block(cube, gx: np.ndarray, gy: np.ndarray, fill: float, path: Path) -> np.ndarray:
    """(bands, rows, cols) reflectance for one block of the map grid.

    The raw pixels the block needs are read band of rows by band of rows, each time only their bounding
    rectangle: a rotated swath needs a diagonal strip of the raw cube, and a rectangle around the part of the
    strip inside a few rows is much smaller than those full rows when the file is chunked across track.
    """
    downtrack, crosstrack, bands = cube.shape
    gx, gy = np.abs(gx.astype(np.int64)), np.abs(gy.astype(np.int64))
    out = np.full((bands, gx.size), NODATA, np.float32)
    where = np.flatnonzero((gx != 0) & (gy != 0))
    src_rows, src_cols = gy.ravel()[where] - 1, gx.ravel()[where] - 1
    if where.size and (src_rows.max() >= downtrack or src_cols.max() >= crosstrack):
        raise InputError(f"EMIT geometry lookup table points outside the {downtrack} x {crosstrack} reflectance "
                         f"cube: {path}")
    step = _raw_rows(cube, READ_BYTES)
    bins = src_rows // step
    for k in np.unique(bins):
        sel = np.flatnonzero(bins == k)
        rows, cols = src_rows[sel], src_cols[sel]
        r0, c0 = int(rows.min()), int(cols.min())
        data = _read_raw(cube, slice(r0, int(rows.max()) + 1), slice(c0, int(cols.max()) + 1), fill, path)
        out[:, where[sel]] = data[rows - r0, cols - c0].T
    return out.reshape((bands,) + gx.shape)


def write(path: Path, target: str, geotiff: bool) -> None:
    """Orthorectify the EMIT L2A reflectance at ``path`` into the GeoTIFF ``target``."""
    with open_hdf5(path, "EMIT") as f:
        cube = _dataset(f, "reflectance", path, "reflectance cube")
        if cube.ndim != 3:
            raise InputError(f"EMIT reflectance is not a [downtrack, crosstrack, bands] cube {cube.shape}: {path}")
        bands = _bands(f, path, cube.shape[2])
        glt_x, glt_y = _glt(f, path)
        crs, transform = _georeference(f, path)
        fill = float(np.asarray(cube.attrs.get("_FillValue", NODATA)).ravel()[0])
        height, width = glt_x.shape
        rows = block_rows(width * len(bands) * 4, BLOCK_BYTES)
        profile = geotiff_profile(width, height, len(bands), crs, transform, NODATA, rows)
        with rasterio.open(target, "w", **profile) as dst:
            write_band_metadata(dst, bands, SENSOR)
            for start, stop in row_blocks(height, rows):
                gx, gy = _read(glt_x, np.s_[start:stop], path), _read(glt_y, np.s_[start:stop], path)
                block = _ortho_block(cube, gx, gy, fill, path)
                dst.write(block, window=Window(0, start, width, stop - start))
