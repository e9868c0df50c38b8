"""Files of a dialog run: which raster file a layer reads, and where the outputs go by default."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsRasterLayer

OUTPUT_SUFFIXES = {"map": "_classes.tif", "confidence": "_confidence.tif", "model": "_model.safetensors",
                   "report": "_report.html"}


def default_outputs(raster_path: str, exists=os.path.exists, fallback_dir: str | None = None) -> dict[str, str]:
    """Output paths next to the raster (``<stem>_classes.tif``, ...), numbered so no existing file is replaced."""
    raster = Path(raster_path) if raster_path else None
    folder = raster.parent if raster is not None and raster.parent.is_dir() and os.access(raster.parent, os.W_OK) \
        else Path(fallback_dir or Path.home())
    stem = raster.stem if raster is not None else "contrastdm"
    for number in range(1, 1000):
        name = stem if number == 1 else f"{stem}_{number}"
        candidate = {key: str(folder / (name + suffix)) for key, suffix in OUTPUT_SUFFIXES.items()}
        if not any(exists(path) for path in candidate.values()):
            return candidate
    return candidate


def raster_file(layer: QgsRasterLayer | None) -> str:
    if layer is None or layer.providerType() != "gdal":
        return ""
    source = layer.source().split("|")[0]
    return source if os.path.isfile(source) else ""
