"""The toolbar dialog, offscreen with real QGIS: pickers, class preview, defaults, and real runs of the toolbox
algorithm (tiny training) that end as styled layers in a group, are cancelled cleanly, or fail with one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from plugin_helpers import TINY, pid_alive, wait_for
from plugin_scenes import write_scene
from qgis.core import Qgis, QgsLayerTreeGroup, QgsProject, QgsRasterLayer, QgsVectorLayer

from contrastdm_qgis.dialog import ContrastDMDialog
from contrastdm_qgis.dialog_run import estimate_remaining, eta_text, format_duration
from contrastdm_qgis.outputs import default_outputs


@pytest.fixture
def scene(tmp_path):
    return write_scene(tmp_path / "scène with space")


@pytest.fixture
def dialog(project, scene):
    raster = QgsRasterLayer(str(scene.raster), "scene")
    training = QgsVectorLayer(f"{scene.training}|layername=training", "training", "ogr")
    lines = QgsVectorLayer("LineString?crs=EPSG:4326&field=class_name:string", "roads", "memory")
    assert raster.isValid() and training.isValid()
    project.addMapLayers([raster, training, lines])
    dialog = ContrastDMDialog(None)
    dialog.show()
    yield dialog
    if dialog.controller.running():
        dialog.cancel()
        wait_for(lambda: not dialog.controller.running(), 60)
    wait_for(lambda: not dialog.engine.probe.running(), 60)
    dialog.close()
    dialog.deleteLater()


def tiny(dialog):
    for name, value in TINY.items():
        if name in dialog.number_widgets:
            dialog.number_widgets[name].setValue(value)
    dialog.set_preset("fast")
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))


def test_pickers_preview_and_defaults(dialog, scene):
    names = lambda combo: [combo.itemText(i) for i in range(combo.count())]  # noqa: E731
    assert names(dialog.raster_combo) == ["scene"]
    assert names(dialog.training_combo) == ["training"]  # polygons and points only: no line layer
    assert dialog.field_combo.currentField() == "class_name"
    rows = {dialog.preview.item(r, 0).text(): (dialog.preview.item(r, 1).text(), dialog.preview.item(r, 2).text())
            for r in range(dialog.preview.rowCount())}
    assert rows == {"Corn": ("2", "18"), "Soybean": ("2", "18"), "Woods": ("2", "18")}  # 2 polygons of 3x3 pixels
    assert "reprojected to the raster's CRS (EPSG:32616)" in dialog.preview_note.text()
    assert "⚠" not in dialog.preview_note.text()
    assert "30 × 24 pixels, 8 bands, EPSG:32616" in dialog.raster_info.text()
    folder = scene.raster.parent
    assert {k: Path(w.filePath()) for k, w in dialog.output_widgets.items()} == {
        "map": folder / "scene_classes.tif", "confidence": folder / "scene_confidence.tif",
        "model": folder / "scene_model.safetensors", "report": folder / "scene_report.html"}
    assert dialog.preset() == "balanced" and dialog.advanced.isCollapsed()
    parameters = dialog.parameters()
    assert parameters["CLASS_FIELD"] == "class_name" and parameters["DEVICE"] == "auto"
    assert parameters["PRECISION"] == "float32"
    dialog.precision_combo.setCurrentIndex(dialog.precision_combo.findData("auto"))
    assert dialog.parameters()["PRECISION"] == "auto"
    dialog.precision_combo.setCurrentIndex(0)
    assert "VALIDATION_VECTOR" not in parameters and all(parameters[n] == 0 for n in dialog.number_widgets)
    assert parameters["WARM_START"] is False and parameters["DATA_BUDGET"] is False
    dialog.budget_check.setChecked(True)
    assert dialog.parameters()["DATA_BUDGET"] is True
    dialog.budget_check.setChecked(False)
    assert parameters["CHOOSE_PATCH_SIZE"] is False and dialog.patch_check.isEnabled()
    dialog.warm_check.setChecked(True)
    assert dialog.parameters()["WARM_START"] is True and not dialog.patch_check.isEnabled()
    dialog.warm_check.setChecked(False)
    dialog.patch_check.setChecked(True)
    assert dialog.parameters()["CHOOSE_PATCH_SIZE"] is True and not dialog.warm_check.isEnabled()
    assert parameters["SMOOTHING_FROM_SCENE"] is True
    dialog.scale_check.setChecked(False)
    assert dialog.parameters()["SMOOTHING_FROM_SCENE"] is False
    dialog.field_combo.setField("class_id")
    assert dialog.preview.item(0, 0).text() == "1" and dialog.preview.rowCount() == 3


def test_scarce_classes_and_non_overlapping_data_are_warned(dialog, project):
    scarce = QgsVectorLayer("Polygon?crs=EPSG:32616&field=klasse:string", "scarce", "memory")
    from qgis.core import QgsFeature, QgsGeometry

    features = []
    for name, wkt in (("a", "POLYGON((500010 4479990, 500050 4479990, 500050 4479950, 500010 4479950, 500010 4479990))"),
                      ("a", "POLYGON((500060 4479990, 500090 4479990, 500090 4479960, 500060 4479960, 500060 4479990))"),
                      ("b", "POLYGON((500100 4479990, 500110 4479990, 500110 4479980, 500100 4479980, 500100 4479990))")):
        feature = QgsFeature(scarce.fields())
        feature.setAttribute("klasse", name)
        feature.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(feature)
    scarce.dataProvider().addFeatures(features)
    project.addMapLayer(scarce)
    dialog.training_combo.setLayer(scarce)
    assert dialog.field_combo.currentField() == "klasse"  # a class-like field name is picked
    note = dialog.preview_note.text()
    assert "fewer than 2 features" in note and "features (add polygons, or they cannot be validated): b" in note
    assert "fewer than about 10 pixels: b" in note
    far = QgsVectorLayer("Point?crs=EPSG:4326&field=class_name:string", "far", "memory")
    feature = QgsFeature(far.fields())
    feature.setAttribute("class_name", "x")
    feature.setGeometry(QgsGeometry.fromWkt("POINT(10 50)"))
    far.dataProvider().addFeatures([feature])
    project.addMapLayer(far)
    dialog.training_combo.setLayer(far)
    assert "does not overlap the raster" in dialog.preview_note.text()
    assert "Only one class" in dialog.preview_note.text()
    assert not dialog.run()  # the toolbox's own checks refuse a single class, before any engine starts
    assert "at least two classes" in dialog.last_message


def test_run_adds_styled_layers_in_a_group(dialog, scene, engine_ready):
    tiny(dialog)
    dialog.output_checks["report"].setChecked(True)
    stages = []
    dialog.controller.stage.connect(stages.append)
    assert dialog.run()
    assert not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
    assert dialog.controller.task is not None and dialog.controller.task.description().startswith("scene · ContrastDM")
    # QGIS stays responsive: this loop keeps processing events while the task runs in the background.
    wait_for(lambda: not dialog.controller.running())
    assert dialog.progress_bar.value() == 100
    assert any(s.startswith("Contrastive pre-training") for s in stages) and dialog.stage_label.text().startswith(
        "Done in ")
    root = QgsProject.instance().layerTreeRoot()
    group = root.children()[0]
    assert isinstance(group, QgsLayerTreeGroup) and group.name().startswith("scene · ContrastDM fast (")
    layers = [node.layer() for node in group.findLayers()]
    assert [layer.name() for layer in layers] == ["Class map", "Confidence"]
    class_map, confidence = layers
    assert class_map.renderer().type() == "paletted"
    assert {int(c.value): c.label for c in class_map.renderer().classes()} == {1: "Corn", 2: "Soybean", 3: "Woods"}
    assert confidence.renderer().type() == "singlebandpseudocolor"
    folder = scene.raster.parent
    for name in ("scene_classes.tif", "scene_confidence.tif", "scene_model.safetensors", "scene_report.html"):
        assert (folder / name).is_file(), name
    assert Path(class_map.source()) == folder / "scene_classes.tif"
    items = dialog.message_bar.items()
    assert items and items[-1].level() == Qgis.Success
    assert "Open report" in [b.text() for b in items[-1].findChildren(type(dialog.run_button))]
    # A second run next to the first does not overwrite it.
    dialog._on_raster_changed(dialog.raster_combo.currentLayer())
    assert dialog.output_widgets["map"].filePath() == str(folder / "scene_2_classes.tif")


def test_cancel_stops_the_engine_and_leaves_nothing(dialog, scene, engine_ready):
    tiny(dialog)
    dialog.number_widgets["CONTRASTIVE_EPOCHS"].setValue(200)  # long enough to be cancelled mid-way
    before = sorted(p.name for p in scene.raster.parent.iterdir())
    pids = []
    dialog.controller.log.connect(
        lambda level, text: pids.append(int(text.split("(pid ")[1].split(")")[0]))
        if text.startswith("ContrastDM engine started (pid ") else None)
    assert dialog.run()
    wait_for(lambda: dialog.progress_bar.value() > 5 or not dialog.controller.running())
    assert dialog.controller.running()
    dialog.cancel_button.click()
    wait_for(lambda: not dialog.controller.running(), 60)
    assert dialog.stage_label.text() == "Cancelled"
    assert "Cancelled" in dialog.last_message
    assert sorted(p.name for p in scene.raster.parent.iterdir()) == before  # no output, no partial file
    assert pids and not pid_alive(pids[0])
    assert not [c for c in QgsProject.instance().layerTreeRoot().children() if isinstance(c, QgsLayerTreeGroup)]
    assert dialog.run_button.isEnabled()


def test_engine_failure_shows_its_one_line_message(dialog, engine_ready):
    tiny(dialog)
    dialog.number_widgets["PATCH_SIZE"].setValue(4)
    assert dialog.run()
    wait_for(lambda: not dialog.controller.running(), 120)
    assert dialog.stage_label.text() == "Failed"
    assert dialog.last_message == "patch size must be a positive odd number, not 4"
    assert dialog.message_bar.items()[-1].level() == Qgis.Critical


def test_default_outputs_are_numbered_and_fall_back(tmp_path):
    raster = tmp_path / "Feld Süd.tif"
    raster.write_bytes(b"")
    first = default_outputs(str(raster))
    assert first["map"] == str(tmp_path / "Feld Süd_classes.tif")
    Path(first["report"]).write_text("x")
    assert default_outputs(str(raster))["map"] == str(tmp_path / "Feld Süd_2_classes.tif")
    assert default_outputs("", fallback_dir=str(tmp_path))["model"] == str(tmp_path / "contrastdm_model.safetensors")
    if os.geteuid() != 0:
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o500)
        assert Path(default_outputs(str(readonly / "x.tif"), fallback_dir="/tmp")["map"]).parent == Path("/tmp")


def test_eta():
    assert format_duration(5) == "0:05" and format_duration(125) == "2:05" and format_duration(3725) == "1:02:05"
    assert estimate_remaining(1, 50) is None and estimate_remaining(60, 1) is None
    assert estimate_remaining(60, 25) == 180
    assert eta_text(60, 25) == "Elapsed 1:00 · about 3:00 left"
