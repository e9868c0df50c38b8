"""Accuracy of a class map against reference polygons or points: metrics, JSON and an HTML report."""

from __future__ import annotations

import numpy as np

from .feedback import NullFeedback
from .io.raster import describe, open_raster, preview, values_at
from .io.vectors import ClassTable, load_labels
from .io.writer import ClassInfo, read_class_map_info
from .metrics import classification_metrics


def map_accuracy(map_path, vector, class_field: str, feedback=None, source: str = "reference vector") -> tuple[dict, list[ClassInfo]]:
    """Metrics of the map at every labelled pixel of ``vector``; classes are matched by name."""
    feedback = feedback or NullFeedback()
    feedback.progress("evaluate", 0.0, "reading reference labels")
    with open_raster(map_path) as ds:
        info = describe(ds, min_bands=1)
        classes = read_class_map_info(map_path)
        table = ClassTable(tuple(c.id for c in classes), tuple(c.name for c in classes))
        pixels = load_labels(vector, class_field, info, feedback, classes=table, source=source)
        predicted = values_at(ds, pixels.rows, pixels.cols).astype(np.int64)
    feedback.progress("evaluate", 0.8, f"{len(pixels)} reference pixels")
    present = [c for c in classes if np.any(pixels.class_ids == c.id)]
    metrics = classification_metrics(pixels.class_ids, predicted, [c.id for c in present], [c.name for c in present])
    metrics["reference_pixels"] = int(len(pixels))
    metrics["unclassified_reference_pixels"] = int(np.sum(predicted == 0))
    feedback.progress("evaluate", 1.0, f"OA {metrics['overall_accuracy']:.2f}")
    return metrics, classes


def evaluate(map_path, vector, class_field: str, report=None, *, history=None, config=None, extra=None,
             feedback=None) -> dict:
    """Evaluate ``map_path`` against ``vector`` and write an HTML report (plus JSON) when ``report`` is given."""
    metrics, classes = map_accuracy(map_path, vector, class_field, feedback)
    if report is not None:
        write_map_report(report, map_path, classes, metrics=metrics, history=history, config=config, extra=extra)
    return metrics


def write_map_report(report, map_path, classes, *, metrics=None, history=None, config=None, extra=None,
                     title: str = "ContrastDM classification report", spectra=None) -> None:
    from .report import write_report

    with open_raster(map_path) as ds:
        thumbnail = preview(ds)
    write_report(report, title=title, metrics=metrics, history=history, config=config or {},
                 map_preview=thumbnail, classes=classes, extra=extra, spectra=spectra)
