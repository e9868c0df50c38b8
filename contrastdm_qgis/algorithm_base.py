"""What the ContrastDM algorithms share: parameters, inputs as files, checks and the engine run.

The algorithms only gather file paths and options, then run the engine in a child process (engine_runner).
"""

from __future__ import annotations

import json
import os

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProviderRegistry,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import engine_runner, paths, settings

# The engine's choices (contrastdm/choices.py), copied: the plugin reaches the engine only through its CLI,
# possibly in another interpreter, and never imports it. tests/qgis/test_plugin_choices.py keeps them equal.
PRESETS = ["fast", "balanced"]
DEFAULT_PRESET = "balanced"
SPECTRAL_MEMBER = ["auto", "on", "off"]
DEFAULT_SPECTRAL_MEMBER = "auto"
REDUCTIONS = ["pca", "mnf"]
DEFAULT_REDUCTION = "pca"
DEVICES = ["auto", "cpu", "cuda", "mps"]
DEFAULT_DEVICE = "auto"
PRECISIONS = ["float32", "bfloat16", "auto"]
DEFAULT_PRECISION = "float32"
VECTOR_FORMATS = ["gpkg", "shp", "geojson", "json", "fgb"]
MODEL_FILTER = "ContrastDM model (*.safetensors)"
REPORT_FILTER = "HTML report (*.html)"
# Commands that fit the label-free preprocessing: they get the plugin's scene cache (settings.scene_cache_dir).
CACHED_COMMANDS = ("train", "run", "prepare")

# Numeric training options: (parameter name, CLI option, label). 0 leaves the value to the engine and preset.
PRESET_NUMBERS = [
    ("PATCH_SIZE", "--patch-size", "Patch size in pixels, odd"),
    ("PCA_COMPONENTS", "--pca-components", "Components kept by the spectral reduction"),
    ("CONTRASTIVE_EPOCHS", "--contrastive-epochs", "Contrastive pre-training epochs"),
    ("DIFFUSION_STEPS", "--diffusion-steps", "Diffusion training steps"),
    ("FINETUNE_EPOCHS", "--finetune-epochs", "Classifier fine-tuning epochs"),
    ("BATCH_SIZE", "--batch-size", "Batch size"),
]

TRAINING_HELP = (
    "<p><b>Training data</b>: polygons or points with a class field (text or integer), in any CRS (they are "
    "reprojected to the raster's CRS). At least two classes are needed; a few polygons per class are enough. "
    "Memory layers, database layers and 'selected features only' are exported to a temporary GeoPackage.</p>"
    "<p><b>Preset</b>: <i>balanced</i> (the default) for maps; <i>fast</i> for a first look in about 0.4 times "
    "the training time, 0.6 OA points lower on Indian Pines. "
    "Advanced numbers left at 0 take the engine's default for the preset. <i>Synthetic features</i> lets the "
    "diffusion model add samples to scarce classes (on in every preset); <i>refine</i> passes features "
    "through the diffusion model when classifying (slower; off in every preset).</p>"
    "<p>The heavy work runs in a separate Python process (the ContrastDM engine, with PyTorch). Its interpreter "
    "is found automatically or set in Settings &gt; Options &gt; Processing &gt; Providers &gt; ContrastDM.</p>"
)
CLASSIFY_HELP = (
    "<p><b>Outputs</b>: the class map (a GeoTIFF of class codes, loaded with the class colours and names) and, "
    "optionally, a confidence raster (0 to 1, from dark purple for uncertain pixels to yellow for confident ones).</p>"
)


def _advanced(param: QgsProcessingParameterDefinition) -> QgsProcessingParameterDefinition:
    param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return param


def geotiff_output(path: str, what: str) -> str:
    """The engine writes GeoTIFF only: refuse other extensions instead of writing a GeoTIFF named .img."""
    if path and os.path.splitext(path)[1].lower() not in (".tif", ".tiff"):
        raise QgsProcessingException(f"ContrastDM writes the {what} as a GeoTIFF: give it a .tif file name ({path}).")
    return path


def output_with_suffix(path: str, suffix: str) -> str:
    """Add the expected extension when the user typed a path without one."""
    if path and not os.path.splitext(path)[1]:
        return path + suffix
    return path


class ContrastDMAlgorithm(QgsProcessingAlgorithm):
    """What the three algorithms share: inputs as files, checks and the engine run."""

    INPUT_RASTER = "INPUT_RASTER"
    TRAINING_VECTOR = "TRAINING_VECTOR"
    CLASS_FIELD = "CLASS_FIELD"
    VALIDATION_VECTOR = "VALIDATION_VECTOR"
    VALIDATION_CLASS_FIELD = "VALIDATION_CLASS_FIELD"
    TEST_VECTOR = "TEST_VECTOR"
    PRESET = "PRESET"
    SYNTHETIC = "SYNTHETIC"
    REFINE = "REFINE"
    SPECTRAL_MEMBER = "SPECTRAL_MEMBER"
    WARM_START = "WARM_START"
    DATA_BUDGET = "DATA_BUDGET"
    CHOOSE_PATCH_SIZE = "CHOOSE_PATCH_SIZE"
    SMOOTHING_FROM_SCENE = "SMOOTHING_FROM_SCENE"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    SEED = "SEED"
    MODEL = "MODEL"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    OUTPUT_RASTER = "OUTPUT_RASTER"
    OUTPUT_CONFIDENCE = "OUTPUT_CONFIDENCE"
    SMOOTHING_RADIUS = "SMOOTHING_RADIUS"
    REDUCTION = "REDUCTION"
    BANDS = "BANDS"
    DROP_BANDS = "DROP_BANDS"
    COG = "COG"
    METRICS = "METRICS"

    COMMAND = ""
    NAME = ""
    DISPLAY_NAME = ""
    GROUP_ID = ""
    GROUP = ""
    HELP = ""

    def __init__(self) -> None:
        super().__init__()
        self._class_colors: dict | None = None

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802
        """Main thread, before the run: read what needs the project's layers (their symbology)."""
        if self.parameterDefinition(self.TRAINING_VECTOR) is not None:
            field = self.class_field(parameters, self.CLASS_FIELD, context)
            self._class_colors = self.class_colors(parameters, field, context)
        return True

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("ContrastDM", text)

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(paths.icon_path())

    def svgIconPath(self) -> str:  # noqa: N802
        return paths.icon_path()

    def tags(self) -> list[str]:
        return ["hyperspectral", "classification", "deep learning", "contrastive", "diffusion", "land cover",
                "contrastdm"]

    # -- parameters --------------------------------------------------------------------------------------

    def add_raster_input(self) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.INPUT_RASTER, self.tr("Hyperspectral (multiband) raster")))

    def add_training_inputs(self, with_test: bool = False) -> None:
        vector_types = [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint]
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.TRAINING_VECTOR, self.tr("Training polygons or points"), vector_types))
        self.addParameter(QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Class field"), parentLayerParameterName=self.TRAINING_VECTOR))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.VALIDATION_VECTOR, self.tr("Validation polygons or points (used to pick the best epoch)"),
            vector_types, optional=True))
        if with_test:
            self.addParameter(QgsProcessingParameterFeatureSource(
                self.TEST_VECTOR, self.tr("Test polygons or points (accuracy of the final map)"), vector_types,
                optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.PRESET, self.tr("Preset"), options=PRESETS, defaultValue=DEFAULT_PRESET, usesStaticStrings=True))
        self.addParameter(_advanced(QgsProcessingParameterField(
            self.VALIDATION_CLASS_FIELD, self.tr("Class field of the validation layer (default: the class field)"),
            parentLayerParameterName=self.VALIDATION_VECTOR, optional=True)))
        for name, _option, label in PRESET_NUMBERS:
            self.addParameter(_advanced(QgsProcessingParameterNumber(
                name, self.tr(f"{label} (0 = preset default)"), QgsProcessingParameterNumber.Integer,
                defaultValue=0, minValue=0)))
        # Defaults leave the preset in charge: every preset adds synthetic features, none refines.
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.SYNTHETIC, self.tr("Add synthetic features for scarce classes (diffusion model)"),
            defaultValue=True)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.REFINE, self.tr("Refine features with the diffusion model when classifying (slower; off in every preset)"),
            defaultValue=False)))
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            self.SPECTRAL_MEMBER, self.tr("Spectral member: average a per-pixel spectral classifier into the "
                                          "probabilities (auto: when the training pixels form areas)"),
            options=SPECTRAL_MEMBER, defaultValue=DEFAULT_SPECTRAL_MEMBER, usesStaticStrings=True)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.WARM_START, self.tr("Quick retrain: start from this raster's last model (same settings) and "
                                     "train a fifth of the schedule"), defaultValue=False)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.DATA_BUDGET, self.tr("Schedules fitted to the data: pre-train over the label-free patches about "
                                      "once and fine-tune once on every label (about half the time on small "
                                      "scenes; on Indian Pines' rectangles 2 points lower average accuracy)"),
            defaultValue=False)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.CHOOSE_PATCH_SIZE, self.tr("Choose the patch size (5, 7 or 11 px) on held-out training polygons: "
                                            "up to a fifth more training time; not with quick retrain"),
            defaultValue=False)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.SMOOTHING_FROM_SCENE, self.tr("Fit the map's smoothing to the scene: a narrower window where "
                                               "neighbouring pixels differ (small objects)"), defaultValue=True)))
        self.add_band_options()
        self.add_device_and_seed(seed=True)

    def add_band_options(self) -> None:
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            self.REDUCTION, self.tr("Spectral reduction (pca: principal components; mnf: minimum noise fraction)"),
            options=REDUCTIONS, defaultValue=DEFAULT_REDUCTION, usesStaticStrings=True)))
        self.addParameter(_advanced(QgsProcessingParameterString(
            self.BANDS, self.tr("Keep only these bands (e.g. 1-50,60 or 400-1300nm; empty: all good bands)"),
            optional=True)))
        self.addParameter(_advanced(QgsProcessingParameterString(
            self.DROP_BANDS, self.tr("Drop these bands too (e.g. 104-108 or 1340-1460nm)"), optional=True)))

    def add_device_and_seed(self, seed: bool) -> None:
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Compute device"), options=DEVICES, defaultValue=DEFAULT_DEVICE,
            usesStaticStrings=True)))
        self.addParameter(_advanced(QgsProcessingParameterEnum(
            self.PRECISION, self.tr("Arithmetic on a CPU (bfloat16: faster where the CPU computes it natively; "
                                    "auto: bfloat16 there, float32 elsewhere)"),
            options=PRECISIONS, defaultValue=DEFAULT_PRECISION, usesStaticStrings=True)))
        if seed:
            self.addParameter(_advanced(QgsProcessingParameterNumber(
                self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Integer, defaultValue=0,
                minValue=0)))

    def add_model_outputs(self) -> None:
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Trained model"), MODEL_FILTER))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.tr("Accuracy report"), REPORT_FILTER, optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.METRICS, self.tr("Accuracy metrics (JSON)")))

    def add_map_outputs(self) -> None:
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_RASTER, self.tr("Class map")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_CONFIDENCE, self.tr("Confidence"), optional=True, createByDefault=False))
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            self.SMOOTHING_RADIUS, self.tr("Edge-preserving smoothing radius in pixels (0 = off, -1 = the model's)"),
            QgsProcessingParameterNumber.Integer, defaultValue=-1, minValue=-1)))
        self.addParameter(_advanced(QgsProcessingParameterBoolean(
            self.COG, self.tr("Write Cloud-Optimized GeoTIFFs (with overviews)"), defaultValue=False)))

    # -- inputs as files -----------------------------------------------------------------------------------

    def raster_path(self, parameters, context) -> str:
        """The raster's GDAL file; rasters that are not files (WMS, WCS, ...) are refused."""
        layer = self.parameterAsRasterLayer(parameters, self.INPUT_RASTER, context)
        if layer is None:
            raise QgsProcessingException(self.tr("The input raster could not be loaded."))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(self.tr(
                f"The raster '{layer.name()}' is not a GDAL file (its provider is '{layer.providerType()}'). "
                "Save it as a GeoTIFF first (Raster > Conversion > Translate, or Export > Save As).")
            )
        source = layer.source()
        parts = QgsProviderRegistry.instance().decodeUri("gdal", source)
        path = parts.get("path") or source
        if parts.get("layerName") or source.startswith("/vsi") or os.path.isfile(source):
            return source
        if os.path.isfile(path):
            return path
        raise QgsProcessingException(self.tr(
            f"The raster '{layer.name()}' is not backed by a file the engine can read ({source}). "
            "Save it as a GeoTIFF first (Raster > Conversion > Translate).")
        )

    def vector_path(self, parameters, name, context, feedback) -> str:
        """A file the engine can read for a vector input: the layer's own file, or a temporary GeoPackage.

        Memory and database layers, 'selected features only', feature limits and filters are exported by
        Processing; a layer inside a multi-layer GeoPackage is exported too, so the engine gets one layer.
        """
        path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, name, context, VECTOR_FORMATS, "gpkg", feedback)
        if layer_name and _layer_count(path) > 1:
            path = self.parameterAsCompatibleSourceLayerPath(parameters, name, context, [], "gpkg", feedback)
        if not path:
            raise QgsProcessingException(self.tr(f"The layer for '{name}' could not be read."))
        return path

    def class_field(self, parameters, name, context) -> str:
        fields = self.parameterAsFields(parameters, name, context)
        return fields[0] if fields else ""

    def training_arguments(self, parameters, context, feedback) -> list[str]:
        field = self.class_field(parameters, self.CLASS_FIELD, context)
        args = ["--raster", self.raster_path(parameters, context),
                "--vector", self.vector_path(parameters, self.TRAINING_VECTOR, context, feedback),
                "--class-field", field]
        if parameters.get(self.VALIDATION_VECTOR) not in (None, ""):
            args += ["--validation-vector", self.vector_path(parameters, self.VALIDATION_VECTOR, context, feedback)]
            validation_field = self.class_field(parameters, self.VALIDATION_CLASS_FIELD, context)
            if validation_field:
                args += ["--validation-class-field", validation_field]
        args += ["--preset", self.parameterAsEnumString(parameters, self.PRESET, context) or DEFAULT_PRESET]
        choose_patch = self.parameterAsBoolean(parameters, self.CHOOSE_PATCH_SIZE, context)
        for name, option, _label in PRESET_NUMBERS:
            value = self.parameterAsInt(parameters, name, context)
            if value > 0 and not (choose_patch and name == "PATCH_SIZE"):
                args += [option, str(value)]
        if choose_patch:  # a size set as well is the one kept unless a candidate is clearly better
            size = self.parameterAsInt(parameters, "PATCH_SIZE", context)
            args += ["--patch-size", "auto"] + ([f"--set=patch_size={size}"] if size > 0 else [])
        # Only a change from the default is passed on, so that the preset decides otherwise.
        if not self.parameterAsBoolean(parameters, self.SYNTHETIC, context):
            args.append("--no-synthetic")
        if self.parameterAsBoolean(parameters, self.REFINE, context):
            args.append("--refine")
        if self.parameterAsBoolean(parameters, self.WARM_START, context):
            args.append("--warm-start")
        if self.parameterAsBoolean(parameters, self.DATA_BUDGET, context):
            args += ["--budget", "data"]
        if not self.parameterAsBoolean(parameters, self.SMOOTHING_FROM_SCENE, context):
            args.append("--set=smoothing_from_scene=false")  # the preset's radius as it is
        member = self.parameterAsEnumString(parameters, self.SPECTRAL_MEMBER, context) or DEFAULT_SPECTRAL_MEMBER
        if member != DEFAULT_SPECTRAL_MEMBER:
            args += ["--spectral-member", member]
        reduction = self.parameterAsEnumString(parameters, self.REDUCTION, context) or DEFAULT_REDUCTION
        if reduction != DEFAULT_REDUCTION:
            args += ["--reduction", reduction]
        for name, option in ((self.BANDS, "--bands"), (self.DROP_BANDS, "--drop-bands")):
            text = (self.parameterAsString(parameters, name, context) or "").strip()
            if text:
                args += [option, text]
        args += ["--seed", str(self.parameterAsInt(parameters, self.SEED, context))]
        colors = self._class_colors if self._class_colors is not None else self.class_colors(parameters, field, context)
        if colors:
            args += ["--class-colors", json.dumps(colors)]
        return args

    def map_arguments(self, parameters, context) -> list[str]:
        """Map options: the smoothing radius when the user set one (else the model's own applies), COG output."""
        radius = self.parameterAsInt(parameters, self.SMOOTHING_RADIUS, context)
        args = ["--smoothing-radius", str(radius)] if radius >= 0 else []
        if self.parameterAsBoolean(parameters, self.COG, context):
            args.append("--cog")
        return args

    def device_arguments(self, parameters, context) -> list[str]:
        args = ["--device", self.parameterAsEnumString(parameters, self.DEVICE, context) or DEFAULT_DEVICE]
        precision = self.parameterAsEnumString(parameters, self.PRECISION, context) or DEFAULT_PRECISION
        return args + (["--cpu-precision", precision] if precision != DEFAULT_PRECISION else [])

    def class_colors(self, parameters, field, context) -> dict:
        """Colours of a categorized training layer, so the class map matches what the user sees."""
        try:
            layer = self.parameterAsVectorLayer(parameters, self.TRAINING_VECTOR, context)
        except QgsProcessingException:
            return {}
        renderer = layer.renderer() if layer is not None else None
        if not isinstance(renderer, QgsCategorizedSymbolRenderer) or renderer.classAttribute() != field:
            return {}
        colors = {}
        for category in renderer.categories():
            value = category.value()
            if value in (None, "") or category.symbol() is None:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            colors[str(value)] = category.symbol().color().name()
        return colors

    # -- checks --------------------------------------------------------------------------------------------

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        try:
            self.check_inputs(parameters, context)
        except QgsProcessingException as exc:
            return False, str(exc)
        return True, ""

    def check_inputs(self, parameters, context) -> None:
        self.raster_path(parameters, context)

    def check_model_file(self, parameters, context) -> None:
        model = self.parameterAsFile(parameters, self.MODEL, context)
        if not model or not os.path.isfile(model):
            raise QgsProcessingException(self.tr(f"The model file does not exist: {model or '(none)'}"))

    def check_training_inputs(self, parameters, context) -> None:
        source = self.parameterAsSource(parameters, self.TRAINING_VECTOR, context)
        if source is None:
            raise QgsProcessingException(self.tr("The training layer could not be loaded."))
        field = self.class_field(parameters, self.CLASS_FIELD, context)
        index = source.fields().lookupField(field) if field else -1
        if index < 0:
            names = ", ".join(source.fields().names()) or "none"
            raise QgsProcessingException(self.tr(
                f"The class field '{field}' is not in the training layer (its fields: {names})."))
        classes = {value for value in source.uniqueValues(index) if not _is_null(value)}
        if len(classes) < 2:
            found = ", ".join(sorted(str(value) for value in classes)) or "none"
            raise QgsProcessingException(self.tr(
                f"The training layer needs at least two classes in '{field}' (found {len(classes)}: {found})."))
        if source.featureCount() == 0:
            raise QgsProcessingException(self.tr("The training layer has no features."))
        for layer_param, field_param in ((self.VALIDATION_VECTOR, self.VALIDATION_CLASS_FIELD),
                                         (self.TEST_VECTOR, None)):
            if self.parameterDefinition(layer_param) is None or parameters.get(layer_param) in (None, ""):
                continue
            other = self.parameterAsSource(parameters, layer_param, context)
            if other is None:
                raise QgsProcessingException(self.tr(f"The layer for '{layer_param}' could not be loaded."))
            other_field = (self.class_field(parameters, field_param, context) if field_param else "") or field
            if other.fields().lookupField(other_field) < 0:
                raise QgsProcessingException(self.tr(
                    f"The class field '{other_field}' is not in the layer given for "
                    f"{self.parameterDefinition(layer_param).description().lower()}."))

    # -- running -------------------------------------------------------------------------------------------

    def run_engine(self, command, args, feedback, outputs) -> dict:
        if command in CACHED_COMMANDS:
            args = [*args, "--cache-dir", settings.scene_cache_dir()]
        return engine_runner.run_engine(command, args, feedback, outputs=outputs)

    def report_metrics(self, result: dict, feedback) -> str:
        """Log the accuracy figures the engine reports and return all its metrics as JSON."""
        metrics = result.get("metrics") or {}
        for scope, values in _accuracy_figures(metrics):
            summary = ", ".join(f"{label} {value:.4g}" for label, value in values)
            feedback.pushInfo(self.tr(f"Accuracy{f' ({scope})' if scope else ''}: {summary}"))
        return json.dumps(metrics, default=str) if metrics else ""

    @staticmethod
    def check_written(paths_written: list[str]) -> None:
        missing = [path for path in paths_written if path and not os.path.exists(path)]
        if missing:
            raise QgsProcessingException(
                "The ContrastDM engine reported success but did not write: " + ", ".join(missing))


ACCURACY_KEYS = [("overall_accuracy", "overall accuracy"), ("average_accuracy", "average accuracy"),
                 ("kappa", "kappa")]


def _accuracy_figures(metrics, scope: str = "", depth: int = 0):
    """(scope, [(label, value), ...]) for each dict in the engine's metrics that holds accuracy figures."""
    if not isinstance(metrics, dict) or depth > 2:
        return
    values = [(label, float(metrics[key])) for key, label in ACCURACY_KEYS
              if isinstance(metrics.get(key), (int, float))]
    if values:
        yield scope, values
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from _accuracy_figures(value, f"{scope}.{key}" if scope else str(key), depth + 1)


def _layer_count(path: str) -> int:
    try:
        from osgeo import ogr
    except ImportError:
        return 1
    dataset = ogr.Open(path)
    return dataset.GetLayerCount() if dataset is not None else 1


def _is_null(value) -> bool:
    if value is None:
        return True
    is_null = getattr(value, "isNull", None)  # QVariant NULL
    if callable(is_null):
        try:
            return bool(is_null())
        except TypeError:
            return False
    return isinstance(value, str) and not value.strip()
