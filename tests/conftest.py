import os
import sys
from pathlib import Path

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from scenes import training_boxes, write_polygons, write_scene  # noqa: E402


@pytest.fixture
def scene(tmp_path):
    """A 40 x 48 pixel, 12-band scene with three classes and training polygons in EPSG:4326."""
    s = write_scene(tmp_path / "scene.tif")
    s.training = write_polygons(tmp_path / "training.gpkg", s, training_boxes(s), to_crs="EPSG:4326")
    return s


# Tiny training settings: each stage runs, in seconds, on the 2-core CPU.
LEARNER = dict(contrastive_epochs=1, contrastive_samples_per_epoch=256, diffusion_steps=40, diffusion_views=1,
               diffusion_unlabeled=128, synthetic_per_class=8, ddim_steps=4, finetune_epochs=4, batch_size=64,
               patch_size=5, seed=0)
TINY = dict(preset="fast", pca_components=6, **LEARNER)
TINY_CLI = ["--preset", "fast", "--pca-components", "6"] + [f"--set={k}={v}" for k, v in LEARNER.items()]


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
