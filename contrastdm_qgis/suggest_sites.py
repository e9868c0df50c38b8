"""Where to label next: the ``contrastdm:suggest_training_sites`` algorithm and the style of its point layer.

The engine (``contrastdm suggest``) writes a GeoPackage of points where the model is least sure; here they get
one colour per predicted class and a label "class / margin", in the toolbox as in the dialog.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorDestination,
    QgsProject,
    QgsRendererCategory,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor

from .algorithm_base import MODEL_FILTER, ContrastDMAlgorithm, _advanced, output_with_suffix
from .i18n import tr

ALGORITHM_ID = "contrastdm:suggest_training_sites"
LABEL_EXPRESSION = "\"predicted\" || ' / ' || format_number(\"margin\", 2)"
SITES_HELP = (
    "<p>Points where the model is least sure, to label next: the smallest margins between its two most probable "
    "classes, on the same class probabilities as the map (smoothing included). The points are spread over the "
    "scene (no two closer than the minimum distance) and over the predicted classes (one per class in turn, the "
    "least sure first). Each point carries the predicted class, the runner-up class and the margin (0: a tie, "
    "1: certain); the layer is labelled <i>class / margin</i>.</p>"
    "<p>Draw training polygons of the right class at the sites, retrain, and ask again.</p>"
)


class SuggestSitesAlgorithm(ContrastDMAlgorithm):
    COMMAND = "suggest"
    NAME = "suggest_training_sites"
    DISPLAY_NAME = "Suggest where to label"
    GROUP_ID = "training"
    GROUP = "Model training"
    HELP = SITES_HELP
    COUNT = "COUNT"
    MIN_DISTANCE = "MIN_DISTANCE"
    OUTPUT_SITES = "OUTPUT_SITES"
    SITES = "SITES"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_input()
        self.addParameter(QgsProcessingParameterFile(self.MODEL, self.tr("ContrastDM model"), fileFilter=MODEL_FILTER))
        self.addParameter(QgsProcessingParameterNumber(
            self.COUNT, self.tr("Number of sites"), QgsProcessingParameterNumber.Type.Integer, defaultValue=20,
            minValue=1))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            self.MIN_DISTANCE, self.tr("Least distance between sites in pixels (-1 = the larger of 10 and the "
                                       "model's patch size)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=-1, minValue=-1)))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            self.SMOOTHING_RADIUS, self.tr("Edge-preserving smoothing radius in pixels (0 = off, -1 = the model's)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=-1, minValue=-1)))
        self.add_device_and_seed(seed=False)
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT_SITES, self.tr("Suggested sites"), QgsProcessing.SourceType.TypeVectorPoint))
        self.addOutput(QgsProcessingOutputNumber(self.SITES, self.tr("Number of sites written")))

    def check_inputs(self, parameters, context) -> None:
        super().check_inputs(parameters, context)
        self.check_model_file(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        output = geopackage_output(self.parameterAsOutputLayer(parameters, self.OUTPUT_SITES, context))
        args = ["--raster", self.raster_path(parameters, context),
                "--model", self.parameterAsFile(parameters, self.MODEL, context), "--output", output,
                "--count", str(self.parameterAsInt(parameters, self.COUNT, context))]
        distance = self.parameterAsDouble(parameters, self.MIN_DISTANCE, context)
        if distance >= 0:
            args += ["--min-distance", f"{distance:g}"]
        radius = self.parameterAsInt(parameters, self.SMOOTHING_RADIUS, context)
        if radius >= 0:
            args += ["--smoothing-radius", str(radius)]
        args += self.device_arguments(parameters, context)
        result = self.run_engine(self.COMMAND, args, feedback, [output])
        self.check_written([output])
        colors = {str(c.get("name")): str(c.get("color") or "") for c in result.get("classes") or []}
        style_on_load(context, output, colors)
        return {self.OUTPUT_SITES: output, self.SITES: (result.get("metrics") or {}).get("sites")}


def geopackage_output(path: str) -> str:
    """The engine writes GeoPackages only: add the extension to a bare name, refuse any other."""
    path = output_with_suffix(path, ".gpkg")
    if path and os.path.splitext(path)[1].lower() != ".gpkg":
        raise QgsProcessingException(f"ContrastDM writes the sites as a GeoPackage: give them a .gpkg file name "
                                     f"({path}).")
    return path


def sites_path(map_path: str, exists=os.path.exists) -> str:
    """``<stem>_sites.gpkg`` next to a ``<stem>_classes.tif`` map, numbered so no existing file is replaced."""
    path = Path(map_path)
    stem = path.stem[: -len("_classes")] if path.stem.endswith("_classes") else path.stem
    for number in range(1, 1000):
        candidate = path.with_name(f"{stem}_sites.gpkg" if number == 1 else f"{stem}_sites_{number}.gpkg")
        if not exists(str(candidate)):
            break
    return str(candidate)


# -- style ----------------------------------------------------------------------------------------------

def _color(name: str, colors: dict) -> QColor:
    color = QColor(str(colors.get(name) or ""))
    if color.isValid():
        return color
    rng = random.Random(name)  # the same colour for a class every time
    return QColor.fromHsv(rng.randrange(360), 160 + rng.randrange(80), 170 + rng.randrange(70))


def apply_sites_style(layer: QgsVectorLayer, colors: dict | None = None) -> None:
    """One colour per predicted class (``colors``: class name -> colour, e.g. the map's), labels "class / margin"."""
    colors = colors or {}
    index = layer.fields().lookupField("predicted")
    categories = []
    for name in sorted(str(value) for value in layer.uniqueValues(index)):
        symbol = QgsMarkerSymbol.createSimple({"name": "circle", "size": "3.4", "outline_color": "0,0,0,255",
                                               "outline_width": "0.5"})
        symbol.setColor(_color(name, colors))
        categories.append(QgsRendererCategory(name, symbol, name))
    layer.setRenderer(QgsCategorizedSymbolRenderer("predicted", categories))
    layer.setLabeling(QgsVectorLayerSimpleLabeling(_label_settings()))
    layer.setLabelsEnabled(True)


def _label_settings() -> QgsPalLayerSettings:
    settings = QgsPalLayerSettings()
    settings.fieldName = LABEL_EXPRESSION
    settings.isExpression = True
    settings.placement = QgsPalLayerSettings.Placement.AroundPoint
    text = QgsTextFormat()
    text.setSize(9)
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(1)
    buffer.setColor(QColor("white"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    return settings


def class_colors(class_map) -> dict:
    """Class name -> colour of a paletted class map layer (empty for anything else)."""
    renderer = class_map.renderer() if class_map is not None else None
    if renderer is None or renderer.type() != "paletted":
        return {}
    return {item.label: item.color.name() for item in renderer.classes()}


def add_sites_to_project(path: str, group_name: str, colors: dict, project: QgsProject | None = None):
    """The sites as a styled, labelled point layer on top of the run's group (the top of the tree without one)."""
    project = project or QgsProject.instance()
    layer = QgsVectorLayer(str(path), tr("Where to label next"), "ogr")
    if not layer.isValid():
        return None
    apply_sites_style(layer, colors)
    project.addMapLayer(layer, False)
    group = project.layerTreeRoot().findGroup(group_name) if group_name else None
    (group or project.layerTreeRoot()).insertLayer(0, layer)
    return layer


class SitesStylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Styles the sites once Processing has loaded them into the project."""

    def __init__(self, colors: dict) -> None:
        super().__init__()
        self.colors = colors

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        if not isinstance(layer, QgsVectorLayer):
            return
        try:
            apply_sites_style(layer, self.colors)
        except Exception as exc:  # a style problem must never fail a finished job
            if feedback is not None:
                feedback.pushWarning(f"Could not style {layer.name()}: {exc}")
            return
        layer.triggerRepaint()


# Processing keeps only a pointer to a post-processor: keep the Python objects alive here.
_alive: list[SitesStylePostProcessor] = []


def style_on_load(context, path: str, colors: dict) -> None:
    if not path or not context.willLoadLayerOnCompletion(path):
        return
    processor = SitesStylePostProcessor(colors)
    _alive.append(processor)
    del _alive[:-200]
    context.layerToLoadOnCompletionDetails(path).setPostProcessor(processor)
