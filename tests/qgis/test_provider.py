"""The provider, its algorithms and the plugin's registration, as QGIS sees them, and the toolbox dialog
(offscreen) that QGIS builds for an algorithm: every parameter gets a widget and the defaults leave the preset
in charge."""

import configparser
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsProcessingAlgorithm, QgsProcessingParameterDefinition

REPO = Path(__file__).resolve().parents[2]
IDS = ["contrastdm:classify_raster", "contrastdm:prepare_raster", "contrastdm:suggest_training_sites",
       "contrastdm:train_and_classify",
       "contrastdm:train_model"]


def test_provider_lists_five_algorithms(provider):
    assert provider.id() == "contrastdm"
    assert provider.name() == "ContrastDM"
    assert not provider.icon().isNull()
    assert Path(provider.svgIconPath()).is_file()
    assert provider.versionInfo() == "0.1.0"
    assert sorted(a.id() for a in provider.algorithms()) == IDS
    assert provider.supportedOutputRasterLayerExtensions() == ["tif"]
    assert provider.defaultRasterFileExtension() == "tif"


def test_algorithms_have_help_groups_and_flags(provider):
    groups = {}
    for algorithm in provider.algorithms():
        assert algorithm.shortHelpString().strip()
        assert algorithm.displayName()
        groups[algorithm.name()] = (algorithm.groupId(), algorithm.group())
        flags = algorithm.flags()
        assert flags & QgsProcessingAlgorithm.FlagCanCancel
        assert flags & QgsProcessingAlgorithm.FlagSupportsBatch
        assert not flags & QgsProcessingAlgorithm.FlagNoThreading
        copy = algorithm.create()
        assert copy.id() == algorithm.id() and copy is not algorithm
    assert groups == {
        "train_model": ("training", "Model training"),
        "classify_raster": ("classification", "Classification"),
        "train_and_classify": ("classification", "Classification"),
        "suggest_training_sites": ("training", "Model training"),
        "prepare_raster": ("training", "Model training"),
    }


def _params(algorithm_id):
    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    return {p.name(): p for p in algorithm.parameterDefinitions()}, {o.name(): o for o in algorithm.outputDefinitions()}


def test_train_model_parameters():
    params, outputs = _params("contrastdm:train_model")
    assert params["INPUT_RASTER"].type() == "raster"
    assert params["TRAINING_VECTOR"].type() == "source"
    assert params["CLASS_FIELD"].parentLayerParameterName() == "TRAINING_VECTOR"
    assert params["VALIDATION_VECTOR"].flags() & QgsProcessingParameterDefinition.FlagOptional
    assert params["PRESET"].options() == ["fast", "balanced"]
    assert params["DEVICE"].options() == ["auto", "cpu", "cuda", "mps"]
    for name in ("PATCH_SIZE", "PCA_COMPONENTS", "CONTRASTIVE_EPOCHS", "DIFFUSION_STEPS", "FINETUNE_EPOCHS",
                 "BATCH_SIZE"):
        assert params[name].defaultValue() == 0, name  # 0 = the preset decides
        assert "preset default" in params[name].description()
        assert params[name].flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert params["SPECTRAL_MEMBER"].options() == ["auto", "on", "off"]
    assert params["SPECTRAL_MEMBER"].defaultValue() == "auto"
    assert params["WARM_START"].defaultValue() is False and params["DATA_BUDGET"].defaultValue() is False
    for name in ("SYNTHETIC", "REFINE", "SPECTRAL_MEMBER", "WARM_START", "DATA_BUDGET", "SEED", "DEVICE",
                 "PRECISION"):
        assert params[name].flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert params["OUTPUT_MODEL"].defaultFileExtension() == "safetensors"
    assert params["OUTPUT_REPORT"].flags() & QgsProcessingParameterDefinition.FlagOptional
    assert set(outputs) == {"OUTPUT_MODEL", "OUTPUT_REPORT", "METRICS"}


def test_classify_and_run_parameters():
    params, outputs = _params("contrastdm:classify_raster")
    assert params["MODEL"].type() == "file"
    assert params["OUTPUT_RASTER"].type() == "rasterDestination"
    assert params["OUTPUT_CONFIDENCE"].flags() & QgsProcessingParameterDefinition.FlagOptional
    assert set(outputs) == {"OUTPUT_RASTER", "OUTPUT_CONFIDENCE"}
    assert params["SMOOTHING_RADIUS"].flags() & QgsProcessingParameterDefinition.FlagAdvanced
    assert params["SMOOTHING_RADIUS"].defaultValue() == -1  # the model's own radius
    run_params, run_outputs = _params("contrastdm:train_and_classify")
    train_params, _ = _params("contrastdm:train_model")
    assert set(train_params) | {"OUTPUT_RASTER", "OUTPUT_CONFIDENCE", "TEST_VECTOR", "SMOOTHING_RADIUS",
                                  "COG"} == set(run_params)
    assert set(run_outputs) == {"OUTPUT_MODEL", "OUTPUT_REPORT", "OUTPUT_RASTER", "OUTPUT_CONFIDENCE", "METRICS"}


def test_plugin_registers_and_removes_its_provider(qgis_app):
    import contrastdm_qgis

    registry = QgsApplication.processingRegistry()
    shared = registry.providerById("contrastdm")
    registry.removeProvider(shared)  # the session's provider; put back below
    try:
        plugin = contrastdm_qgis.classFactory(None)
        plugin.initProcessing()
        plugin.initGui()  # no second provider
        assert registry.providerById("contrastdm") is plugin.provider
        assert registry.algorithmById("contrastdm:train_model") is not None
        plugin.unload()
        assert registry.providerById("contrastdm") is None
        assert registry.algorithmById("contrastdm:train_model") is None
    finally:
        from contrastdm_qgis.provider import ContrastDMProvider

        qgis_app._contrastdm_provider = ContrastDMProvider()
        assert registry.addProvider(qgis_app._contrastdm_provider)


def test_metadata_has_every_mandatory_field():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    general = parser["general"]
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                "repository", "tracker", "homepage", "tags", "category", "icon", "changelog", "experimental",
                "hasProcessingProvider"):
        assert general.get(key, "").strip(), key
    assert general["name"] == "ContrastDM"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["version"] == "0.1.0"
    assert general["hasProcessingProvider"] == "yes"
    assert general["category"] == "Raster"
    assert general["experimental"] == "False"
    # The icon path is relative to the installed plugin folder, where resources/ is copied.
    assert (REPO / general["icon"]).is_file()


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
