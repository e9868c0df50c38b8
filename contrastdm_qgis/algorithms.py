"""The ContrastDM Processing algorithms: train a model, classify a raster, or both in one go."""

from __future__ import annotations

from qgis.core import QgsProcessingParameterFile

from . import styling
from .algorithm_base import (
    CLASSIFY_HELP,
    MODEL_FILTER,
    TRAINING_HELP,
    ContrastDMAlgorithm,
    geotiff_output,
    output_with_suffix,
)


class TrainModelAlgorithm(ContrastDMAlgorithm):
    COMMAND = "train"
    NAME = "train_model"
    DISPLAY_NAME = "Train model"
    GROUP_ID = "training"
    GROUP = "Model training"
    HELP = ("<p>Trains a ContrastDM model on a hyperspectral raster from labelled polygons or points and "
            "saves it as a <i>.safetensors</i> file for <b>Classify raster</b>. With a validation layer, an "
            "HTML accuracy report can be written.</p>" + TRAINING_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_input()
        self.add_training_inputs()
        self.add_model_outputs()

    def check_inputs(self, parameters, context) -> None:
        super().check_inputs(parameters, context)
        self.check_training_inputs(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        args = self.training_arguments(parameters, context, feedback) + self.device_arguments(parameters, context)
        model = output_with_suffix(self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context), ".safetensors")
        report = output_with_suffix(self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context), ".html")
        args += ["--model", model]
        if report:
            args += ["--report", report]
        result = self.run_engine(self.COMMAND, args, feedback, [model, report])
        self.check_written([model, report])
        return {self.OUTPUT_MODEL: model, self.OUTPUT_REPORT: report or None,
                self.METRICS: self.report_metrics(result, feedback)}


class ClassifyRasterAlgorithm(ContrastDMAlgorithm):
    COMMAND = "classify"
    NAME = "classify_raster"
    DISPLAY_NAME = "Classify raster"
    GROUP_ID = "classification"
    GROUP = "Classification"
    HELP = ("<p>Classifies a hyperspectral raster with a model from <b>Train model</b>. The raster must have "
            "the same bands as the one the model was trained on.</p>" + CLASSIFY_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_input()
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("ContrastDM model"), fileFilter=MODEL_FILTER))
        self.add_map_outputs()
        self.add_device_and_seed(seed=False)

    def check_inputs(self, parameters, context) -> None:
        super().check_inputs(parameters, context)
        self.check_model_file(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        model = self.parameterAsFile(parameters, self.MODEL, context)
        output = geotiff_output(self.parameterAsOutputLayer(parameters, self.OUTPUT_RASTER, context), "class map")
        confidence = geotiff_output(self.parameterAsOutputLayer(parameters, self.OUTPUT_CONFIDENCE, context),
                                     "confidence raster")
        args = ["--raster", self.raster_path(parameters, context), "--model", model, "--output", output]
        if confidence:
            args += ["--confidence", confidence]
        args += self.map_arguments(parameters, context) + self.device_arguments(parameters, context)
        self.run_engine(self.COMMAND, args, feedback, [output, confidence])
        self.check_written([output, confidence])
        styling.style_on_load(context, output, "class_map")
        styling.style_on_load(context, confidence, "confidence")
        return {self.OUTPUT_RASTER: output, self.OUTPUT_CONFIDENCE: confidence or None}


class TrainAndClassifyAlgorithm(ContrastDMAlgorithm):
    COMMAND = "run"
    NAME = "train_and_classify"
    DISPLAY_NAME = "Train and classify"
    GROUP_ID = "classification"
    GROUP = "Classification"
    HELP = ("<p>Trains a ContrastDM model on a hyperspectral raster and classifies the same raster in one "
            "run. The model is kept so that other rasters can be classified with <b>Classify raster</b>. "
            "With a test layer, the map's accuracy goes into the report and the METRICS output.</p>"
            + TRAINING_HELP + CLASSIFY_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_input()
        self.add_training_inputs(with_test=True)
        self.add_map_outputs()
        self.add_model_outputs()

    def check_inputs(self, parameters, context) -> None:
        super().check_inputs(parameters, context)
        self.check_training_inputs(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        args = self.training_arguments(parameters, context, feedback)
        if parameters.get(self.TEST_VECTOR) not in (None, ""):
            args += ["--test-vector", self.vector_path(parameters, self.TEST_VECTOR, context, feedback)]
        args += self.map_arguments(parameters, context) + self.device_arguments(parameters, context)
        model = output_with_suffix(self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context), ".safetensors")
        report = output_with_suffix(self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context), ".html")
        output = geotiff_output(self.parameterAsOutputLayer(parameters, self.OUTPUT_RASTER, context), "class map")
        confidence = geotiff_output(self.parameterAsOutputLayer(parameters, self.OUTPUT_CONFIDENCE, context),
                                     "confidence raster")
        args += ["--model", model, "--output", output]
        if confidence:
            args += ["--confidence", confidence]
        if report:
            args += ["--report", report]
        result = self.run_engine(self.COMMAND, args, feedback, [model, output, confidence, report])
        self.check_written([model, output, confidence, report])
        styling.style_on_load(context, output, "class_map")
        styling.style_on_load(context, confidence, "confidence")
        return {self.OUTPUT_MODEL: model, self.OUTPUT_REPORT: report or None, self.OUTPUT_RASTER: output,
                self.OUTPUT_CONFIDENCE: confidence or None, self.METRICS: self.report_metrics(result, feedback)}


ALGORITHMS = [TrainModelAlgorithm, ClassifyRasterAlgorithm, TrainAndClassifyAlgorithm]
