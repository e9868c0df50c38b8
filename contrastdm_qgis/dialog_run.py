"""Running the toolbox's own algorithm for the dialog, and putting its results into the project.

The dialog never trains anything itself: it fills the parameters of ``contrastdm:train_and_classify`` and
runs that algorithm in a ``QgsProcessingAlgRunnerTask`` (a QGIS background task, so QGIS stays responsive
and the run also shows, cancellable, in the task manager). The algorithm starts the engine process.
"""

from __future__ import annotations

import os
import time

from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal

from . import styling
from .i18n import tr

ALGORITHM_ID = "contrastdm:train_and_classify"

# What a running task points to but does not own (its context and feedback), kept alive until it has run even
# when the controller that started it is gone (a dialog closed and deleted while its background task stops).
_RUNNING: dict[int, tuple] = {}


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def estimate_remaining(elapsed: float, percent: float) -> float | None:
    """Seconds left for the whole run, from the overall progress so far (None until it means something)."""
    if percent < 2.0 or percent >= 100.0 or elapsed < 3.0:
        return None
    return elapsed * (100.0 - percent) / percent


def eta_text(elapsed: float, percent: float) -> str:
    remaining = estimate_remaining(elapsed, percent)
    text = tr("Elapsed {}").format(format_duration(elapsed))
    if remaining is not None:
        text += " · " + tr("about {} left").format(format_duration(remaining))
    return text


class DialogFeedback(QgsProcessingFeedback):
    """A Processing feedback that also signals its progress text and log lines (queued into the GUI thread)."""

    textChanged = pyqtSignal(str)
    logged = pyqtSignal(str, str)  # level ("info", "warning", "error"), text

    def __init__(self) -> None:
        super().__init__()
        self.last_error = ""

    def setProgressText(self, text):  # noqa: N802 - QGIS API
        super().setProgressText(text)
        self.textChanged.emit(text)

    def pushInfo(self, text):  # noqa: N802
        super().pushInfo(text)
        self.logged.emit("info", text)

    def pushWarning(self, text):  # noqa: N802
        super().pushWarning(text)
        self.logged.emit("warning", text)

    def pushDebugInfo(self, text):  # noqa: N802
        super().pushDebugInfo(text)
        self.logged.emit("debug", text)

    def reportError(self, text, fatalError=False):  # noqa: N802
        super().reportError(text, fatalError)
        self.last_error = str(text)
        self.logged.emit("error", text)


class RunController(QObject):
    """One run of the algorithm in a background task; emits what the dialog shows."""

    progress = pyqtSignal(float)
    stage = pyqtSignal(str)
    log = pyqtSignal(str, str)
    finished = pyqtSignal(bool, dict, str)  # success, results, error message ("" when cancelled)

    def __init__(self, parent=None, algorithm_id: str = ALGORITHM_ID) -> None:
        super().__init__(parent)
        self.algorithm_id = algorithm_id
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.feedback: DialogFeedback | None = None
        self.context: QgsProcessingContext | None = None
        self.started_at = 0.0
        self.cancelled = False
        self.percent = 0.0

    def running(self) -> bool:
        return self.task is not None

    def check(self, parameters: dict) -> tuple[bool, str]:
        """The toolbox's own checks on the parameters (raster is a file, class field exists, two classes...)."""
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(self.algorithm_id)
        if algorithm is None:
            return False, tr("The ContrastDM Processing provider is not loaded.")
        context = self._context()
        ok, message = algorithm.checkParameterValues(parameters, context)
        return bool(ok), message

    def _context(self) -> QgsProcessingContext:
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        return context

    def start(self, parameters: dict, description: str) -> bool:
        if self.task is not None:
            return False
        algorithm = QgsApplication.processingRegistry().algorithmById(self.algorithm_id)
        self.context = self._context()
        self.feedback = DialogFeedback()
        self.feedback.progressChanged.connect(self._on_progress)
        self.feedback.textChanged.connect(self.stage)
        self.feedback.logged.connect(self.log)
        self.cancelled = False
        self.percent = 0.0
        self.started_at = time.monotonic()
        # The task copies the algorithm and prepares it here, in the GUI thread (class colours are read here).
        task = QgsProcessingAlgRunnerTask(algorithm, parameters, self.context, self.feedback)
        task.setDescription(description)
        task.executed.connect(self._on_executed)
        key = id(task)
        _RUNNING[key] = (task, self.context, self.feedback)
        task.executed.connect(lambda *_args, key=key: _RUNNING.pop(key, None))
        self.task = task
        QgsApplication.taskManager().addTask(task)
        return True

    def cancel(self) -> None:
        if self.task is not None:
            self.cancelled = True
            self.stage.emit(tr("Cancelling: stopping the engine..."))
            self.task.cancel()  # cancels the feedback: the algorithm stops the engine process

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def _on_progress(self, value: float) -> None:
        self.percent = float(value)
        self.progress.emit(self.percent)

    def _on_executed(self, successful: bool, results: dict) -> None:
        error = "" if self.cancelled else (self.feedback.last_error if self.feedback else "")
        self.task = None
        self.finished.emit(bool(successful) and not self.cancelled, dict(results or {}), error)


def add_results_to_project(results: dict, group_name: str, project: QgsProject | None = None):
    """The class map (paletted, class names and colours) and the confidence raster, in a new group on top."""
    project = project or QgsProject.instance()
    root = project.layerTreeRoot()
    group = root.insertGroup(0, group_name)
    layers = []
    for key, name, apply in (("OUTPUT_RASTER", tr("Class map"), styling.apply_class_map_style),
                             ("OUTPUT_CONFIDENCE", tr("Confidence"), styling.apply_confidence_style)):
        path = results.get(key)
        if not path or not os.path.isfile(str(path)):
            continue
        layer = QgsRasterLayer(str(path), name, "gdal")
        if not layer.isValid():
            continue
        apply(layer)
        project.addMapLayer(layer, False)
        node = group.addLayer(layer)
        if key == "OUTPUT_CONFIDENCE":
            node.setItemVisibilityChecked(False)  # under the class map anyway; one click shows it
        layers.append(layer)
    return group, layers
