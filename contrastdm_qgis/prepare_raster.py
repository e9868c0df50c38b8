"""Preparing a raster for training ahead of time: the ``contrastdm:prepare_raster`` algorithm and the dialog's
background preparation.

Training starts with a stage that needs no labels (band selection and the spectral reduction, fitted on a
sample of the raster's pixels). The engine keeps its result in a scene cache (``contrastdm prepare``,
docs/cli.md); the plugin's cache is ``<QGIS profile>/contrastdm/cache`` (``settings.scene_cache_dir``) and
every train, run and prepare call gets it. Once a raster is prepared, training on it skips that stage.
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsMessageLog,
    QgsProcessingOutputString,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QObject, QTimer, pyqtSignal

from .algorithm_base import ContrastDMAlgorithm, _advanced
from .i18n import tr

ALGORITHM_ID = "contrastdm:prepare_raster"
LOG_TAG = "ContrastDM"
PREPARE_HELP = (
    "<p>Prepares a hyperspectral raster for training: finds its bad bands and fits the spectral reduction on a "
    "sample of its pixels, and keeps the result in ContrastDM's scene cache (in the QGIS profile). Training "
    "on this raster with the same reduction, bands and seed then starts from it instead of reading the sample "
    "again, which saves most of the first stage on a large scene. The toolbar dialog does this in the "
    "background as soon as a raster is picked.</p>"
    "<p>Nothing is written besides the cache; the outputs say where the entry is and whether it was already "
    "there.</p>"
)


class PrepareRasterAlgorithm(ContrastDMAlgorithm):
    COMMAND = "prepare"
    NAME = "prepare_raster"
    DISPLAY_NAME = "Prepare raster (scene cache)"
    GROUP_ID = "training"
    GROUP = "Model training"
    HELP = PREPARE_HELP
    CACHE_ENTRY = "CACHE_ENTRY"
    CACHE_STATUS = "CACHE_STATUS"

    def initAlgorithm(self, config=None):  # noqa: N802
        self.add_raster_input()
        # The same parameters, defaults and meaning as in the training algorithms, so their runs find the entry.
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            "PCA_COMPONENTS", self.tr("Components kept by the spectral reduction (0 = preset default)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0)))
        self.add_band_options()
        self.addParameter(_advanced(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Type.Integer, defaultValue=0,
            minValue=0)))
        self.addOutput(QgsProcessingOutputString(self.CACHE_ENTRY, self.tr("Scene cache entry")))
        self.addOutput(QgsProcessingOutputString(
            self.CACHE_STATUS, self.tr("Scene cache (hit: it was already prepared; miss: prepared now)")))

    def preparation_arguments(self, parameters, context) -> list[str]:
        args = ["--raster", self.raster_path(parameters, context)]
        components = self.parameterAsInt(parameters, "PCA_COMPONENTS", context)
        if components > 0:
            args += ["--pca-components", str(components)]
        reduction = self.parameterAsEnumString(parameters, self.REDUCTION, context)
        if reduction:
            args += ["--reduction", reduction]
        for name, option in ((self.BANDS, "--bands"), (self.DROP_BANDS, "--drop-bands")):
            text = (self.parameterAsString(parameters, name, context) or "").strip()
            if text:
                args += [option, text]
        return args + ["--seed", str(self.parameterAsInt(parameters, self.SEED, context))]

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        result = self.run_engine(self.COMMAND, self.preparation_arguments(parameters, context), feedback, [])
        entry = str((result.get("outputs") or {}).get("cache_entry") or "")
        status = str((result.get("metrics") or {}).get("cache") or "")
        if status == "hit":
            feedback.pushInfo(self.tr("The raster was already prepared: {}").format(entry))
        else:
            feedback.pushInfo(self.tr("Raster prepared: {}").format(entry))
        return {self.CACHE_ENTRY: entry, self.CACHE_STATUS: status}


class RasterPreparer(QObject):
    """The dialog's background preparation: runs ``contrastdm:prepare_raster`` for the raster picked, a moment
    after it is picked (so scrolling through the list starts nothing), one at a time; a newer pick cancels the
    run in progress. ``state`` carries a short text for a label ("" when there is nothing to say)."""

    state = pyqtSignal(str)
    done = pyqtSignal(bool, str)  # success, the raster's layer id

    DELAY_MS = 400

    def __init__(self, parent=None) -> None:
        from .dialog_run import RunController

        super().__init__(parent)
        self.controller = RunController(self, ALGORITHM_ID)
        self.controller.progress.connect(self._on_progress)
        self.controller.finished.connect(self._on_finished)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DELAY_MS)
        self._timer.timeout.connect(self._start_pending)
        self._pending: dict | None = None
        self._current: dict | None = None
        self.started = 0  # runs started, for tests and the log

    def running(self) -> bool:
        return self.controller.running()

    def busy(self) -> bool:
        """Running or about to start one."""
        return self.running() or self._timer.isActive() or self._pending is not None

    def prepare(self, layer, parameters: dict | None = None) -> None:
        """Prepare ``layer`` (a raster layer of the project, or None to stop) with ``parameters`` of the
        algorithm besides the raster (PCA_COMPONENTS, SEED...)."""
        if layer is None:
            self._pending = None
            self._timer.stop()
            self.cancel()
            self.state.emit("")
            return
        wanted = {**(parameters or {}), "INPUT_RASTER": layer.id()}
        if self._current == wanted and self.running():
            return
        self._pending = wanted
        self._layer_name = layer.name()
        self._timer.start()

    def cancel(self) -> None:
        if self.controller.running():
            self.controller.cancel()

    def _start_pending(self) -> None:
        if self._pending is None:
            return
        if self.controller.running():  # the older run stops first; the newer one starts when it has
            self.controller.cancel()
            return
        parameters, self._pending = self._pending, None
        ok, message = self.controller.check(parameters)
        if not ok:  # not a file, say: training would say so too
            QgsMessageLog.logMessage(tr("The raster cannot be prepared: {}").format(message), LOG_TAG, Qgis.Info)
            self.state.emit("")
            return
        self._current = parameters
        self.started += 1
        self.state.emit(tr("Preparing the raster for training..."))
        self.controller.start(parameters, tr("ContrastDM: preparing {} for training").format(self._layer_name))

    def _on_progress(self, percent: float) -> None:
        self.state.emit(tr("Preparing the raster for training: {}%").format(int(percent)))

    def _on_finished(self, success: bool, results: dict, error: str) -> None:
        current, self._current = self._current, None
        layer_id = (current or {}).get("INPUT_RASTER", "")
        if success:
            hit = results.get(PrepareRasterAlgorithm.CACHE_STATUS) == "hit"
            self.state.emit(tr("Raster ready for training (prepared earlier)") if hit
                            else tr("Raster ready for training"))
        elif self.controller.cancelled:
            self.state.emit("")
        else:
            QgsMessageLog.logMessage(tr("Preparing the raster failed (training will do it instead): {}").format(
                error or tr("see the Processing log")), LOG_TAG, Qgis.Warning)
            self.state.emit("")
        self.done.emit(bool(success), layer_id)
        if self._pending is not None:
            self._timer.start()
