"""The three algorithms end to end through Processing, with the real engine in a child process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import TINY, RecordingFeedback, cancel_after_first_progress, engine_pid, pid_alive
from plugin_scenes import CLASSES, CRS, truth, write_raster
from qgis.core import (
    QgsFeature,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)


def run(algorithm, parameters, feedback=None, load=False):
    import processing

    feedback = feedback or RecordingFeedback()
    if load:  # what the GUI does: outputs go to the project, styled by the algorithm's post-processors
        return processing.runAndLoadResults(algorithm, parameters, feedback=feedback), feedback
    return processing.run(algorithm, parameters, feedback=feedback), feedback


def read_map(path):
    import rasterio

    with rasterio.open(path) as dataset:
        return dataset.crs.to_string(), dataset.read(1), dataset.dtypes[0]


def assert_class_map(path, height, width):
    crs, data, _dtype = read_map(path)
    assert crs == CRS
    assert data.shape == (height, width)
    assert set(np.unique(data)) <= {1, 2, 3}
    agreement = float(np.mean(data == truth(height, width, 3)))
    assert agreement > 0.6, agreement  # three easy spectral stripes


def loaded_layer(path) -> QgsRasterLayer:
    matches = [layer for layer in QgsProject.instance().mapLayers().values()
               if Path(layer.source()) == Path(path)]
    assert len(matches) == 1, [layer.source() for layer in QgsProject.instance().mapLayers().values()]
    return matches[0]


def assert_styled(map_path, confidence_path):
    class_map = loaded_layer(map_path)
    assert class_map.renderer().type() == "paletted"
    labels = {int(c.value): c.label for c in class_map.renderer().classes()}
    assert labels == {1: "Corn", 2: "Soybean", 3: "Woods"}
    confidence = loaded_layer(confidence_path)
    assert confidence.renderer().type() == "singlebandpseudocolor"
    assert (confidence.renderer().classificationMin(), confidence.renderer().classificationMax()) == (0.0, 1.0)


@pytest.fixture(scope="module")
def trained_model(plugin_scene, engine_ready, tmp_path_factory):
    """One tiny model trained through Processing, shared by the tests that classify with it (no synthetic
    features, to save time: test_train_and_classify runs every stage)."""
    folder = tmp_path_factory.mktemp("trained")
    parameters = {"INPUT_RASTER": str(plugin_scene.raster), "TRAINING_VECTOR": str(plugin_scene.training),
                  "CLASS_FIELD": "class_name", "OUTPUT_MODEL": str(folder / "model.safetensors"),
                  "OUTPUT_REPORT": str(folder / "report.html"), **TINY, "SYNTHETIC": False}
    results, feedback = run("contrastdm:train_model", parameters)
    return plugin_scene, results, feedback


def test_train_model(trained_model):
    _scene, results, feedback = trained_model
    assert Path(results["OUTPUT_MODEL"]).stat().st_size > 1000
    assert Path(results["OUTPUT_REPORT"]).read_text().lstrip().lower().startswith("<!doctype html")
    assert isinstance(json.loads(results["METRICS"] or "{}"), dict)
    progress = feedback.kinds("progress")
    assert progress == sorted(progress) and progress[-1] == 100.0
    texts = " | ".join(feedback.kinds("text"))
    for label in ("Reading the data", "Contrastive pre-training", "Fine-tuning the classifier"):
        assert label in texts
    assert any("reprojected" in text for text in feedback.kinds("info"))  # training polygons are in EPSG:4326
    assert any(text.startswith("ContrastDM engine interpreter:") for text in feedback.kinds("info"))


def test_classify_raster_with_temporary_outputs_loaded_and_styled(trained_model, project):
    scene, train_results, _ = trained_model
    results, feedback = run("contrastdm:classify_raster", {
        "INPUT_RASTER": str(scene.raster), "MODEL": train_results["OUTPUT_MODEL"],
        "OUTPUT_RASTER": "TEMPORARY_OUTPUT", "OUTPUT_CONFIDENCE": "TEMPORARY_OUTPUT", "DEVICE": "cpu",
    }, load=True)
    assert results["OUTPUT_RASTER"].endswith(".tif") and results["OUTPUT_CONFIDENCE"].endswith(".tif")
    assert_class_map(results["OUTPUT_RASTER"], scene.height, scene.width)
    _crs, confidence, dtype = read_map(results["OUTPUT_CONFIDENCE"])
    assert dtype == "float32" and 0.0 <= confidence.min() <= confidence.max() <= 1.0
    assert_styled(results["OUTPUT_RASTER"], results["OUTPUT_CONFIDENCE"])
    assert feedback.kinds("progress")[-1] == 100.0


def test_classify_without_confidence(trained_model, tmp_path):
    scene, train_results, _ = trained_model
    results, _ = run("contrastdm:classify_raster", {
        "INPUT_RASTER": str(scene.raster), "MODEL": train_results["OUTPUT_MODEL"],
        "OUTPUT_RASTER": str(tmp_path / "map.tif"), "DEVICE": "cpu"})
    assert results["OUTPUT_RASTER"] == str(tmp_path / "map.tif")
    assert not results.get("OUTPUT_CONFIDENCE")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".aux.xml")) == ["map.qml", "map.tif"]


COLORS = {"Corn": "#ffcc00", "Soybean": "#00aa00", "Woods": "#005500"}


def categorized_training_layer(path) -> QgsVectorLayer:
    """The training polygons as the user styled them in the project: a categorized renderer on the class."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory, QgsSymbol
    from qgis.PyQt.QtGui import QColor

    layer = QgsVectorLayer(str(path), "training", "ogr")
    categories = []
    for value, color in COLORS.items():
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(color))
        categories.append(QgsRendererCategory(value, symbol, value))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class_name", categories))
    QgsProject.instance().addMapLayer(layer)
    return layer


def test_train_and_classify(plugin_scene, engine_ready, project, tmp_path):
    training = categorized_training_layer(plugin_scene.training)
    results, feedback = run("contrastdm:train_and_classify", {
        "INPUT_RASTER": str(plugin_scene.raster), "TRAINING_VECTOR": training.id(),
        "CLASS_FIELD": "class_name", "TEST_VECTOR": str(plugin_scene.training),
        "OUTPUT_MODEL": "TEMPORARY_OUTPUT", "OUTPUT_RASTER": "TEMPORARY_OUTPUT",
        "OUTPUT_CONFIDENCE": "TEMPORARY_OUTPUT", "OUTPUT_REPORT": str(tmp_path / "report.html"), **TINY,
    }, load=True)
    assert results["OUTPUT_MODEL"].endswith(".safetensors") and Path(results["OUTPUT_MODEL"]).is_file()
    assert_class_map(results["OUTPUT_RASTER"], plugin_scene.height, plugin_scene.width)
    assert_styled(results["OUTPUT_RASTER"], results["OUTPUT_CONFIDENCE"])
    assert (tmp_path / "report.html").is_file()
    metrics = json.loads(results["METRICS"])
    assert 50.0 < metrics["overall_accuracy"] <= 100.0  # percent, on the (easy) training polygons
    assert any(text.startswith("Accuracy") for text in feedback.kinds("info"))
    stages = " | ".join(feedback.kinds("text"))
    for label in ("Contrastive pre-training", "Training the feature diffusion model", "Fine-tuning the classifier",
                  "Classifying the raster"):
        assert label in stages
    # The layer's own file was passed on (no export), with its colours for the class map.
    command = next(t for t in feedback.kinds("debug") if t.startswith("ContrastDM engine started"))
    assert f" --vector {plugin_scene.training} " in command
    palette = {c.label: c.color.name() for c in loaded_layer(results["OUTPUT_RASTER"]).renderer().classes()}
    assert palette == COLORS


def test_a_batch_of_three_rasters(trained_model, tmp_path):
    scene, train_results, _ = trained_model
    rasters = [scene.raster] + [write_raster(tmp_path / f"tile{i}.tif", seed=i) for i in (1, 2)]
    outputs = []
    for i, raster in enumerate(rasters):
        results, _ = run("contrastdm:classify_raster", {
            "INPUT_RASTER": str(raster), "MODEL": train_results["OUTPUT_MODEL"],
            "OUTPUT_RASTER": str(tmp_path / f"map{i}.tif"), "DEVICE": "cpu"})
        outputs.append(results["OUTPUT_RASTER"])
    assert outputs == [str(tmp_path / f"map{i}.tif") for i in range(3)]
    for path in outputs:
        assert_class_map(path, scene.height, scene.width)


def test_memory_layer_with_selected_features_is_exported(plugin_scene, engine_ready, project, tmp_path):
    source = QgsVectorLayer(str(plugin_scene.training), "training", "ogr")
    memory = QgsVectorLayer(f"Polygon?crs={source.crs().authid()}", "drawn by hand", "memory")
    memory.dataProvider().addAttributes(source.fields().toList())
    memory.updateFields()
    features = []
    for feature in source.getFeatures():
        copy = QgsFeature(memory.fields())
        copy.setGeometry(feature.geometry())
        copy.setAttributes(feature.attributes())
        features.append(copy)
    memory.dataProvider().addFeatures(features)
    project.addMapLayer(memory)
    memory.selectByIds([f.id() for f in memory.getFeatures()][:-1])  # all but one polygon
    model = tmp_path / "model.safetensors"
    results, feedback = run("contrastdm:train_model", {
        "INPUT_RASTER": str(plugin_scene.raster),
        "TRAINING_VECTOR": QgsProcessingFeatureSourceDefinition(memory.id(), True),
        "CLASS_FIELD": "class_name", "OUTPUT_MODEL": str(model), **TINY, "SYNTHETIC": False})
    assert results["OUTPUT_MODEL"] == str(model) and model.is_file()
    command = next(t for t in feedback.kinds("debug") if t.startswith("ContrastDM engine started"))
    vector = command.split(" --vector ")[1].split(" ")[0]
    assert vector.endswith(".gpkg") and vector != str(plugin_scene.training)
    assert QgsVectorLayer(vector, "exported", "ogr").featureCount() == len(features) - 1


def test_cancelling_mid_training_stops_the_engine_and_leaves_no_output(plugin_scene, engine_ready, tmp_path):
    feedback = RecordingFeedback()
    cancel_after_first_progress(feedback)
    model = tmp_path / "model.safetensors"
    with pytest.raises(QgsProcessingException, match="^Cancelled by the user"):
        run("contrastdm:train_model", {
            "INPUT_RASTER": str(plugin_scene.raster), "TRAINING_VECTOR": str(plugin_scene.training),
            "CLASS_FIELD": "class_name", "OUTPUT_MODEL": str(model), **{**TINY, "CONTRASTIVE_EPOCHS": 50}},
            feedback=feedback)
    assert feedback.isCanceled()
    assert not pid_alive(engine_pid(feedback))
    assert not model.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_engine_error_is_the_exception_message(trained_model, tmp_path):
    _scene, train_results, _ = trained_model
    other = write_raster(tmp_path / "five_bands.tif", bands=5)
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException) as info:
        run("contrastdm:classify_raster", {"INPUT_RASTER": str(other), "MODEL": train_results["OUTPUT_MODEL"],
                                           "OUTPUT_RASTER": str(tmp_path / "map.tif"), "DEVICE": "cpu"},
            feedback=feedback)
    message = str(info.value)
    assert "bands" in message  # the engine's own one-line explanation, e.g. "trained_model on 8 bands but ... 5"
    assert "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "map.tif").exists()


def test_the_class_names_reach_the_map(trained_model, project):
    scene, train_results, _ = trained_model
    results, _ = run("contrastdm:classify_raster", {
        "INPUT_RASTER": str(scene.raster), "MODEL": train_results["OUTPUT_MODEL"],
        "OUTPUT_RASTER": "TEMPORARY_OUTPUT", "DEVICE": "cpu"}, load=True)
    layer = loaded_layer(results["OUTPUT_RASTER"])
    assert sorted(c.label for c in layer.renderer().classes()) == sorted(CLASSES)
