import os
import sys
from pathlib import Path

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from scenes import TINY, training_boxes, write_polygons, write_scene  # noqa: E402


@pytest.fixture
def scene(tmp_path):
    """A 40 x 48 pixel, 12-band scene with three classes and training polygons in EPSG:4326."""
    s = write_scene(tmp_path / "scene.tif")
    s.training = write_polygons(tmp_path / "training.gpkg", s, training_boxes(s), to_crs="EPSG:4326")
    return s


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny model trained on a generated scene, shared by the tests that only read it."""
    import contrastdm

    folder = tmp_path_factory.mktemp("trained")
    s = write_scene(folder / "scene.tif")
    s.training = write_polygons(folder / "training.gpkg", s, training_boxes(s), to_crs="EPSG:4326")
    s.model = folder / "model.safetensors"
    s.result = contrastdm.train(s.raster, s.training, "class_name", s.model, device="cpu", **TINY)
    return s
