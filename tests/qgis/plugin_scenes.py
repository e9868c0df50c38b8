"""Tiny scenes for the plugin tests: a multiband GeoTIFF and training polygons in another CRS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CRS = "EPSG:32616"
ORIGIN = (500_000.0, 4_480_000.0)
PIXEL = 10.0
CLASSES = ("Corn", "Soybean", "Woods")


@dataclass
class PluginScene:
    raster: Path
    training: Path
    height: int
    width: int
    bands: int
    classes: tuple = CLASSES
    extra: dict = field(default_factory=dict)


def _spectra(bands: int, classes: int) -> np.ndarray:
    x = np.linspace(0.0, 1.0, bands)
    return np.array([1000 + 700 * np.exp(-((x - (k + 0.5) / classes) ** 2) / 0.02) for k in range(classes)])


def truth(height: int, width: int, classes: int) -> np.ndarray:
    """Vertical stripes, class 1..classes from left to right."""
    edges = np.linspace(0, width, classes + 1).astype(int)
    labels = np.zeros((height, width), dtype=np.int64)
    for k in range(classes):
        labels[:, edges[k]:edges[k + 1]] = k + 1
    return labels


def write_raster(path: Path, height: int = 24, width: int = 30, bands: int = 8, classes: int = 3,
                 seed: int = 0) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    cube = _spectra(bands, classes)[truth(height, width, classes) - 1].transpose(2, 0, 1)
    cube = np.clip(cube + 30 * rng.standard_normal(cube.shape), 1, None).astype("uint16")
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=bands, dtype="uint16",
                       crs=CRS, transform=from_origin(*ORIGIN, PIXEL, PIXEL)) as dst:
        dst.write(cube)
    return Path(path)


def training_frame(height: int = 24, width: int = 30, classes: int = 3, size: int = 3, to_crs="EPSG:4326"):
    """Two square polygons inside each class stripe, in ``to_crs`` (the engine reprojects them)."""
    import geopandas as gpd
    from shapely.geometry import box

    labels = truth(height, width, classes)
    geoms, names = [], []
    for k in range(1, classes + 1):
        cols = np.flatnonzero(labels[0] == k)
        col = int(cols[len(cols) // 2]) - size // 2
        for row in (height // 4, 3 * height // 4 - size):
            x0, y1 = ORIGIN[0] + col * PIXEL, ORIGIN[1] - row * PIXEL
            geoms.append(box(x0, y1 - size * PIXEL, x0 + size * PIXEL, y1))
            names.append(CLASSES[k - 1])
    frame = gpd.GeoDataFrame({"class_name": names, "class_id": [CLASSES.index(n) + 1 for n in names]},
                             geometry=geoms, crs=CRS)
    return frame.to_crs(to_crs) if to_crs else frame


def write_scene(folder: Path, seed: int = 0, **kwargs) -> PluginScene:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    height, width, bands = kwargs.get("height", 24), kwargs.get("width", 30), kwargs.get("bands", 8)
    raster = write_raster(folder / "scene.tif", height, width, bands, seed=seed)
    training = folder / "training.gpkg"
    training_frame(height, width).to_file(training, driver="GPKG", layer="training")
    return PluginScene(raster, training, height, width, bands)
