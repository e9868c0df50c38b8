"""Styles for class maps and confidence rasters when the engine's .qml sidecar is missing or present."""

import json

import numpy as np
from qgis.core import QgsProcessingContext, QgsProject, QgsRasterLayer

from contrastdm_qgis import styling

CLASSES = [{"id": 1, "name": "Corn", "color": "#1f77b4"}, {"id": 2, "name": "Woods", "color": "#2ca02c"}]


def write(path, data, dtype, tags=None, colormap=None):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=dtype, crs="EPSG:32616", transform=from_origin(500000, 4480000, 10, 10)) as dst:
        dst.write(data.astype(dtype), 1)
        if tags:
            dst.update_tags(**tags)
        if colormap:
            dst.write_colormap(1, colormap)
    return str(path)


def classes_of(layer):
    return {int(c.value): (c.label, c.color.name()) for c in layer.renderer().classes()}


def test_class_map_from_the_engine_tag(tmp_path):
    data = np.array([[1, 2], [2, 1]])
    layer = QgsRasterLayer(write(tmp_path / "map.tif", data, "uint8", {"CONTRASTDM_CLASSES": json.dumps(CLASSES)}),
                           "map")
    assert styling.apply_class_map_style(layer) is False  # no sidecar
    assert layer.renderer().type() == "paletted"
    assert classes_of(layer) == {1: ("Corn", "#1f77b4"), 2: ("Woods", "#2ca02c")}


def test_class_map_from_a_colour_table_or_unique_values(tmp_path):
    data = np.array([[1, 2], [3, 1]])
    layer = QgsRasterLayer(write(tmp_path / "ct.tif", data, "uint8",
                                 colormap={1: (255, 0, 0, 255), 2: (0, 255, 0, 255), 3: (0, 0, 255, 255)}), "ct")
    styling.apply_class_map_style(layer)
    assert classes_of(layer)[3][1] == "#0000ff"
    plain = QgsRasterLayer(write(tmp_path / "plain.tif", data, "uint8"), "plain")
    styling.apply_class_map_style(plain)
    assert plain.renderer().type() == "paletted"
    assert sorted(classes_of(plain)) == [1, 2, 3]


def test_the_sidecar_wins(tmp_path):
    source = QgsRasterLayer(write(tmp_path / "a.tif", np.array([[1, 2]]), "uint8",
                                  {"CONTRASTDM_CLASSES": json.dumps(CLASSES)}), "a")
    styling.apply_class_map_style(source)
    classes = source.renderer().classes()
    classes[0].label = "From the sidecar"
    from qgis.core import QgsPalettedRasterRenderer

    source.setRenderer(QgsPalettedRasterRenderer(source.dataProvider(), 1, classes))
    target = tmp_path / "b.tif"
    write(target, np.array([[1, 2]]), "uint8")
    source.saveNamedStyle(str(tmp_path / "b.qml"))
    layer = QgsRasterLayer(str(target), "b", "gdal", QgsRasterLayer.LayerOptions(loadDefaultStyle=False))
    assert layer.renderer().type() != "paletted"
    assert styling.apply_class_map_style(layer) is True
    assert classes_of(layer)[1][0] == "From the sidecar"


def test_confidence_gradient(tmp_path):
    layer = QgsRasterLayer(write(tmp_path / "conf.tif", np.array([[0.2, 0.9]]), "float32"), "conf")
    assert styling.apply_confidence_style(layer) is False
    renderer = layer.renderer()
    assert renderer.type() == "singlebandpseudocolor"
    assert (renderer.classificationMin(), renderer.classificationMax()) == (0.0, 1.0)
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert [i.color.name() for i in items] == styling.CONFIDENCE_COLORS
    percent = QgsRasterLayer(write(tmp_path / "pct.tif", np.array([[20, 90]]), "uint8"), "pct")
    styling.apply_confidence_style(percent)
    assert percent.renderer().classificationMax() == 100.0


def test_post_processor_styles_layers_loaded_on_completion(tmp_path):
    path = write(tmp_path / "map.tif", np.array([[1, 2]]), "uint8", {"CONTRASTDM_CLASSES": json.dumps(CLASSES)})
    context = QgsProcessingContext()
    styling.style_on_load(context, path, "class_map")  # not set to load: nothing to do
    assert not context.willLoadLayerOnCompletion(path)
    context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails("Class map", QgsProject.instance(), "X"))
    styling.style_on_load(context, path, "class_map")
    processor = context.layerToLoadOnCompletionDetails(path).postProcessor()
    assert processor is not None
    layer = QgsRasterLayer(path, "map", "gdal", QgsRasterLayer.LayerOptions(loadDefaultStyle=False))
    processor.postProcessLayer(layer, context, None)
    assert layer.renderer().type() == "paletted"
