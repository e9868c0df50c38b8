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


SENSOR_NODATA = -32768


def write_sensor_scene(path, bad_positions=(4, 9), band_order=None, scale: float | None = 1e-4, seed: int = 0,
                       drop_wavelengths=()) -> Scene:
    """The 12-band scene as an imaging spectrometer delivers it: int16 with nodata -32768, wavelengths (nm) and
    ``bbl`` in the band metadata, a GDAL scale factor, and bad bands (filled with nodata, flagged ``bbl=0``)
    inserted at ``bad_positions``. ``band_order`` permutes the bands on disk (with their metadata);
    ``drop_wavelengths`` leaves out the good bands at those wavelengths."""
    import rasterio

    base = write_scene(Path(path).with_suffix(".base.tif"), seed=seed)
    with rasterio.open(base.raster) as src:
        good, profile = src.read().astype(np.int16), src.profile
    total = good.shape[0] + len(bad_positions)
    wavelengths = np.linspace(450.0, 1000.0, total)
    bad = np.zeros(total, dtype=bool)
    bad[list(bad_positions)] = True
    cube = np.full((total, *good.shape[1:]), SENSOR_NODATA, dtype=np.int16)
    cube[~bad] = good
    keep = [i for i in range(total) if round(wavelengths[i], 1) not in {round(w, 1) for w in drop_wavelengths}]
    order = list(band_order) if band_order is not None else keep
    profile.update(count=len(order), dtype="int16", nodata=SENSOR_NODATA)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cube[order])
        for out_band, band in enumerate(order, start=1):
            dst.update_tags(out_band, wavelength=f"{wavelengths[band]:.2f}", wavelength_units="Nanometers",
                            fwhm="10.0", bbl="0" if bad[band] else "1")
            dst.set_band_description(out_band, f"band {band + 1} ({wavelengths[band]:.1f} nm)")
        if scale is not None:
            dst.scales = [scale] * len(order)
            dst.offsets = [0.0] * len(order)
    base.raster.unlink()
    scene = Scene(Path(path), base.truth, base.transform, base.names)
    scene.wavelengths = wavelengths[order]
    scene.bad = bad[order]
    return scene
