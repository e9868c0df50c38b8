"""Train, classify and evaluate in one job: what `contrastdm run`, the demo and QGIS's one-step tool use."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .choices import DEFAULT_PRECISION
from .classify import ClassifyResult, classify
from .evaluate import map_accuracy, write_map_report
from .feedback import NullFeedback
from .io.atomic import check_outputs
from .train import TrainResult, train


@dataclass
class RunResult:
    training: TrainResult
    classification: ClassifyResult | None  # None on the ranks of a torchrun job other than rank 0
    metrics: dict | None
    report_path: str | None
    seconds: float


def run(raster, vector, class_field: str, model_path, output, *, confidence=None, probabilities=None,
        test_vector=None, test_class_field=None, report=None, tile_size: int = 256, device: str = "auto",
        cog: bool = False, feedback=None, **train_options) -> RunResult:
    """Train on ``vector``, classify the whole ``raster``, and evaluate on ``test_vector`` when given."""
    feedback = feedback or NullFeedback()
    started = time.monotonic()
    # Refuse unusable output paths before minutes of training, not after.
    check_outputs([model_path, output, confidence, probabilities, report],
                  inputs=[raster, vector, test_vector, train_options.get("validation_vector")])
    trained = train(raster, vector, class_field, model_path, device=device, feedback=feedback, **train_options)
    from .distributed import current

    result = classify(raster, trained.model, output, confidence=confidence, probabilities=probabilities,
                      tile_size=tile_size, device=device, cog=cog, feedback=feedback,
                      precision=train_options.get("cpu_precision") or DEFAULT_PRECISION)
    if not current().is_main:  # under torchrun every rank trains and classifies its share; rank 0 reports
        return RunResult(trained, None, None, None, time.monotonic() - started)
    metrics = None
    if test_vector is not None:
        metrics, _ = map_accuracy(output, test_vector, test_class_field or class_field, feedback,
                                  source="test vector")
    if report is not None:
        extra = {
            "training": trained.model.metadata["training"],
            "classification": {"pixels": result.pixels, "seconds": round(result.seconds, 2),
                               "pixels_per_second": round(result.pixels_per_second), "device": result.device,
                               "pixels_per_class": result.class_counts},
            "test_vector": str(test_vector) if test_vector else None,
        }
        write_map_report(report, output, trained.model.classes, metrics=metrics, history=trained.history,
                         config=trained.config, extra=extra,
                         spectra=trained.model.metadata.get("class_spectra"))
    return RunResult(trained, result, metrics, str(report) if report else None, time.monotonic() - started)
