"""The toolbox dialog (offscreen): every parameter gets a widget and the defaults leave the preset in charge."""

import pytest
from qgis.core import QgsApplication


@pytest.mark.parametrize("name", ["train_model", "classify_raster", "train_and_classify"])
def test_the_toolbox_dialog_builds_parameters(name, plugin_scene, tmp_path):
    from processing.gui.AlgorithmDialog import AlgorithmDialog

    model = tmp_path / "model.safetensors"
    model.write_bytes(b"")
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(f"contrastdm:{name}")
    dialog = AlgorithmDialog(algorithm, parent=None)
    try:
        dialog.setParameters({"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model),
                              "TRAINING_VECTOR": str(plugin_scene.training), "CLASS_FIELD": "class_name"})
        parameters = dialog.mainWidget().createProcessingParameters()
    finally:
        dialog.deleteLater()
    assert parameters["INPUT_RASTER"] == str(plugin_scene.raster)
    assert parameters["DEVICE"] == "auto"
    if "OUTPUT_RASTER" in parameters:  # a layer output: a definition whose sink is a temporary file
        assert parameters["OUTPUT_RASTER"].sink.staticValue() == "TEMPORARY_OUTPUT"
    if algorithm.parameterDefinition("OUTPUT_MODEL") is not None:
        assert parameters["OUTPUT_MODEL"] == "TEMPORARY_OUTPUT"
    assert "OUTPUT_CONFIDENCE" not in parameters and "OUTPUT_REPORT" not in parameters  # optional: skipped
    if name != "classify_raster":
        assert parameters["CLASS_FIELD"] == "class_name"
        assert (parameters["PRESET"], parameters["SYNTHETIC"], parameters["REFINE"]) == ("balanced", True, False)
        assert all(parameters[p] == 0 for p in ("PATCH_SIZE", "PCA_COMPONENTS", "CONTRASTIVE_EPOCHS",
                                                "DIFFUSION_STEPS", "FINETUNE_EPOCHS", "BATCH_SIZE"))
