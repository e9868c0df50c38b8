"""The engine's environment in the QGIS options (Settings > Options > ContrastDM) and in the dialog's tab.

Shows the interpreter the algorithms will use, its PyTorch and the device (from ``<python> -m contrastdm
doctor``), re-probes on "Check", and "Set up engine" creates a virtual environment in the QGIS profile and
installs PyTorch (CPU or CUDA build) and the engine's libraries into it, with pip's output shown live.
Nothing here imports torch: the page works, and says what is missing, when the engine is not installed.
"""

from __future__ import annotations

import shutil

from qgis.gui import QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QFontDatabase, QIcon
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import engine_jobs, engine_setup, paths, settings
from .i18n import tr

PAGE_TITLE = "ContrastDM"


def default_variant(platform: str, has_nvidia: bool) -> str:
    """The PyTorch build to offer first: CUDA when an NVIDIA driver is present (not on macOS), else CPU."""
    if platform == "darwin":
        return "default"
    return "cu126" if has_nvidia else "cpu"


class EngineWidget(QWidget):
    """Interpreter, PyTorch, device; Check; Set up engine with live output."""

    probed = pyqtSignal(dict)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ContrastDMEngineWidget")
        self.probe = engine_jobs.DoctorProbe(self)
        self.probe.finished.connect(self._on_probed)
        self.setup_runner = engine_jobs.shared_setup_runner()
        self.setup_runner.output.connect(self._append)
        self.setup_runner.step_started.connect(self._on_step)
        self.setup_runner.finished.connect(self._on_setup_finished)
        self.last_result: dict | None = None

        self.python_widget = QgsFileWidget()
        self.python_widget.setStorageMode(QgsFileWidget.GetFile)
        self.python_widget.setFilePath(settings.engine_python())
        self.python_widget.lineEdit().setPlaceholderText(tr("automatic"))
        self.used_label = QLabel()
        self.torch_label = QLabel()
        self.device_label = QLabel()
        self.status_label = QLabel()
        for label in (self.used_label, self.torch_label, self.device_label, self.status_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_button = QPushButton(tr("Check"))
        self.check_button.clicked.connect(self.check)

        status = QGroupBox(tr("Engine"))
        form = QFormLayout(status)
        form.addRow(tr("Interpreter (empty: automatic)"), self.python_widget)
        form.addRow(tr("In use"), self.used_label)
        form.addRow(tr("PyTorch"), self.torch_label)
        form.addRow(tr("Device"), self.device_label)
        form.addRow(self.status_label)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.check_button)
        form.addRow(row)

        platform = engine_setup.current_platform()
        setup = QGroupBox(tr("Set up engine"))
        setup_layout = QVBoxLayout(setup)
        where = QLabel(tr("Creates a Python environment for the engine in {folder} and installs PyTorch and the "
                          "engine's libraries into it (a few GB; needs the internet or a local wheel folder). QGIS's "
                          "own Python is left untouched.").format(folder=engine_setup.managed_venv(platform)))
        where.setWordWrap(True)
        self.variant_combo = QComboBox()
        if platform == "darwin":
            self.variant_combo.addItem(tr("PyTorch from PyPI (CPU and Apple GPU)"), "default")
        else:
            for key, label in engine_setup.TORCH_VARIANTS:
                self.variant_combo.addItem(tr(label), key)
        self.variant_combo.setCurrentIndex(max(0, self.variant_combo.findData(
            default_variant(platform, shutil.which("nvidia-smi") is not None))))
        self.setup_button = QPushButton(tr("Set up engine"))
        self.setup_button.clicked.connect(self.set_up)
        self.cancel_setup_button = QPushButton(tr("Stop"))
        self.cancel_setup_button.setEnabled(False)
        self.cancel_setup_button.clicked.connect(self.setup_runner.cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel(tr("PyTorch build")))
        buttons.addWidget(self.variant_combo, 1)
        buttons.addWidget(self.setup_button)
        buttons.addWidget(self.cancel_setup_button)
        self.step_label = QLabel()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText(tr("pip's output appears here during the set-up."))
        setup_layout.addWidget(where)
        setup_layout.addLayout(buttons)
        setup_layout.addWidget(self.step_label)
        setup_layout.addWidget(self.log, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(status)
        layout.addWidget(setup, 1)
        if self.setup_runner.running():  # opened again while a set-up runs: show where it is
            self.log.setPlainText("\n".join(self.setup_runner.history))
            self.setup_button.setEnabled(False)
            self.cancel_setup_button.setEnabled(True)

    # -- probing -------------------------------------------------------------------------------------------

    def chosen_python(self) -> str:
        return self.python_widget.filePath().strip()

    def show_probe_or_check(self) -> None:
        """Show the last probe when it is about the interpreter in the field, else probe now."""
        last = engine_jobs.last_probe()
        if last is not None and (not self.chosen_python() or last.get("python") == self.chosen_python()):
            self._on_probed(last)
        else:
            self.check()

    def check(self) -> None:
        if self.probe.running():
            return
        self.check_button.setEnabled(False)
        self.status_label.setText(tr("Checking the engine..."))
        self.probe.start(self.chosen_python() or None)

    def _on_probed(self, result: dict) -> None:
        self.last_result = result
        self.check_button.setEnabled(True)
        info = result.get("info") or {}
        origin = {"setting": tr("set in the settings"), "checkout": tr("source checkout"),
                  "managed": tr("set up by the plugin"), "search": tr("found automatically"),
                  "chosen": tr("chosen here")}.get(result.get("origin", ""), "")
        python = result.get("python") or tr("none")
        self.used_label.setText(f"{python} ({origin})" if origin else python)
        self.torch_label.setText(str(info.get("torch") or tr("not installed")))
        self.device_label.setText(result.get("device") or "")
        color = "#1a7f37" if result.get("ready") else "#b30000"
        self.status_label.setText(f"<span style='color:{color}'>{result.get('message', '')}</span>")
        self.probed.emit(result)

    # -- set-up --------------------------------------------------------------------------------------------

    def set_up(self, steps=None, venv_python: str | None = None) -> bool:
        if self.setup_runner.running():
            return False
        try:
            steps = steps or self.setup_runner.plan(self.variant_combo.currentData())
        except (RuntimeError, ValueError) as exc:
            self._on_setup_finished(False, str(exc))
            return False
        self.log.clear()
        self.setup_button.setEnabled(False)
        self.cancel_setup_button.setEnabled(True)
        self.setup_runner.start(steps, venv_python)
        return True

    def _append(self, line: str) -> None:
        self.log.appendPlainText(line)

    def _on_step(self, index: int, count: int, title: str) -> None:
        self.step_label.setText(tr("Step {i} of {n}: {title}...").format(i=index + 1, n=count, title=title))

    def _on_setup_finished(self, success: bool, message: str) -> None:
        self.setup_button.setEnabled(True)
        self.cancel_setup_button.setEnabled(False)
        color = "#1a7f37" if success else "#b30000"
        self.step_label.setText(f"<span style='color:{color}'><b>{message}</b></span>")
        self._append(message)
        if success:
            self.python_widget.setFilePath(settings.engine_python())
            self.check()

    def apply(self) -> None:
        settings.set_engine_python(self.chosen_python())


class EngineOptionsPage(QgsOptionsPageWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("ContrastDMOptionsPage")
        self.widget = EngineWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.widget)
        self.widget.show_probe_or_check()

    def apply(self) -> None:
        if self.widget.setup_runner.running():
            QMessageBox.information(self, PAGE_TITLE, tr("The engine set-up goes on in the background."))
        self.widget.apply()


class EngineOptionsFactory(QgsOptionsWidgetFactory):
    """Settings > Options > ContrastDM."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle(PAGE_TITLE)
        self.setIcon(QIcon(paths.icon_path()))

    def icon(self) -> QIcon:
        return QIcon(paths.icon_path())

    def createWidget(self, parent):  # noqa: N802 - QGIS API
        return EngineOptionsPage(parent)
