import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
# train() and the CLI keep the scene cache in the user's cache folder by default: the tests (and the engine
# processes they start) use a folder of their own, removed at the end, never the real one.
_CACHE = tempfile.mkdtemp(prefix="contrastdm-test-cache-")
os.environ["CONTRASTDM_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from scenes import TINY, training_boxes, write_polygons, write_scene  # noqa: E402


@pytest.fixture(autouse=True)
def _empty_default_cache(monkeypatch):
    """Every test starts with an empty default cache folder (a session fixture uses the session's)."""
    monkeypatch.setenv("CONTRASTDM_CACHE_DIR", tempfile.mkdtemp(dir=_CACHE))


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
