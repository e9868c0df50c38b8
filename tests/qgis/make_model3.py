"""Writes resources/models/train_then_classify.model3: a graphical model chaining training and classification.

Run from the repository root:  PROJ_DATA=/usr/share/proj QT_QPA_PLATFORM=offscreen .venv/bin/python tests/qgis/make_model3.py
(test_model3.py checks that the committed file matches what this script builds).
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessing,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QPointF

REPO = Path(__file__).resolve().parents[2]
MODEL_FILE = REPO / "resources" / "models" / "train_then_classify.model3"
HELP = (
    "Trains a ContrastDM model on a hyperspectral raster from labelled polygons or points, then classifies the "
    "raster with it. Outputs: the trained model (.safetensors), the class map and its confidence. Copy the model "
    "into your Processing models folder, or open it in the graphical modeler and extend it (e.g. classify more "
    "rasters with the same trained model)."
)


# Advanced model inputs, passed to the training parameter of the same name in capitals; 0 = preset default.
ADVANCED = [("patch_size", "Patch size in pixels, odd"), ("pca_components", "PCA components"),
            ("contrastive_epochs", "Contrastive pre-training epochs"), ("diffusion_steps", "Diffusion training steps"),
            ("finetune_epochs", "Classifier fine-tuning epochs")]


def _from_input(name: str) -> list:
    return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]


def _static(value) -> list:
    return [QgsProcessingModelChildParameterSource.fromStaticValue(value)]


def _add_input(model, definition, x: float, y: float, advanced: bool = False) -> None:
    if advanced:
        definition.setFlags(definition.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    component = QgsProcessingModelParameter(definition.name())
    component.setPosition(QPointF(x, y))
    model.addModelParameter(definition, component)


def _fill_defaults(child: QgsProcessingModelChildAlgorithm) -> None:
    """Give every other parameter of the child its default, so the model validates and documents them."""
    algorithm = QgsApplication.processingRegistry().algorithmById(child.algorithmId())
    if algorithm is None:
        raise RuntimeError(f"{child.algorithmId()} is not registered: load the ContrastDM provider first")
    for definition in algorithm.parameterDefinitions():
        if definition.isDestination() or definition.name() in child.parameterSources():
            continue
        if definition.defaultValue() is None:
            continue
        child.addParameterSources(definition.name(), _static(definition.defaultValue()))


def _output(child_id: str, child_output: str, name: str, x: float, y: float) -> QgsProcessingModelOutput:
    output = QgsProcessingModelOutput(name, name)
    output.setChildId(child_id)
    output.setChildOutputName(child_output)
    output.setPosition(QPointF(x, y))
    return output


def build_model() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Train then classify", "ContrastDM")
    model.setHelpContent({"ALG_DESC": HELP, "ALG_CREATOR": "ContrastDM", "ALG_VERSION": "0.1.0"})

    vector_types = [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]
    _add_input(model, QgsProcessingParameterRasterLayer("input_raster", "Hyperspectral raster"), 120, 60)
    _add_input(model, QgsProcessingParameterFeatureSource(
        "training_vector", "Training polygons or points", vector_types), 360, 60)
    _add_input(model, QgsProcessingParameterField(
        "class_field", "Class field", parentLayerParameterName="training_vector"), 600, 60)
    _add_input(model, QgsProcessingParameterEnum(
        "preset", "Preset", options=["fast", "balanced"], defaultValue="balanced",
        usesStaticStrings=True), 840, 60)
    for i, (name, label) in enumerate(ADVANCED):
        _add_input(model, QgsProcessingParameterNumber(
            name, f"{label} (0 = preset default)", QgsProcessingParameterNumber.Integer, defaultValue=0,
            minValue=0), 1080, 60 + 60 * i, advanced=True)

    _add_input(model, QgsProcessingParameterBoolean(
        "synthetic", "Add synthetic features for scarce classes (diffusion model)", defaultValue=True),
        1080, 60 + 60 * len(ADVANCED), advanced=True)

    train = QgsProcessingModelChildAlgorithm("contrastdm:train_model")
    train.setChildId("train")
    train.setDescription("Train model")
    train.setPosition(QPointF(360, 260))
    train.addParameterSources("INPUT_RASTER", _from_input("input_raster"))
    train.addParameterSources("TRAINING_VECTOR", _from_input("training_vector"))
    train.addParameterSources("CLASS_FIELD", _from_input("class_field"))
    train.addParameterSources("PRESET", _from_input("preset"))
    for name, _label in ADVANCED:
        train.addParameterSources(name.upper(), _from_input(name))
    train.addParameterSources("SYNTHETIC", _from_input("synthetic"))
    train.setModelOutputs({"Trained model": _output("train", "OUTPUT_MODEL", "Trained model", 600, 330)})
    _fill_defaults(train)
    model.addChildAlgorithm(train)

    classify = QgsProcessingModelChildAlgorithm("contrastdm:classify_raster")
    classify.setChildId("classify")
    classify.setDescription("Classify raster")
    classify.setPosition(QPointF(360, 460))
    classify.addParameterSources("INPUT_RASTER", _from_input("input_raster"))
    classify.addParameterSources(
        "MODEL", [QgsProcessingModelChildParameterSource.fromChildOutput("train", "OUTPUT_MODEL")])
    classify.setModelOutputs({
        "Class map": _output("classify", "OUTPUT_RASTER", "Class map", 600, 530),
        "Confidence": _output("classify", "OUTPUT_CONFIDENCE", "Confidence", 600, 580),
    })
    _fill_defaults(classify)
    model.addChildAlgorithm(classify)
    return model


def main(path: Path = MODEL_FILE) -> Path:
    """Build the model (QGIS, Processing and the ContrastDM provider must be loaded) and save it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not build_model().toFile(str(path)):
        raise RuntimeError(f"could not write {path}")
    return path


if __name__ == "__main__":
    import os
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    sys.path.append("/usr/share/qgis/python/plugins")
    from qgis.core import QgsApplication

    app = QgsApplication([], False, tempfile.mkdtemp(prefix="contrastdm_model3_"))
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from contrastdm_qgis.provider import ContrastDMProvider

    provider = ContrastDMProvider()  # keep a reference: the registry does not keep the Python object alive
    QgsApplication.processingRegistry().addProvider(provider)
    print(main())
