"""Sensor products (EnMAP L2A, EMIT L2A reflectance, PRISMA L2D) turned into rasters GDAL reads.

The engine reads every raster through rasterio, so a product is converted once into a GDAL-readable
file that carries standard band metadata, and nothing downstream needs to know it was a product:

* per band, in the default metadata domain: ``wavelength`` (nm), ``wavelength_units`` = ``Nanometers``,
  ``fwhm`` (nm) and ``bbl`` (``"1"`` good band, ``"0"`` bad band);
* the product's nodata value as the band nodata;
* a band description such as ``band 12 (550.3 nm)``;
* physical values: EnMAP keeps its integer pixels and sets GDAL band scale/offset (physical =
  raw * scale + offset, the product's gains and offsets); EMIT and PRISMA are written as float32 with the
  physical reflectance already applied (scale 1, offset 0).

API::

    detect(path) -> Product | None        # cheap: file name and, for HDF5, a look at the group names
    materialize(path, output_dir) -> Path # cached GDAL-readable raster in output_dir
    convert(path, output) -> Path         # the same, as a GeoTIFF at a path the user chose

``materialize`` names its file after the product's absolute path, size and modification time (a short
sha256), so a changed product gets a new file; an existing file that is newer than the product is reused
as is. Files are written under a temporary name and moved into place (:mod:`contrastdm.io.atomic`), so an
error never leaves a partial file behind.

The readers follow public specifications and reference code; each module's docstring names its sources.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ...errors import InputError
from ..atomic import atomic_outputs

PathLike = Union[str, "os.PathLike[str]"]

WAVELENGTH_UNITS = "Nanometers"
HDF5_SUFFIXES = (".nc", ".nc4", ".h5", ".he5", ".hdf5", ".hdf")


@dataclass(frozen=True)
class Product:
    sensor: str  # "EnMAP L2A", "EMIT L2A reflectance", "PRISMA L2D" (other levels: named, not supported)
    path: str  # the file (or EnMAP folder) the user gave


@dataclass(frozen=True)
class Bands:
    """Spectral description of the bands of a materialized raster, in output band order."""

    wavelengths: Sequence[float]  # nm
    fwhm: Sequence[float]  # nm
    bbl: Sequence[int]  # 1 good, 0 bad

    def __post_init__(self) -> None:
        if not len(self.wavelengths) == len(self.fwhm) == len(self.bbl):
            raise ValueError("wavelengths, fwhm and bbl differ in length")

    def __len__(self) -> int:
        return len(self.wavelengths)

    def tags(self, index: int) -> dict[str, str]:
        """GDAL band metadata (default domain) of 0-based band ``index``."""
        return {
            "wavelength": number(self.wavelengths[index]),
            "wavelength_units": WAVELENGTH_UNITS,
            "fwhm": number(self.fwhm[index]),
            "bbl": "1" if int(self.bbl[index]) else "0",
        }

    def description(self, index: int) -> str:
        return f"band {index + 1} ({float(self.wavelengths[index]):.1f} nm)"


def _modules():
    # Imported here: the sensor modules import the helpers of this package.
    from . import emit, enmap, prisma

    return (enmap, emit, prisma)


def _detect(path: PathLike):
    target = Path(os.fspath(path))
    if not target.exists():
        return None
    for module in _modules():
        sensor = module.detect(target)
        if sensor:
            return Product(sensor=sensor, path=os.fspath(path)), module
    return None


def detect(path: PathLike) -> Product | None:
    """The sensor product at ``path``, or None for an ordinary raster. Never raises."""
    try:
        found = _detect(path)
    except (OSError, ValueError):
        return None
    return found[0] if found else None


def _require(path: PathLike):
    try:
        found = _detect(path)
    except (OSError, ValueError):
        found = None
    if found is None:
        raise InputError(f"not a supported sensor product (EnMAP L2A, EMIT L2A reflectance, PRISMA L2D): {path}")
    return found


def _cache_key(sources: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for source in sources:
        stat = source.stat()
        digest.update(f"{os.path.abspath(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:12]


def _fresh(final: Path, sources: Sequence[Path]) -> bool:
    try:
        built = final.stat().st_mtime_ns
    except OSError:
        return False
    return all(built >= source.stat().st_mtime_ns for source in sources)


def materialize(path: PathLike, output_dir: PathLike) -> Path:
    """A GDAL-readable raster for the product at ``path``, written into (or reused from) ``output_dir``.

    Raises :class:`InputError` (one line) for anything unsupported or malformed; no file is left then.
    """
    product, module = _require(path)
    sources = module.sources(Path(product.path))
    folder = Path(os.path.abspath(os.fspath(output_dir)))
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", sources[0].stem)[:96]
    final = folder / f"{stem}-{_cache_key(sources)}{module.SUFFIX}"
    if _fresh(final, sources):
        return final
    with atomic_outputs(final, inputs=sources) as (temp,):
        module.write(Path(product.path), temp, geotiff=False)
    return final


def convert(path: PathLike, output: PathLike) -> Path:
    """Write the product at ``path`` as a GeoTIFF at ``output`` (replaced atomically); return its path."""
    product, module = _require(path)
    sources = module.sources(Path(product.path))
    with atomic_outputs(output, inputs=sources) as (temp,):
        module.write(Path(product.path), temp, geotiff=True)
    return Path(os.path.abspath(os.fspath(output)))


# ---- helpers shared by the sensor modules -------------------------------------------------------


def number(value) -> str:
    """Shortest text that reads back as the same number (float32 values without float64 noise)."""
    if isinstance(value, (np.floating, float)):
        text = np.format_float_positional(value, trim="-")
    else:
        text = str(value)
    return text


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def geotiff_profile(width: int, height: int, count: int, crs, transform, nodata: float, rows: int) -> dict:
    """Tiled, compressed float32 GeoTIFF whose tile height equals the rows written per block, so each
    block completes whole tiles and nothing is rewritten. Band interleaving keeps a tile small (256 x rows
    x 4 bytes) whatever the band count; pixel interleaving would make one tile of a 285-band scene 70 MB."""
    return {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": "float32",
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": rows,
        "compress": "deflate",
        "predictor": 3,
        "interleave": "band",
        "bigtiff": "if_safer",
    }


def block_rows(row_bytes: int, budget: int) -> int:
    """Rows per block (a multiple of 16, the GeoTIFF tile granularity) that fit ``budget`` bytes."""
    rows = budget // max(int(row_bytes), 1)
    return int(min(256, max(16, rows // 16 * 16)))


def row_blocks(height: int, rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, height, rows):
        yield start, min(start + rows, height)


def write_band_metadata(dst, bands: Bands, sensor: str) -> None:
    """Band tags and descriptions on an open rasterio dataset in write mode."""
    dst.update_tags(sensor=sensor, wavelength_units=WAVELENGTH_UNITS)
    for index in range(len(bands)):
        dst.update_tags(index + 1, **bands.tags(index))
        dst.set_band_description(index + 1, bands.description(index))


def open_hdf5(path: Path, what: str):
    """``h5py.File`` opened read-only, or :class:`InputError` saying why it cannot be."""
    try:
        import h5py
    except ImportError:
        raise InputError(f"reading {what} files needs the Python package h5py, which is not installed: {path}") from None
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{what} file cannot be read as HDF5 ({one_line(exc)}): {path}") from None


def hdf5_groups(path: Path) -> set[str] | None:
    """Top-level names and ``HDFEOS/SWATHS`` members of an HDF5 file, for detection; None if not HDF5."""
    if path.suffix.lower() not in HDF5_SUFFIXES or not path.is_file():
        return None
    try:
        import h5py

        if not h5py.is_hdf5(path):
            return None
        with h5py.File(path, "r") as f:
            names = set(f.keys())
            swaths = f.get("HDFEOS/SWATHS")
            if swaths is not None:
                names |= {f"HDFEOS/SWATHS/{name}" for name in swaths.keys()}
            return names
    except Exception:  # noqa: BLE001 - detection must never fail; the file is then treated as ordinary
        return None


__all__ = ["Product", "detect", "materialize", "convert"]
