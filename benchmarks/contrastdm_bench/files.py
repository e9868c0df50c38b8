"""A benchmark scene as a user has it: the cube as a GeoTIFF and training pixels as polygons in a GeoPackage.

The ContrastDM methods train and classify through :func:`contrastdm.train` and :func:`contrastdm.classify` on
these files, so every benchmark figure comes from the code a user runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CRS = "EPSG:32616"
PIXEL = 20.0  # m; Indian Pines' own size, any pixel size does for the other scenes
CLASS_FIELD = "class_id"


@dataclass
class SceneFiles:
    """A scene written to ``workdir``: ``raster`` and the grid that maps its pixels to coordinates."""

    raster: Path
    shape: tuple
    transform: object  # affine.Affine
    workdir: Path

    def write_training(self, flat_index: np.ndarray, class_ids: np.ndarray, path) -> Path:
        """Pixels ``flat_index`` with their class ids (1..K) as polygons of whole pixels (neighbours of one class
        merged), in the raster's CRS: rasterised back, they cover exactly these pixels."""
        import geopandas as gpd
        from rasterio.features import shapes
        from shapely.geometry import shape

        labels = np.zeros(self.shape, dtype=np.int32)
        labels.reshape(-1)[np.asarray(flat_index, dtype=np.int64)] = class_ids
        polygons = [(shape(g), int(v)) for g, v in shapes(labels, mask=labels > 0, transform=self.transform)]
        frame = gpd.GeoDataFrame({CLASS_FIELD: [v for _, v in polygons]}, geometry=[g for g, _ in polygons],
                                 crs=CRS)
        path = Path(path)
        if path.exists():
            path.unlink()  # OGR would add a layer to an existing GeoPackage
        frame.to_file(path, driver="GPKG", layer="training")
        return path


def _transform(scene):
    from rasterio.transform import from_origin

    if scene.name.startswith("indian-pines"):
        from contrastdm.datasets import indian_pines_transform

        return indian_pines_transform()
    return from_origin(500_000.0, 4_000_000.0 + PIXEL * scene.shape[0], PIXEL, PIXEL)


def _disk_dtype(cube: np.ndarray) -> str:
    if np.issubdtype(cube.dtype, np.integer) and cube.min() >= 0 and cube.max() <= 65535:
        return "uint16"
    if np.issubdtype(cube.dtype, np.integer) and cube.min() >= -32768 and cube.max() <= 32767:
        return "int16"
    return "float32"


def write_scene_files(scene, workdir) -> SceneFiles:
    """``scene.cube`` [H, W, B] as a tiled GeoTIFF in ``workdir``, its wavelengths (nm) in the band metadata."""
    import rasterio

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{scene.name}.tif"
    h, w, b = scene.cube.shape
    dtype = _disk_dtype(scene.cube)
    transform = _transform(scene)
    profile = {"driver": "GTiff", "height": h, "width": w, "count": b, "dtype": dtype, "crs": CRS,
               "transform": transform, "tiled": True, "blockxsize": 64, "blockysize": 64}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.transpose(scene.cube, (2, 0, 1)).astype(dtype))
        if scene.wavelengths is not None:
            for band in range(b):
                dst.update_tags(band + 1, wavelength=f"{scene.wavelengths[band]:.2f}",
                                wavelength_units="Nanometers")
    return SceneFiles(path, (h, w), transform, workdir)


def read_class_map(path) -> np.ndarray:
    """The class ids of a map the engine wrote, ``[H * W]`` (0 where unclassified)."""
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1).astype(np.int64).ravel()
