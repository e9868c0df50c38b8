"""checkParameterValues and input resolution, without running the engine."""

import pytest
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant


def algorithm(name):
    return QgsApplication.processingRegistry().createAlgorithmById(f"contrastdm:{name}")


def check(name, parameters):
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    return algorithm(name).checkParameterValues(parameters, context)


def memory_polygons(values, crs="EPSG:32616", field_type=QVariant.String):
    layer = QgsVectorLayer(f"Polygon?crs={crs}", "training", "memory")
    provider = layer.dataProvider()
    provider.addAttributes([QgsField("class_name", field_type)])
    layer.updateFields()
    features = []
    for i, value in enumerate(values):
        feature = QgsFeature(layer.fields())
        x = 500_000 + 40 * i
        feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(x, 4_479_900, x + 30, 4_479_930)))
        feature.setAttribute(0, value)
        features.append(feature)
    provider.addFeatures(features)
    return layer


def train_parameters(plugin_scene, vector=None, field="class_name", **extra):
    return {"INPUT_RASTER": str(plugin_scene.raster), "TRAINING_VECTOR": vector or str(plugin_scene.training),
            "CLASS_FIELD": field, "OUTPUT_MODEL": "TEMPORARY_OUTPUT", **extra}


def test_valid_training_inputs_pass(plugin_scene):
    assert check("train_model", train_parameters(plugin_scene)) == (True, "")
    assert check("train_and_classify", train_parameters(plugin_scene, OUTPUT_RASTER="TEMPORARY_OUTPUT")) == (True, "")


def test_a_missing_class_field_is_refused(plugin_scene):
    ok, message = check("train_model", train_parameters(plugin_scene, field="landcover"))
    assert not ok
    assert "landcover" in message


def test_one_class_is_not_enough(plugin_scene, project):
    layer = memory_polygons(["Corn", "Corn", None, ""])
    project.addMapLayer(layer)
    ok, message = check("train_model", train_parameters(plugin_scene, vector=layer.id()))
    assert not ok
    assert "at least two classes" in message and "found 1: Corn" in message


def test_nulls_do_not_count_as_a_class(plugin_scene, project):
    layer = memory_polygons([1, None, None], field_type=QVariant.Int)
    project.addMapLayer(layer)
    ok, message = check("train_model", train_parameters(plugin_scene, vector=layer.id()))
    assert not ok and "found 1" in message
    layer2 = memory_polygons([1, 2, None], field_type=QVariant.Int)
    project.addMapLayer(layer2)
    assert check("train_model", train_parameters(plugin_scene, vector=layer2.id())) == (True, "")


def test_selected_features_only_are_checked(plugin_scene, project):
    layer = memory_polygons(["Corn", "Woods", "Woods"])
    project.addMapLayer(layer)
    layer.selectByIds([f.id() for f in layer.getFeatures() if f["class_name"] == "Woods"])
    selected = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    ok, message = check("train_model", train_parameters(plugin_scene, vector=selected))
    assert not ok and "found 1: Woods" in message


def test_validation_layer_needs_the_class_field(plugin_scene, tmp_path):
    from plugin_scenes import training_frame

    other = tmp_path / "validation.gpkg"
    training_frame().rename(columns={"class_name": "label"}).to_file(other, driver="GPKG")
    ok, message = check("train_model", train_parameters(plugin_scene, VALIDATION_VECTOR=str(other)))
    assert not ok and "'class_name' is not in the layer given for validation" in message
    ok, _ = check("train_model", train_parameters(plugin_scene, VALIDATION_VECTOR=str(other),
                                                  VALIDATION_CLASS_FIELD="label"))
    assert ok


def test_classify_needs_an_existing_model(plugin_scene, tmp_path):
    ok, message = check("classify_raster", {"INPUT_RASTER": str(plugin_scene.raster),
                                            "MODEL": str(tmp_path / "none.safetensors"),
                                            "OUTPUT_RASTER": "TEMPORARY_OUTPUT"})
    assert not ok


def test_rasters_that_are_not_gdal_files_are_refused(plugin_scene, monkeypatch):
    class WmsLayer:
        def name(self):
            return "Basemap"

        def providerType(self):  # noqa: N802
            return "wms"

        def source(self):
            return "crs=EPSG:3857&format=image/png&type=xyz&url=https://tile.example.org/{z}/{x}/{y}.png"

    alg = algorithm("classify_raster")
    monkeypatch.setattr(type(alg), "parameterAsRasterLayer", lambda self, *a: WmsLayer())
    with pytest.raises(QgsProcessingException, match="is not a GDAL file.*Save it as a GeoTIFF"):
        alg.raster_path({}, QgsProcessingContext())


def test_memory_and_selected_layers_are_exported_to_geopackages(plugin_scene, project):
    layer = memory_polygons(["Corn", "Woods", "Soybean"])
    project.addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(project)
    alg = algorithm("train_model")
    path = alg.vector_path({"TRAINING_VECTOR": layer.id()}, "TRAINING_VECTOR", context, QgsProcessingFeedback())
    assert path.endswith(".gpkg")
    exported = QgsVectorLayer(path, "exported", "ogr")
    assert exported.featureCount() == 3
    assert exported.crs().authid() == "EPSG:32616"
    assert exported.fields().lookupField("class_name") >= 0
    layer.selectByIds([next(layer.getFeatures()).id()])
    selected = alg.vector_path({"TRAINING_VECTOR": QgsProcessingFeatureSourceDefinition(layer.id(), True)},
                               "TRAINING_VECTOR", context, QgsProcessingFeedback())
    assert QgsVectorLayer(selected, "selected", "ogr").featureCount() == 1
    # A plain GeoPackage with one layer is passed as it is.
    own = alg.vector_path({"TRAINING_VECTOR": str(plugin_scene.training)}, "TRAINING_VECTOR", context,
                          QgsProcessingFeedback())
    assert own == str(plugin_scene.training)


def test_a_layer_of_a_multi_layer_geopackage_is_exported(plugin_scene, tmp_path):
    from plugin_scenes import training_frame

    many = tmp_path / "many.gpkg"
    training_frame().to_file(many, driver="GPKG", layer="roads")
    training_frame().to_file(many, driver="GPKG", layer="training")
    alg = algorithm("train_model")
    path = alg.vector_path({"TRAINING_VECTOR": f"{many}|layername=training"}, "TRAINING_VECTOR",
                           QgsProcessingContext(), QgsProcessingFeedback())
    assert path != str(many) and path.endswith(".gpkg")
    assert QgsVectorLayer(path, "x", "ogr").featureCount() == 6


def test_training_arguments(plugin_scene, project):
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory, QgsSymbol
    from qgis.PyQt.QtGui import QColor

    layer = QgsVectorLayer(str(plugin_scene.training), "training", "ogr")
    categories = []
    for value, color in (("Corn", "#ffcc00"), ("Woods", "#006400")):
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(color))
        categories.append(QgsRendererCategory(value, symbol, value))
    layer.setRenderer(QgsCategorizedSymbolRenderer("class_name", categories))
    project.addMapLayer(layer)
    context = QgsProcessingContext()
    context.setProject(project)
    alg = algorithm("train_model")
    parameters = train_parameters(plugin_scene, vector=layer.id(), PRESET="fast", CONTRASTIVE_EPOCHS=3,
                                  SYNTHETIC=False, SEED=7, DEVICE="cpu")
    args = alg.training_arguments(parameters, context, QgsProcessingFeedback()) + alg.device_arguments(parameters, context)
    joined = " ".join(args)
    assert f"--raster {plugin_scene.raster}" in joined
    assert f"--vector {plugin_scene.training}" in joined
    assert "--class-field class_name --preset fast --contrastive-epochs 3 --no-synthetic --seed 7" in joined
    assert "--refine" not in joined  # unchecked: the preset decides
    assert "--patch-size" not in joined and "--finetune-epochs" not in joined  # 0 = preset default
    assert args[args.index("--class-colors") + 1] == '{"Corn": "#ffcc00", "Woods": "#006400"}'
    assert args[-2:] == ["--device", "cpu"]  # float32 by default: the engine's own default, not passed
    fast = alg.device_arguments(train_parameters(plugin_scene, DEVICE="cpu", PRECISION="auto"), context)
    assert fast == ["--device", "cpu", "--cpu-precision", "auto"]
    defaults = alg.training_arguments(train_parameters(plugin_scene, REFINE=True), context, QgsProcessingFeedback())
    assert "--refine" in defaults and "--synthetic" not in defaults and "--no-synthetic" not in defaults
    assert "--spectral-member" not in defaults  # auto: the engine decides from the training layout
    assert "--warm-start" not in defaults
    warm = alg.training_arguments(train_parameters(plugin_scene, WARM_START=True), context, QgsProcessingFeedback())
    assert "--warm-start" in warm
    assert "--budget" not in defaults
    fitted = alg.training_arguments(train_parameters(plugin_scene, DATA_BUDGET=True), context, QgsProcessingFeedback())
    assert fitted[fitted.index("--budget") + 1] == "data"
    chosen = alg.training_arguments(train_parameters(plugin_scene, CHOOSE_PATCH_SIZE=True, PATCH_SIZE=9), context,
                                    QgsProcessingFeedback())
    assert chosen[chosen.index("--patch-size") + 1] == "auto" and chosen.count("--patch-size") == 1
    assert "--set=patch_size=9" in chosen
    assert "--smoothing-radius" not in defaults and not any("smoothing" in a for a in defaults)  # the scene's
    fixed = alg.training_arguments(train_parameters(plugin_scene, SMOOTHING_FROM_SCENE=False), context,
                                   QgsProcessingFeedback())
    assert "--set=smoothing_from_scene=false" in fixed and "--smoothing-radius" not in fixed
    off = alg.training_arguments(train_parameters(plugin_scene, SPECTRAL_MEMBER="off"), context,
                                 QgsProcessingFeedback())
    assert off[off.index("--spectral-member") + 1] == "off"


def test_outputs_must_be_geotiffs(plugin_scene, tmp_path):
    import processing

    model = tmp_path / "model.safetensors"
    model.write_bytes(b"not used: refused before the engine starts")
    with pytest.raises(QgsProcessingException, match=r"as a GeoTIFF: give it a \.tif file name"):
        processing.run("contrastdm:classify_raster", {"INPUT_RASTER": str(plugin_scene.raster), "MODEL": str(model),
                                                       "OUTPUT_RASTER": str(tmp_path / "map.img")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_smoothing_radius_is_passed_only_when_set(plugin_scene):
    context = QgsProcessingContext()
    classify, both = algorithm("classify_raster"), algorithm("train_and_classify")
    assert classify.map_arguments({}, context) == []  # -1: the model's own radius
    assert classify.map_arguments({"SMOOTHING_RADIUS": 0}, context) == ["--smoothing-radius", "0"]
    assert both.map_arguments({"SMOOTHING_RADIUS": 3}, context) == ["--smoothing-radius", "3"]
    assert classify.map_arguments({"COG": True}, context) == ["--cog"]
    assert classify.parameterDefinition("SMOOTHING_RADIUS").defaultValue() == -1
