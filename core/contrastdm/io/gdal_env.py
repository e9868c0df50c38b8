"""The engine's GDAL and PROJ settings, applied where the engine runs rather than when it is imported.

``import contrastdm`` leaves the process environment alone (a host application such as QGIS shares it):
the GDAL block cache limit is set for the duration of the engine's entry points only, and the PROJ data
fallback is set only by the engine's own process (the CLI).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import MutableMapping

# GDAL's block cache defaults to 5% of RAM and grows with the scene; tiles are read once, so a small cache
# keeps peak memory bounded by the tile size. rasterio's setter takes bytes (GDALSetCacheMax64), whereas the
# GDAL_CACHEMAX environment variable reads small numbers as megabytes.
CACHE_MAX_BYTES = 128 * 1024 * 1024
SYSTEM_PROJ_DATA = "/usr/share/proj"


def user_sets_cache_max() -> bool:
    """Whether the user chose GDAL's cache size: the environment variable, or an enclosing rasterio.Env."""
    if os.environ.get("GDAL_CACHEMAX"):
        return True
    from rasterio.env import getenv, hasenv

    return hasenv() and "GDAL_CACHEMAX" in {str(key).upper() for key in getenv()}


@contextlib.contextmanager
def gdal_settings():
    """A context in which GDAL reads and writes with the engine's settings; the user's own cache size wins.

    Set and restored by hand rather than with ``rasterio.Env``: while an Env is open, rasterio's own GDAL
    error handler takes the write errors (a full disk while flushing) that the output writer listens for.
    """
    if user_sets_cache_max():
        yield
        return
    from rasterio.env import get_gdal_config, set_gdal_config

    previous = get_gdal_config("GDAL_CACHEMAX")  # the cache size in bytes, whatever set it
    set_gdal_config("GDAL_CACHEMAX", CACHE_MAX_BYTES)
    try:
        yield
    finally:
        if previous is not None:
            set_gdal_config("GDAL_CACHEMAX", previous)


def with_gdal_settings(function):
    """Run ``function`` inside :func:`gdal_settings` (for the engine's entry points)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with gdal_settings():
            return function(*args, **kwargs)

    return wrapper


def use_system_proj_data(environ: MutableMapping[str, str] | None = None) -> None:
    """pyproj in a virtual environment does not always find the system PROJ database: point PROJ_DATA at it
    when neither PROJ_DATA nor PROJ_LIB is set. For the engine's own process only."""
    environ = os.environ if environ is None else environ
    if not (environ.get("PROJ_DATA") or environ.get("PROJ_LIB")) and os.path.exists(
            os.path.join(SYSTEM_PROJ_DATA, "proj.db")):
        environ["PROJ_DATA"] = SYSTEM_PROJ_DATA
