"""Tiny synthetic hyperspectral scenes written to disk as real GeoTIFFs and GeoPackages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CRS = "EPSG:32616"
ORIGIN = (500_000.0, 4_480_000.0)
PIXEL = 10.0
CLASS_NAMES = ("Corn", "Soybean", "Woods")

# Tiny training settings: each stage runs, in seconds, on the 2-core CPU.
LEARNER = dict(contrastive_epochs=1, contrastive_samples_per_epoch=256, diffusion_steps=40, diffusion_views=1,
               diffusion_unlabeled=128, synthetic_per_class=8, ddim_steps=4, finetune_epochs=4, batch_size=64,
               patch_size=5, seed=0)
TINY = dict(preset="fast", pca_components=6, **LEARNER)
TINY_CLI = ["--preset", "fast", "--pca-components", "6"] + [f"--set={k}={v}" for k, v in LEARNER.items()]


@dataclass
class Scene:
    raster: Path
    truth: np.ndarray  # class index 1..K per pixel, 0 = none
    transform: object
    names: tuple


def class_spectra(bands: int, classes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, bands)
    spectra = []
    for k in range(classes):
        centre = (k + 0.5) / classes
        spectra.append(1000 + 600 * np.exp(-((x - centre) ** 2) / 0.02) + 100 * rng.random(bands))
    return np.array(spectra)


def truth_layout(height: int, width: int, classes: int) -> np.ndarray:
    """Vertical stripes of classes, one per block of columns."""
    truth = np.zeros((height, width), dtype=np.int64)
    edges = np.linspace(0, width, classes + 1).astype(int)
    for k in range(classes):
        truth[:, edges[k]:edges[k + 1]] = k + 1
    return truth


def write_scene(path, height: int = 40, width: int = 48, bands: int = 12, classes: int = 3, seed: int = 0,
                dtype: str = "uint16", nodata=None, nodata_border: int = 0, crs=CRS, noise: float = 40.0,
                truth: np.ndarray | None = None) -> Scene:
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    truth = truth_layout(height, width, classes) if truth is None else truth
    spectra = class_spectra(bands, classes, seed)
    cube = spectra[truth - 1].transpose(2, 0, 1) + noise * rng.standard_normal((bands, height, width))
    cube = np.clip(cube, 1, None).astype(dtype)
    if nodata_border:
        b = nodata_border
        for sl in (np.s_[:, :b, :], np.s_[:, -b:, :], np.s_[:, :, :b], np.s_[:, :, -b:]):
            cube[sl] = nodata
    transform = from_origin(*ORIGIN, PIXEL, PIXEL)
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=bands, dtype=dtype,
                       crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(cube)
    return Scene(Path(path), truth, transform, CLASS_NAMES[:classes] if classes <= 3 else tuple(f"c{k}" for k in range(1, classes + 1)))


def pixel_box(transform, row0, col0, row1, col1):
    from shapely.geometry import box

    x0, y0 = transform * (col0, row1)
    x1, y1 = transform * (col1, row0)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def write_polygons(path, scene: Scene, boxes, field: str = "class_name", values=None, crs=CRS, to_crs=None,
                   layer: str | None = None):
    """``boxes``: ``[(row0, col0, row1, col1, class_index), ...]`` in pixels; values default to class names."""
    import geopandas as gpd

    geoms = [pixel_box(scene.transform, r0, c0, r1, c1) for r0, c0, r1, c1, _ in boxes]
    labels = [values[k] if values is not None else scene.names[k - 1] for *_, k in boxes]
    frame = gpd.GeoDataFrame({field: labels}, geometry=geoms, crs=crs)
    if to_crs:
        frame = frame.to_crs(to_crs)
    frame.to_file(path, driver="GPKG", layer=layer) if layer else frame.to_file(path, driver="GPKG")
    return Path(path)


def training_boxes(scene: Scene, size: int = 4):
    """Two square boxes inside each class stripe."""
    boxes = []
    height, width = scene.truth.shape
    for k in range(1, len(scene.names) + 1):
        cols = np.flatnonzero(scene.truth[0] == k)
        c = int(cols[len(cols) // 2]) - size // 2
        for r in (height // 4, 3 * height // 4 - size):
            boxes.append((r, c, r + size, c + size, k))
    return boxes
