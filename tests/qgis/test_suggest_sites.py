"""Where to label next in QGIS: the Processing algorithm with the real engine, and the dialog's button."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import TINY, RecordingFeedback, wait_for
from plugin_scenes import CRS, write_raster, write_scene
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsLayerTreeGroup,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from contrastdm_qgis.dialog import ContrastDMDialog
from contrastdm_qgis.suggest_sites import sites_path

ALGORITHM = "contrastdm:suggest_training_sites"
FIELDS = ["fid", "rank", "predicted_id", "predicted", "runner_up_id", "runner_up", "margin", "probability",
          "runner_up_probability", "row", "col"]


def run(parameters, load=False):
    import processing

    feedback = RecordingFeedback()
    if load:
        return processing.runAndLoadResults(ALGORITHM, parameters, feedback=feedback), feedback
    return processing.run(ALGORITHM, parameters, feedback=feedback), feedback


def features(path) -> list[dict]:
    layer = QgsVectorLayer(str(path), "sites", "ogr")
    assert layer.isValid() and layer.crs().authid() == CRS
    assert layer.fields().names() == FIELDS
    return [{**dict(zip(FIELDS, f.attributes())), "xy": f.geometry().asPoint()} for f in layer.getFeatures()]


@pytest.fixture(scope="module")
def model(plugin_scene, engine_ready, tmp_path_factory):
    import processing

    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    processing.run("contrastdm:train_model", {
        "INPUT_RASTER": str(plugin_scene.raster), "TRAINING_VECTOR": str(plugin_scene.training),
        "CLASS_FIELD": "class_name", "OUTPUT_MODEL": str(path), **TINY, "SYNTHETIC": False})
    return path


def test_parameters_and_outputs(qgis_app):
    algorithm = QgsApplication.processingRegistry().algorithmById(ALGORITHM)
    assert algorithm.displayName() == "Suggest where to label" and "least sure" in algorithm.shortHelpString()
    params = {p.name(): p for p in algorithm.parameterDefinitions()}
    assert params["INPUT_RASTER"].type() == "raster" and params["MODEL"].type() == "file"
    assert params["COUNT"].defaultValue() == 20 and params["COUNT"].minimum() == 1
    assert params["MIN_DISTANCE"].defaultValue() == -1  # the engine's rule
    for name in ("MIN_DISTANCE", "SMOOTHING_RADIUS", "DEVICE"):
        assert params[name].flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert params["OUTPUT_SITES"].type() == "vectorDestination"
    assert params["OUTPUT_SITES"].defaultFileExtension() == "gpkg"
    assert {o.name() for o in algorithm.outputDefinitions()} == {"OUTPUT_SITES", "SITES"}


def test_the_toolbox_dialog_builds_parameters(plugin_scene, tmp_path):
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    model_file = tmp_path / "model.safetensors"
    model_file.write_bytes(b"")
    dialog = AlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById(ALGORITHM), parent=None)
    try:
        dialog.setParameters({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model_file)})
        parameters = dialog.mainWidget().createProcessingParameters()
    finally:
        dialog.deleteLater()
    assert (parameters["COUNT"], parameters["MIN_DISTANCE"], parameters["DEVICE"]) == (20, -1, "auto")
    assert parameters["OUTPUT_SITES"].sink.staticValue() == "TEMPORARY_OUTPUT"


def test_sites_are_loaded_styled_and_labelled(plugin_scene, model, project):
    results, feedback = run({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model), "COUNT": 6,
                             "DEVICE": "cpu", "OUTPUT_SITES": "TEMPORARY_OUTPUT"}, load=True)
    assert results["OUTPUT_SITES"].endswith(".gpkg") and results["SITES"] == 6
    sites = features(results["OUTPUT_SITES"])
    assert [s["rank"] for s in sites] == [1, 2, 3, 4, 5, 6]
    assert {s["predicted"] for s in sites} == {"Corn", "Soybean", "Woods"}
    assert all(0 <= s["margin"] <= 1 and s["predicted"] != s["runner_up"] for s in sites)
    [layer] = [lyr for lyr in QgsProject.instance().mapLayers().values()
               if Path(lyr.source().split("|")[0]) == Path(results["OUTPUT_SITES"])]
    assert layer.renderer().type() == "categorizedSymbol" and layer.renderer().classAttribute() == "predicted"
    assert sorted(c.value() for c in layer.renderer().categories()) == ["Corn", "Soybean", "Woods"]
    assert layer.labelsEnabled() and "margin" in layer.labeling().settings().fieldName
    assert any(text.startswith("Choosing where to label") for text in feedback.kinds("text"))
    assert feedback.kinds("progress")[-1] == 100.0


def test_minimum_distance_and_a_file_output(plugin_scene, model, tmp_path):
    output = tmp_path / "sites.gpkg"
    results, _ = run({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model), "COUNT": 8,
                      "MIN_DISTANCE": 6.5, "DEVICE": "cpu", "OUTPUT_SITES": str(output)})
    assert results["OUTPUT_SITES"] == str(output)
    pixels = np.array([(s["row"], s["col"]) for s in features(output)], dtype=float)
    gaps = np.hypot(*(pixels[:, None, :] - pixels[None, :, :]).transpose(2, 0, 1))
    assert gaps[~np.eye(len(pixels), dtype=bool)].min() >= 6.5


def test_engine_errors_are_one_line_and_leave_no_file(plugin_scene, model, tmp_path):
    other = write_raster(tmp_path / "five_bands.tif", bands=5)
    with pytest.raises(QgsProcessingException) as raised:
        run({"INPUT_RASTER": str(other), "MODEL": str(model), "DEVICE": "cpu",
             "OUTPUT_SITES": str(tmp_path / "sites.gpkg")})
    assert "5" in str(raised.value) and "\n" not in str(raised.value).strip()
    with pytest.raises(QgsProcessingException, match="GeoPackage"):
        run({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model), "OUTPUT_SITES": str(tmp_path / "s.shp")})
    with pytest.raises(QgsProcessingException, match="model file does not exist"):
        run({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(tmp_path / "none.safetensors"),
             "OUTPUT_SITES": str(tmp_path / "sites.gpkg")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five_bands.tif"]


def test_sites_path_is_next_to_the_map_and_numbered(tmp_path):
    assert sites_path(str(tmp_path / "scene_classes.tif")) == str(tmp_path / "scene_sites.gpkg")
    (tmp_path / "scene_sites.gpkg").write_bytes(b"")
    assert sites_path(str(tmp_path / "scene_classes.tif")) == str(tmp_path / "scene_sites_2.gpkg")
    assert sites_path(str(tmp_path / "map.tif")) == str(tmp_path / "map_sites.gpkg")


@pytest.fixture
def dialog(project, tmp_path):
    scene = write_scene(tmp_path / "scene")
    raster = QgsRasterLayer(str(scene.raster), "scene")
    training = QgsVectorLayer(f"{scene.training}|layername=training", "training", "ogr")
    project.addMapLayers([raster, training])
    dialog = ContrastDMDialog(None)
    dialog.show()
    yield dialog
    for controller in (dialog.controller, dialog.sites_controller):
        if controller.running():
            controller.cancel()
            wait_for(lambda c=controller: not c.running(), 60)
    wait_for(lambda: not dialog.engine.probe.running(), 60)
    dialog.close()
    dialog.deleteLater()


def test_dialog_suggests_sites_next_to_the_map(dialog, engine_ready):
    assert not dialog.suggest_button.isEnabled() and not dialog.suggest_sites()  # no map yet
    for name, value in TINY.items():
        if name in dialog.number_widgets:
            dialog.number_widgets[name].setValue(value)
    dialog.set_preset("fast")
    dialog.synthetic_check.setChecked(False)
    dialog.output_checks["report"].setChecked(False)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.sites_spin.setValue(5)
    assert dialog.run()
    wait_for(lambda: not dialog.controller.running())
    assert dialog.stage_label.text().startswith("Done in ") and dialog.suggest_button.isEnabled()

    dialog.suggest_button.click()
    assert dialog.sites_controller.running() and not dialog.run_button.isEnabled()
    assert not dialog.suggest_button.isEnabled() and dialog.cancel_button.isEnabled()
    wait_for(lambda: not dialog.sites_controller.running())
    assert dialog.progress_bar.value() == 100 and dialog.stage_label.text().startswith("Done in ")
    assert dialog.message_bar.items()[-1].level() == Qgis.Success and "5 sites" in dialog.last_message
    group = QgsProject.instance().layerTreeRoot().children()[0]
    assert isinstance(group, QgsLayerTreeGroup)
    assert [node.layer().name() for node in group.findLayers()] == ["Where to label next", "Class map",
                                                                    "Confidence"]
    sites, class_map = (node.layer() for node in group.findLayers()[:2])
    assert Path(sites.source().split("|")[0]) == Path(class_map.source()).with_name("scene_sites.gpkg")
    assert sites.featureCount() == 5 and sites.labelsEnabled()
    map_colors = {c.label: c.color.name() for c in class_map.renderer().classes()}
    site_colors = {c.value(): c.symbol().color().name() for c in sites.renderer().categories()}
    assert site_colors and all(site_colors[name] == map_colors[name] for name in site_colors)
    assert dialog.run_button.isEnabled() and dialog.suggest_button.isEnabled()
