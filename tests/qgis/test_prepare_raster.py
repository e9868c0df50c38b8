"""Preparing a raster ahead of training: ``contrastdm:prepare_raster`` through Processing, the plugin's scene cache
in the QGIS profile given to every training call, and the dialog's background preparation (real engine)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import TINY, RecordingFeedback, wait_for
from plugin_scenes import write_scene
from qgis.core import (
    QgsApplication,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from contrastdm_qgis import settings
from contrastdm_qgis.dialog import ContrastDMDialog

HIT = "preprocessing (band selection and reduction) taken from the scene cache"


def cache_files() -> list[Path]:
    return sorted(Path(settings.scene_cache_dir()).glob("preprocess-*.safetensors"))


def entry_settings(path) -> dict:
    """The settings a scene cache entry was computed with (its safetensors header)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        return json.loads(json.loads(handle.read(length))["__metadata__"]["contrastdm-cache"])["settings"]


def model_metadata(path) -> dict:
    """The model file's JSON metadata, from its safetensors header (the plugin's tests never import the engine)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        return json.loads(json.loads(handle.read(length))["__metadata__"]["contrastdm"])


@pytest.fixture
def empty_cache(qgis_app):
    folder = Path(settings.scene_cache_dir())
    for path in folder.glob("*"):
        path.unlink()
    yield folder
    for path in folder.glob("*"):
        path.unlink()


def run(algorithm, parameters):
    import processing

    feedback = RecordingFeedback()
    return processing.run(algorithm, parameters, feedback=feedback), feedback


def test_prepare_algorithm_is_registered_with_the_training_settings():
    algorithm = QgsApplication.processingRegistry().algorithmById("contrastdm:prepare_raster")
    assert algorithm is not None and algorithm.displayName() == "Prepare raster (scene cache)"
    assert algorithm.group() == "Model training" and "scene cache" in algorithm.shortHelpString()
    params = {p.name(): p for p in algorithm.parameterDefinitions()}
    assert params["INPUT_RASTER"].type() == "raster"
    assert params["PCA_COMPONENTS"].defaultValue() == 0 and params["SEED"].defaultValue() == 0
    assert params["REDUCTION"].options() == ["pca", "mnf"]
    for name in ("PCA_COMPONENTS", "SEED", "REDUCTION", "BANDS", "DROP_BANDS"):
        assert params[name].flags() & QgsProcessingParameterDefinition.FlagAdvanced, name
    assert {o.name() for o in algorithm.outputDefinitions()} == {"CACHE_ENTRY", "CACHE_STATUS"}
    assert Path(settings.scene_cache_dir()) == Path(QgsApplication.qgisSettingsDirPath()) / "contrastdm" / "cache"


def test_prepare_fills_the_profile_cache_and_training_then_hits(tmp_path, engine_ready, empty_cache):
    scene = write_scene(tmp_path / "scene")
    results, feedback = run("contrastdm:prepare_raster",
                            {"INPUT_RASTER": str(scene.raster), "PCA_COMPONENTS": 4, "SEED": 0})
    assert results["CACHE_STATUS"] == "miss"
    entry = Path(results["CACHE_ENTRY"])
    assert cache_files() == [entry] and entry.parent == empty_cache
    started = [t for t in feedback.kinds("debug") if t.startswith("ContrastDM engine started")]
    assert started and f"prepare --raster {scene.raster}" in started[0]
    assert f"--cache-dir {empty_cache}" in started[0]
    assert any(text.startswith("Raster prepared: ") for text in feedback.kinds("info"))

    again, feedback = run("contrastdm:prepare_raster",
                          {"INPUT_RASTER": str(scene.raster), "PCA_COMPONENTS": 4, "SEED": 0})
    assert again["CACHE_STATUS"] == "hit" and Path(again["CACHE_ENTRY"]) == entry

    model = tmp_path / "model.safetensors"
    trained, feedback = run("contrastdm:train_model", {
        "INPUT_RASTER": str(scene.raster), "TRAINING_VECTOR": str(scene.training), "CLASS_FIELD": "class_name",
        "OUTPUT_MODEL": str(model), **TINY, "SYNTHETIC": False})
    assert Path(trained["OUTPUT_MODEL"]) == model
    assert f"{HIT}: {entry}" in feedback.kinds("info")
    assert model_metadata(model)["training"]["cache"] == {"preprocess": "hit", "pretrain": "off", "warm": "off"}
    assert cache_files() == [entry]


@pytest.fixture
def dialog_scene(tmp_path, project):
    scene = write_scene(tmp_path / "scene")
    raster = QgsRasterLayer(str(scene.raster), "scene")
    training = QgsVectorLayer(f"{scene.training}|layername=training", "training", "ogr")
    assert raster.isValid() and training.isValid()
    project.addMapLayers([raster, training])
    return scene, raster


def close(dialog) -> None:
    if dialog.controller.running():
        dialog.cancel()
    wait_for(lambda: not dialog.controller.running() and not dialog.preparer.busy(), 120)
    wait_for(lambda: not dialog.engine.probe.running(), 60)
    dialog.close()
    dialog.deleteLater()


def test_the_dialog_prepares_a_raster_when_it_is_picked(tmp_path, dialog_scene, engine_ready, empty_cache):
    scene, raster = dialog_scene
    dialog = ContrastDMDialog(None)
    dialog.show()
    try:
        texts = []
        dialog.prepare_label.setText("")
        dialog.preparer.state.connect(texts.append)
        # The raster shown when the dialog opens is prepared without a click, in the background.
        wait_for(lambda: dialog.preparer.started == 1, 30)
        assert dialog.preparer.running() and dialog.run_button.isEnabled()  # nothing waits for it
        wait_for(lambda: not dialog.preparer.busy(), 180)
        assert dialog.prepare_label.text() == "Raster ready for training"
        assert any(t.startswith("Preparing the raster for training") for t in texts)
        assert len(cache_files()) == 1

        # Another raster picked: prepared too; picking quickly through several starts only the last one.
        other = write_scene(tmp_path / "other", seed=3)
        second = QgsRasterLayer(str(other.raster), "other")
        third = QgsRasterLayer(str(write_scene(tmp_path / "third", seed=4).raster), "third")
        QgsProject.instance().addMapLayers([second, third])
        dialog.raster_combo.setLayer(second)
        dialog.raster_combo.setLayer(third)
        wait_for(lambda: dialog.preparer.started == 2, 30)
        wait_for(lambda: not dialog.preparer.busy(), 180)
        assert len(cache_files()) == 2 and dialog.preparer.started == 2
        assert dialog.prepare_label.text() == "Raster ready for training"

        # A closed dialog prepares nothing, even when its list follows the project; shown again, it does.
        dialog.hide()
        dialog.raster_combo.setLayer(second)
        app, until = QgsApplication.instance(), time.monotonic() + 1.0
        while time.monotonic() < until:
            app.processEvents()
        assert dialog.preparer.started == 2 and not dialog.preparer.busy()
        dialog.show()
        wait_for(lambda: dialog.preparer.started == 3, 30)
        wait_for(lambda: not dialog.preparer.busy(), 180)
        assert len(cache_files()) == 3
    finally:
        close(dialog)


def test_a_run_started_while_preparing_works(tmp_path, dialog_scene, engine_ready, empty_cache):
    scene, raster = dialog_scene
    dialog = ContrastDMDialog(None)
    dialog.show()
    try:
        for name, value in TINY.items():
            if name in dialog.number_widgets:
                dialog.number_widgets[name].setValue(value)
        dialog.set_preset("fast")
        dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
        dialog.output_checks["report"].setChecked(False)
        # Changing the components prepares again, with the run's settings (PCA 4, seed 0).
        wait_for(lambda: dialog.preparer.running() and dialog.preparer._current.get("PCA_COMPONENTS") == 4, 30)
        assert dialog.run()
        wait_for(lambda: not dialog.controller.running() and not dialog.preparer.busy(), 300)
        assert dialog.stage_label.text().startswith("Done in "), dialog.stage_label.text()
        model = Path(dialog.last_results["OUTPUT_MODEL"])
        assert model_metadata(model)["training"]["cache"]["preprocess"] in ("hit", "miss")
        assert 4 in [entry_settings(path)["pca_components"] for path in cache_files()]
    finally:
        close(dialog)


def test_a_failed_preparation_only_logs(tmp_path, project, engine_ready, empty_cache):
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path / "one_band.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint16", crs="EPSG:32616",
                       transform=from_origin(500_000, 4_480_000, 10, 10)) as dst:
        dst.write(np.ones((1, 8, 8), dtype="uint16"))
    layer = QgsRasterLayer(str(path), "one band")
    assert layer.isValid()
    project.addMapLayer(layer)
    logged = []
    log = QgsApplication.messageLog()
    log.messageReceived.connect(lambda text, tag, level: logged.append((tag, text)))
    dialog = ContrastDMDialog(None)
    dialog.show()
    try:
        wait_for(lambda: dialog.preparer.started == 1, 30)
        wait_for(lambda: not dialog.preparer.busy(), 120)
        failures = [text for tag, text in logged if tag == "ContrastDM" and text.startswith("Preparing the raster")]
        assert len(failures) == 1 and "1 band" in failures[0], (dialog.preparer.started, logged)
        assert dialog.prepare_label.text() == ""
        assert dialog.message_bar.items() == [] and dialog.run_button.isEnabled()
        assert cache_files() == []
    finally:
        close(dialog)
