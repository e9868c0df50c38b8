"""Cloud-Optimized GeoTIFF (COG) copies of finished GeoTIFFs, and their validation.

A COG is a tiled GeoTIFF whose internal overviews and IFDs are laid out so a reader can fetch any area
at any zoom with a few HTTP range requests. GDAL's COG driver (GDAL >= 3.1; explicit overview counts need
3.6) writes one from a finished raster: :func:`write_cog` wraps it with the options ContrastDM's outputs
need, :func:`validate_cog` runs GDAL's own validator on the result.

Overview resampling, per product (the ``resampling`` argument):

* class maps: ``"nearest"`` (what :class:`~contrastdm.io.writer.ClassificationWriter` uses) or ``"mode"``.
  Both only ever produce class ids that exist; averaging would invent ids between classes (1 and 5 ->
  3, another class). ``nearest`` samples one pixel per block, so class proportions stay right on average
  and thin classes (roads, rivers) survive at coarse zooms, at the price of some aliasing; ``mode`` draws
  the majority class, a smoother picture that erases minority classes and lets classes grow into
  unclassified pixels (GDAL skips nodata in the vote).
* confidence and probabilities: ``"average"``; GDAL leaves the nodata value (-1) out of the mean, so an
  overview pixel is the mean confidence of the classified pixels under it.
"""

from __future__ import annotations

import os
from typing import Sequence, Union

import rasterio
import rasterio.shutil

RESAMPLINGS = ("nearest", "mode", "average", "rms", "bilinear", "cubic", "cubicspline", "lanczos", "gauss")
BLOCKSIZE = 512  # GDAL's COG default: few requests per tile, few tiles for a small map
OverviewLevels = Union[int, Sequence[int], None]


def _overview_options(overview_levels: OverviewLevels) -> dict[str, str]:
    """``None``: GDAL's rule, halving until the smallest overview fits in one block (a raster that fits in
    one block gets none: that tile already serves every zoom, and the validator asks for overviews only
    above 512 pixels); an int: that many levels (0: none); a sequence: the factors 2, 4, ..., 2**n (the COG
    driver only halves)."""
    # Existing overviews of the source are ignored, so the resampling asked for is the one used.
    if overview_levels is None:
        return {"OVERVIEWS": "IGNORE_EXISTING"}
    if isinstance(overview_levels, int):
        count = overview_levels
    else:
        levels = [int(level) for level in overview_levels]
        if levels != [2 ** (i + 1) for i in range(len(levels))]:
            raise ValueError(f"overview levels must be 2, 4, 8, ... (the COG driver halves), got {levels}")
        count = len(levels)
    if count < 0:
        raise ValueError(f"overview count must be >= 0, got {count}")
    if count == 0:
        return {"OVERVIEWS": "NONE"}
    return {"OVERVIEWS": "IGNORE_EXISTING", "OVERVIEW_COUNT": str(count)}


def cog_options(dtype: str, resampling: str = "nearest", overview_levels: OverviewLevels = None) -> dict[str, str]:
    """Creation options of the COG driver for a raster of ``dtype``."""
    if resampling not in RESAMPLINGS:
        raise ValueError(f"unknown resampling '{resampling}'; use one of {', '.join(RESAMPLINGS)}")
    # DEFLATE as the writer's tiled GeoTIFFs (readable everywhere, unlike ZSTD/LERC in older GDAL builds).
    # The floating-point predictor roughly halves float rasters; on class ids differencing only adds
    # entropy at class edges, so integers get none (as in the writer).
    predictor = "YES" if dtype.startswith("float") else "NO"
    return {
        "COMPRESS": "DEFLATE", "OVERVIEW_COMPRESS": "DEFLATE",
        "PREDICTOR": predictor, "OVERVIEW_PREDICTOR": predictor,
        "BLOCKSIZE": str(BLOCKSIZE),
        "RESAMPLING": resampling.upper(),  # RESAMPLING (3.1) rather than OVERVIEW_RESAMPLING (3.2): older
        "BIGTIFF": "IF_SAFER",             # GDAL; nothing is warped, so it acts on overviews only
        **_overview_options(overview_levels),
    }


def _remove(path: str) -> None:
    for leftover in (path, path + ".aux.xml"):
        try:
            os.remove(leftover)
        except FileNotFoundError:
            pass


def write_cog(src: str | os.PathLike, dst: str | os.PathLike, *, resampling: str = "nearest",
              overview_levels: OverviewLevels = None) -> None:
    """Copy the finished GeoTIFF ``src`` into the COG ``dst`` (DEFLATE, 512-pixel tiles, internal overviews).

    ``resampling``: how overviews are computed (see the module notes: ``"nearest"`` or ``"mode"`` for class
    maps, ``"average"`` for confidence and probabilities). ``overview_levels``: ``None`` (GDAL's automatic
    levels), a count, or the factors ``[2, 4, ...]``.

    GDAL's CreateCopy keeps CRS, transform, nodata, the colour table and colour interpretation, band
    descriptions and dataset and band tags inside the TIFF. Category names cannot live in a TIFF: GDAL writes
    them, as for the source, to the ``<dst>.aux.xml`` sidecar, which must travel with the COG. ``dst`` is
    written in place; on failure it (and its sidecar) is removed, so stage and rename for an atomic swap.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("the COG must be written to another path than its source")
    with rasterio.open(src) as dataset:
        options = cog_options(dataset.dtypes[0], resampling, overview_levels)
    try:
        rasterio.shutil.copy(src, dst, driver="COG", **options)
    except BaseException:
        _remove(dst)
        raise


def validate_cog(path: str | os.PathLike) -> list[str]:
    """Errors GDAL's ``validate_cloud_optimized_geotiff`` finds in ``path`` (full check of the tile layout);
    ``[]``: a valid COG. Its warnings (e.g. no overviews on a large raster) are not errors and are dropped.
    A file GDAL cannot open as a GeoTIFF gives one error."""
    try:
        from osgeo_utils.samples import validate_cloud_optimized_geotiff as validator
    except ImportError as exc:  # GDAL's Python utilities (python3-gdal / osgeo_utils, GDAL >= 3.2)
        raise ImportError("validate_cog needs GDAL's Python utilities (osgeo_utils)") from exc
    try:
        result = validator.validate(os.fspath(path), full_check=True)
    except validator.ValidateCloudOptimizedGeoTIFFException as exc:
        return [str(exc)]
    # (warnings, errors, details) since GDAL 3.1; (errors, details) before
    return list(result[1] if len(result) == 3 else result[0])
