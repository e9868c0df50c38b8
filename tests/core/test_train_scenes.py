"""Contrastive pre-training over several rasters: label-free patches from other scenes of the same sensor."""

import os
import subprocess
import sys
from pathlib import Path

from scenes import TINY, TINY_CLI, training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.feedback import RecordingFeedback

ROOT = Path(__file__).resolve().parents[2]


def test_label_free_patches_are_shared_among_the_scenes(tmp_path):
    a = write_scene(tmp_path / "a.tif", seed=0)
    b = write_scene(tmp_path / "b.tif", seed=1)
    training = write_polygons(tmp_path / "training.gpkg", a, training_boxes(a))
    feedback = RecordingFeedback()
    result = contrastdm.train(a.raster, training, "class_name", tmp_path / "m.safetensors", device="cpu",
                              unlabelled_rasters=[b.raster], max_unlabelled=400, feedback=feedback, **TINY)
    assert result.model.metadata["training"]["unlabelled_rasters"] == [str(b.raster)]
    messages = [e[2] for e in feedback.events if e[0] == "message"]
    assert any(m.endswith(", 200 unlabelled patches") for m in messages)  # half of 400 on the training raster
    assert f"200 unlabelled patches from {b.raster}" in messages  # the other half on the other scene


def test_a_scene_with_other_bands_is_refused_in_one_line(tmp_path):
    a = write_scene(tmp_path / "a.tif", seed=0)
    other = write_scene(tmp_path / "other.tif", bands=7, seed=1)
    training = write_polygons(tmp_path / "training.gpkg", a, training_boxes(a))
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# scenes of the campaign\n\n{other.raster}\n")
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    done = subprocess.run([sys.executable, "-m", "contrastdm", "train", "--raster", str(a.raster), "--vector",
                           str(training), "--class-field", "class_name", "--model", str(tmp_path / "m.safetensors"),
                           "--unlabelled-list", str(listing), "--device", "cpu", "--progress", "none", *TINY_CLI],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("contrastdm: error: unlabelled raster") and "other.tif" in lines[0]
    assert not (tmp_path / "m.safetensors").exists()
