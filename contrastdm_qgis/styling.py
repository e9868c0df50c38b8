"""Styles for the engine's outputs: a paletted class map and a confidence gradient.

The engine writes a ``.qml`` sidecar next to each raster it produces (class colours and names for the map,
a gradient for the confidence). Processing loads result layers without their default style, so a layer
post-processor applies the sidecar; when there is none, a sensible style is built here.
"""

from __future__ import annotations

import json
import os
import random

from qgis.core import (
    QgsColorRampShader,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtGui import QColor

# Viridis, as in the engine's own confidence style: dark purple (uncertain) to yellow (confident).
CONFIDENCE_COLORS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]


def sidecar_style(raster_path: str) -> str:
    return os.path.splitext(raster_path)[0] + ".qml"


def _load_sidecar(layer: QgsRasterLayer) -> bool:
    qml = sidecar_style(layer.source())
    if not os.path.isfile(qml):
        return False
    _message, ok = layer.loadNamedStyle(qml)
    return bool(ok)


def _gdal_band_info(layer: QgsRasterLayer) -> tuple[list[str], list[dict]]:
    """Class names from the GeoTIFF: GDAL category names and the engine's CONTRASTDM_CLASSES tag."""
    try:
        from osgeo import gdal
    except ImportError:
        return [], []
    dataset = gdal.Open(layer.source())
    if dataset is None:
        return [], []
    names = list(dataset.GetRasterBand(1).GetCategoryNames() or [])
    try:
        classes = json.loads(dataset.GetMetadataItem("CONTRASTDM_CLASSES") or "[]")
    except ValueError:
        classes = []
    return names, [c for c in classes if isinstance(c, dict) and "id" in c]


def _random_color(value) -> QColor:
    rng = random.Random(str(value))
    return QColor.fromHsv(rng.randrange(360), 160 + rng.randrange(80), 170 + rng.randrange(70))


def apply_class_map_style(layer: QgsRasterLayer) -> bool:
    """Paletted style with class names: the sidecar when present, else the engine's class tag, the file's
    colour table or its unique values. Returns whether the sidecar was used."""
    if _load_sidecar(layer) and layer.renderer() is not None and layer.renderer().type() == "paletted":
        return True
    provider = layer.dataProvider()
    names, tagged = _gdal_band_info(layer)
    if tagged:  # the engine's own class list: ids, names and colours
        classes = [QgsPalettedRasterRenderer.Class(int(c["id"]), QColor(str(c.get("color") or "")),
                                                   str(c.get("name") or c["id"])) for c in tagged]
        for item in classes:
            if not item.color.isValid():
                item.color = _random_color(item.value)
    else:
        classes = QgsPalettedRasterRenderer.colorTableToClassData(provider.colorTable(1))
        if not classes:
            classes = QgsPalettedRasterRenderer.classDataFromRaster(provider, 1)
            for item in classes:
                item.color = _random_color(item.value)
    for item in classes:
        index = int(item.value)
        if not tagged and 0 <= index < len(names) and names[index]:
            item.label = names[index]
        elif not item.label:
            item.label = str(index)
    layer.setRenderer(QgsPalettedRasterRenderer(provider, 1, classes))
    return False


def _confidence_range(layer: QgsRasterLayer) -> tuple[float, float]:
    """0-1 for floating-point confidence, else 0-100 or 0-255 for integer encodings."""
    from qgis.core import Qgis, QgsRasterBandStats

    data_type = layer.dataProvider().dataType(1)
    if data_type in (Qgis.Float32, Qgis.Float64):
        return 0.0, 1.0
    stats = layer.dataProvider().bandStatistics(1, QgsRasterBandStats.Max, layer.extent(), 250000)
    return 0.0, 100.0 if stats.maximumValue <= 100 else 255.0


def apply_confidence_style(layer: QgsRasterLayer) -> bool:
    """Viridis gradient from uncertain to confident: the sidecar when present, else built here."""
    if _load_sidecar(layer):
        return True
    low, high = _confidence_range(layer)
    shader = QgsColorRampShader(low, high)
    shader.setColorRampType(QgsColorRampShader.Interpolated)
    steps = len(CONFIDENCE_COLORS) - 1
    items = []
    for i, color in enumerate(CONFIDENCE_COLORS):
        value = low + (high - low) * i / steps
        label = "low confidence" if i == 0 else "high confidence" if i == steps else f"{value:g}"
        items.append(QgsColorRampShader.ColorRampItem(value, QColor(color), label))
    shader.setColorRampItemList(items)
    raster_shader = QgsRasterShader()
    raster_shader.setRasterShaderFunction(shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(low)
    renderer.setClassificationMax(high)
    layer.setRenderer(renderer)
    return False


class OutputStylePostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies a style function to a result layer once Processing has loaded it into the project."""

    def __init__(self, apply) -> None:
        super().__init__()
        self._apply = apply

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        if not isinstance(layer, QgsRasterLayer):
            return
        try:
            self._apply(layer)
        except Exception as exc:  # a style problem must never fail a finished job
            if feedback is not None:
                feedback.pushWarning(f"Could not style {layer.name()}: {exc}")
            return
        layer.triggerRepaint()
        layer.emitStyleChanged()
        try:
            from qgis.utils import iface
        except ImportError:
            iface = None
        if iface is not None and hasattr(iface, "layerTreeView") and iface.layerTreeView() is not None:
            iface.layerTreeView().refreshLayerSymbology(layer.id())


# Processing keeps only a pointer to a post-processor: keep the Python objects alive here.
_alive: list[OutputStylePostProcessor] = []


def _post_processor(apply) -> OutputStylePostProcessor:
    processor = OutputStylePostProcessor(apply)
    _alive.append(processor)
    del _alive[:-200]
    return processor


def style_on_load(context, path: str, kind: str) -> None:
    """Style the output at ``path`` ("class_map" or "confidence") when Processing loads it."""
    if not path or not context.willLoadLayerOnCompletion(path):
        return
    apply = apply_class_map_style if kind == "class_map" else apply_confidence_style
    context.layerToLoadOnCompletionDetails(path).setPostProcessor(_post_processor(apply))
