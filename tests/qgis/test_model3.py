"""resources/models/train_then_classify.model3: up to date, valid, and it runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import make_model3
from plugin_helpers import TINY
from plugin_scenes import CRS
from qgis.core import QgsProcessingModelAlgorithm

from contrastdm_qgis import paths


def load_model() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(paths.model_path())
    return model


def canonical(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = text.split("\n", 1)[1] if text.startswith("<!DOCTYPE") else text
    return ET.canonicalize(text, strip_text=True)


def test_the_committed_model_is_what_the_generator_builds(tmp_path):
    assert Path(paths.model_path()) == make_model3.MODEL_FILE
    fresh = make_model3.main(tmp_path / "fresh.model3")
    assert canonical(fresh) == canonical(make_model3.MODEL_FILE), "run tests/qgis/make_model3.py"


def test_the_model_chains_training_and_classification():
    model = load_model()
    assert model.validate() == (True, [])
    children = model.childAlgorithms()
    assert {child_id: child.algorithmId() for child_id, child in children.items()} == {
        "train": "contrastdm:train_model", "classify": "contrastdm:classify_raster"}
    model_source = children["classify"].parameterSources()["MODEL"][0]
    assert (model_source.outputChildId(), model_source.outputName()) == ("train", "OUTPUT_MODEL")
    assert {p.name() for p in model.parameterDefinitions()} >= {
        "input_raster", "training_vector", "class_field", "preset", "train:Trained model", "classify:Class map",
        "classify:Confidence"}


def test_the_model_runs(plugin_scene, engine_ready, tmp_path):
    import processing
    import rasterio

    model = load_model()
    results = processing.run(model, {
        "input_raster": str(plugin_scene.raster), "training_vector": str(plugin_scene.training),
        "class_field": "class_name", "preset": TINY["PRESET"], "synthetic": False,
        **{name.lower(): TINY[name] for name in ("PATCH_SIZE", "PCA_COMPONENTS", "CONTRASTIVE_EPOCHS",
                                                 "DIFFUSION_STEPS", "FINETUNE_EPOCHS")},
        "train:Trained model": str(tmp_path / "model.safetensors"),
        "classify:Class map": str(tmp_path / "map.tif"), "classify:Confidence": "TEMPORARY_OUTPUT",
    })
    assert Path(results["train:Trained model"]).is_file()
    assert results["classify:Class map"] == str(tmp_path / "map.tif")
    with rasterio.open(results["classify:Class map"]) as dataset:
        assert dataset.crs.to_string() == CRS
        assert (dataset.height, dataset.width) == (plugin_scene.height, plugin_scene.width)
    assert Path(results["classify:Confidence"]).is_file()
