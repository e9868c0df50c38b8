"""PRISMA L2D (HDF-EOS5 ``.he5``): VNIR and SWIR cubes as one reflectance GeoTIFF sorted by wavelength.

Layout followed (ASI PRISMA Product Specification, as read by the ``prismaread`` R package
``R/pr_create_vnir.R``, ``R/pr_get_geoloc.R``, ``R/pr_setext_L2D.R``, ``R/pr_rastwrite_lines.R``, and by
EnMAP-Box ``importprismal2dalgorithm.py``):

* file ``PRS_L2D_STD_<start>_<stop>_0001.he5``;
* ``HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/VNIR_Cube`` and ``SWIR_Cube``: uint16 [rows, bands, cols]; row 0 is
  the northern edge and column 0 the western edge of the map-projected grid (no flip or transpose is applied
  by either reader);
* root attributes ``List_Cw_Vnir``, ``List_Fwhm_Vnir``, ``List_Cw_Swir``, ``List_Fwhm_Swir`` (nm): one value per
  cube band, in cube order (usually decreasing wavelength); wavelength 0 marks an unused band, which is
  dropped; ``List_Cw_Vnir_Flags``/``List_Cw_Swir_Flags`` (1 active), when present, give ``bbl``;
* ``L2ScaleVnirMin/Max``, ``L2ScaleSwirMin/Max``: reflectance = Min + DN * (Max - Min) / 65535;
* ``Epsg_Code`` and ``Product_ULcorner_easting``/``_northing``: the centre of the upper-left pixel (both readers
  subtract half a pixel), with ``Product_LLcorner_easting``/``Product_URcorner_northing`` used like prismaread
  when present; the HCO grid has 30 m pixels.

Output: float32 physical reflectance, VNIR and SWIR bands merged and sorted by wavelength. Bands of the
900-1000 nm region seen by both detectors are all kept (a VNIR band and a SWIR band at close wavelengths sit
side by side), since dropping either would be a choice the product does not make. Pixels whose DN is 0 in
every band lie outside the acquisition and get nodata -9999 (EnMAP-Box masks the same pixels). Rows are
processed in blocks, so memory stays bounded. Other PRISMA levels are recognised and refused.
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

SENSOR = "PRISMA L2D"
SUFFIX = ".tif"
NODATA = -9999.0
PIXEL_SIZE = 30.0
BLOCK_BYTES = 128 * 2**20
FIELDS = "HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields"
DETECTORS = ("Vnir", "Swir")

_NAME = re.compile(r"^PRS_(L[0-9][A-Z]?)_.*\.he5$", re.IGNORECASE)


def detect(path: Path) -> str | None:
    match = _NAME.match(path.name)
    if match:
        return f"PRISMA {match.group(1).upper()}"
    names = hdf5_groups(path)
    if names and "HDFEOS/SWATHS/PRS_L2D_HCO" in names:
        return SENSOR
    return None


def sources(path: Path) -> list[Path]:
    sensor = detect(path)
    if sensor != SENSOR:
        raise InputError(f"{sensor} products are not supported; give a PRISMA L2D file (PRS_L2D_*.he5): {path}")
    return [path]


def _attribute(f, name: str, path: Path) -> np.ndarray:
    if name not in f.attrs:
        raise InputError(f"PRISMA L2D file has no {name} attribute: {path}")
    values = np.asarray(f.attrs[name]).ravel()  # float32 lists stay float32: tags without float64 noise
    if not np.issubdtype(values.dtype, np.number) or values.size == 0:
        raise InputError(f"PRISMA L2D attribute {name} is not numeric: {path}")
    return values


def _cubes(f, path: Path):
    names = [f"{FIELDS}/{d.upper()}_Cube" for d in DETECTORS]
    missing = [name for name in names if not hasattr(f.get(name), "shape")]
    if missing:
        raise InputError(f"PRISMA L2D file has no {' and no '.join(missing)}: {path}")
    cubes = [f[name] for name in names]
    if any(c.ndim != 3 for c in cubes) or cubes[0].shape[::2] != cubes[1].shape[::2]:
        raise InputError(f"PRISMA L2D cubes are not [rows, bands, cols] on one grid "
                         f"({cubes[0].shape}, {cubes[1].shape}): {path}")
    return cubes


def _detector(f, detector: str, count: int, path: Path):
    """(kept cube band indices, wavelengths, fwhm, bbl, (min, max)) of one detector."""
    wavelengths = _attribute(f, f"List_Cw_{detector}", path)
    fwhm = _attribute(f, f"List_Fwhm_{detector}", path)
    flags_name = f"List_Cw_{detector}_Flags"
    flags = _attribute(f, flags_name, path) if flags_name in f.attrs else np.ones(count)
    for name, values in ((f"List_Cw_{detector}", wavelengths), (f"List_Fwhm_{detector}", fwhm), (flags_name, flags)):
        if values.size != count:
            raise InputError(f"PRISMA L2D {name} has {values.size} values for {count} cube bands: {path}")
    scale = (_attribute(f, f"L2Scale{detector}Min", path)[0], _attribute(f, f"L2Scale{detector}Max", path)[0])
    keep = np.flatnonzero(wavelengths > 0)
    return keep, wavelengths[keep], fwhm[keep], (flags[keep] != 0).astype(int), scale


def _georeference(f, path: Path) -> tuple[CRS, Affine]:
    try:
        crs = CRS.from_epsg(int(_attribute(f, "Epsg_Code", path)[0]))
    except (CRSError, ValueError) as exc:
        raise InputError(f"PRISMA L2D Epsg_Code is not a usable EPSG code ({one_line(exc)}): {path}") from None
    east = _attribute(f, "Product_ULcorner_easting", path)[0]
    north = _attribute(f, "Product_ULcorner_northing", path)[0]
    if "Product_LLcorner_easting" in f.attrs:
        east = min(east, _attribute(f, "Product_LLcorner_easting", path)[0])
    if "Product_URcorner_northing" in f.attrs:
        north = max(north, _attribute(f, "Product_URcorner_northing", path)[0])
    half = PIXEL_SIZE / 2  # the corner attributes are pixel centres
    return crs, Affine(PIXEL_SIZE, 0.0, east - half, 0.0, -PIXEL_SIZE, north + half)


def _read(dataset, selection, path: Path) -> np.ndarray:
    try:
        return dataset[selection]
    except (OSError, ValueError) as exc:  # truncated or corrupt HDF5 chunks
        raise InputError(f"PRISMA L2D file cannot be read ({one_line(exc)}): {path}") from None


def _block(cubes, detectors, positions, count: int, start: int, stop: int, path: Path) -> np.ndarray:
    """(bands, rows, cols) reflectance of grid rows start..stop, bands in wavelength order.

    Filled band by band into one float32 array: memory is that array plus one detector's uint16 rows."""
    out = np.empty((count, stop - start, cubes[0].shape[2]), np.float32)
    outside = np.ones(out.shape[1:], bool)
    for cube, (keep, _wl, _fwhm, _bbl, (low, high)), where in zip(cubes, detectors, positions):
        dn = _read(cube, np.s_[start:stop], path)  # (rows, cube bands, cols) uint16
        gain = np.float32((float(high) - float(low)) / 65535.0)
        for band, position in zip(keep, where):
            layer = dn[:, band, :]
            outside &= layer == 0
            np.multiply(layer, gain, out=out[position], dtype=np.float32)
            out[position] += np.float32(low)
    out[:, outside] = NODATA
    return out


def write(path: Path, target: str, geotiff: bool) -> None:
    """Write the PRISMA L2D reflectance at ``path`` into the GeoTIFF ``target``."""
    with open_hdf5(path, "PRISMA L2D") as f:
        cubes = _cubes(f, path)
        detectors = [_detector(f, d, c.shape[1], path) for d, c in zip(DETECTORS, cubes)]
        wavelengths = np.concatenate([d[1] for d in detectors])
        if wavelengths.size == 0:
            raise InputError(f"PRISMA L2D file lists no band wavelengths (all List_Cw_* are 0): {path}")
        order = np.argsort(wavelengths, kind="stable")  # stable: at equal wavelengths VNIR comes first
        bands = Bands(wavelengths=list(wavelengths[order]),
                      fwhm=list(np.concatenate([d[2] for d in detectors])[order]),
                      bbl=list(np.concatenate([d[3] for d in detectors])[order]))
        crs, transform = _georeference(f, path)
        height, _, width = cubes[0].shape
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)  # output position of each kept band, VNIR then SWIR
        positions = np.split(rank, [detectors[0][0].size])
        rows = block_rows(width * (len(bands) * 4 + max(c.shape[1] for c in cubes) * 2), BLOCK_BYTES)
        profile = geotiff_profile(width, height, len(bands), crs, transform, NODATA, rows)
        with rasterio.open(target, "w", **profile) as dst:
            write_band_metadata(dst, bands, SENSOR)
            for start, stop in row_blocks(height, rows):
                dst.write(_block(cubes, detectors, positions, len(bands), start, stop, path),
                          window=Window(0, start, width, stop - start))
