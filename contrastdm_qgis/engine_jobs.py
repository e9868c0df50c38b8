"""Background jobs on the engine's environment: probing it (``doctor``) and setting it up (venv + pip).

Neither blocks QGIS: the probe runs in a Python thread and reports through a queued Qt signal; the set-up
runs its commands one after the other in a QProcess whose output is streamed line by line.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from qgis.core import QgsProcessingException
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QObject, QProcess, QProcessEnvironment, pyqtSignal

from . import engine_runner, engine_setup, paths, settings
from .i18n import tr

DOCTOR_TIMEOUT_S = 90.0

_last_probe: dict | None = None  # the latest probe's result, shown by new dialogs without probing again


def last_probe() -> dict | None:
    return _last_probe


def resolve_interpreter(python: str | None = None) -> engine_runner.EngineInterpreter:
    """The interpreter ``python`` (with the engine's source folders), or the one the algorithms will use."""
    plugin_dir = paths.plugin_dir()
    if python:
        return engine_runner.EngineInterpreter(python, engine_runner.engine_pythonpath(plugin_dir), "chosen")
    return engine_runner.find_interpreter(plugin_dir)


def probe_engine(python: str | None = None, timeout: float = DOCTOR_TIMEOUT_S) -> dict:
    """Run ``<python> -m contrastdm doctor``; returns python, origin, info (doctor's JSON), ready, message, device."""
    global _last_probe
    result = {"python": python or "", "origin": "", "info": None, "ready": False, "message": "", "device": ""}
    try:
        interpreter = resolve_interpreter(python)
    except QgsProcessingException as exc:
        result.update(message=str(exc), device=tr("No engine: set one up"))
        _last_probe = result
        return result
    result.update(python=interpreter.python, origin=interpreter.origin)
    try:
        done = subprocess.run(
            [interpreter.python, "-m", engine_runner.ENGINE_MODULE, "doctor"],
            env=engine_runner.child_environment(interpreter.pythonpath), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout,
            **engine_runner._popen_platform_kwargs(),
        )
        info = engine_setup.parse_doctor(done.stdout)
        ready, message = engine_setup.summarize_doctor(info, done.returncode, done.stderr,
                                                       has_nvidia=shutil.which("nvidia-smi") is not None)
    except FileNotFoundError:
        info, ready, message = None, False, tr("The interpreter does not exist: {}").format(interpreter.python)
    except subprocess.TimeoutExpired:
        info, ready, message = None, False, tr("The engine did not answer within {} s.").format(int(timeout))
    except OSError as exc:
        info, ready, message = None, False, tr("The interpreter could not be started: {}").format(exc)
    result.update(info=info, ready=ready, message=message, device=engine_setup.describe_device(info))
    _last_probe = result
    return result


class DoctorProbe(QObject):
    """Runs :func:`probe_engine` in a thread; ``finished`` carries its result in the main thread."""

    finished = pyqtSignal(dict)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, python: str | None = None) -> None:
        def work():
            result = probe_engine(python)
            # The dialog that owns this probe may have been closed (and deleted) while the engine answered:
            # emitting on a deleted object would crash QGIS.
            if not sip.isdeleted(self):
                self.finished.emit(result)

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()


class EngineSetupRunner(QObject):
    """Creates the managed environment: runs the steps of :func:`engine_setup.setup_plan` in a QProcess."""

    output = pyqtSignal(str)           # a line of the commands' output
    step_started = pyqtSignal(int, int, str)  # index, count, title
    finished = pyqtSignal(bool, str)   # success, message

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.steps: list[engine_setup.Step] = []
        self.index = -1
        self.venv_python = ""
        self.torch_version = engine_setup.DEFAULT_TORCH_VERSION
        self._output: list[str] = []
        self.history: list[str] = []  # every line of this set-up, for a page opened while it runs
        self._cancelled = False

    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def plan(self, variant: str, base_python: str | None = None, venv: Path | None = None) -> list[engine_setup.Step]:
        platform = engine_setup.current_platform()
        plugin_dir = paths.plugin_dir()
        base = base_python or engine_setup.find_base_python(platform)
        if not base:
            raise RuntimeError(tr("No Python interpreter to create the environment with was found next to QGIS."))
        venv = venv or engine_setup.managed_venv(platform)
        requirements = engine_setup.plugin_requirements(plugin_dir)
        self.torch_version = engine_setup.pinned_torch_version(requirements)
        has_sources = bool(engine_runner.engine_pythonpath(plugin_dir))
        self.venv_python = str(engine_setup.venv_python(venv, platform))
        return engine_setup.setup_plan(platform, base, venv, variant, self.torch_version,
                                       engine_setup.find_links(requirements),
                                       engine_package=None if has_sources else "contrastdm")

    def start(self, steps: list[engine_setup.Step], venv_python: str | None = None) -> None:
        self.steps = list(steps)
        if venv_python:
            self.venv_python = venv_python
        self.index = -1
        self._cancelled = False
        self.history = []
        self._next()

    def cancel(self) -> None:
        self._cancelled = True
        if self.running():
            self.process.kill()

    def _environment(self) -> QProcessEnvironment:
        env = QProcessEnvironment()
        pythonpath = engine_runner.engine_pythonpath(paths.plugin_dir())
        for key, value in engine_runner.child_environment(pythonpath).items():
            env.insert(key, value)
        env.insert("PIP_PROGRESS_BAR", "off")
        return env

    def _next(self) -> None:
        self.index += 1
        if self.index >= len(self.steps):
            if self.venv_python:
                settings.set_engine_python(self.venv_python)
            self.finished.emit(True, tr("The engine is set up: {}").format(self.venv_python))
            return
        step = self.steps[self.index]
        self._output = []
        self.step_started.emit(self.index, len(self.steps), tr(step.title))
        self._emit("$ " + (subprocess.list2cmdline(step.argv) if engine_setup.current_platform() == "windows"
                           else " ".join(_quote(a) for a in step.argv)))
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.setProcessEnvironment(self._environment())
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._done)
        self.process.errorOccurred.connect(self._error)
        self.process.start(step.argv[0], step.argv[1:])

    def _read(self) -> None:
        data = bytes(self.process.readAllStandardOutput()).decode("utf-8", errors="replace")
        for line in data.splitlines():
            self._output.append(line)
            self._emit(line)

    def _emit(self, line: str) -> None:
        self.history.append(line)
        del self.history[:-5000]
        self.output.emit(line)

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            step = self.steps[self.index]
            self.finished.emit(False, tr("{step} failed: {program} could not be started.").format(
                step=tr(step.title), program=step.argv[0]))

    def _done(self, code, _status) -> None:
        self._read()
        if self._cancelled:
            self.finished.emit(False, tr("The set-up was cancelled."))
            return
        if code != 0:
            step = self.steps[self.index]
            self.finished.emit(False, engine_setup.explain_failure(tr(step.title), code, "\n".join(self._output),
                                                                   self.torch_version))
            return
        self._next()


_shared_runner: EngineSetupRunner | None = None


def shared_setup_runner() -> EngineSetupRunner:
    """One set-up per QGIS session, outliving the options page that started it."""
    global _shared_runner
    if _shared_runner is None:
        _shared_runner = EngineSetupRunner()
    return _shared_runner


def stop_shared_setup_runner() -> None:
    global _shared_runner
    if _shared_runner is not None:
        _shared_runner.cancel()
        if _shared_runner.process is not None:
            _shared_runner.process.waitForFinished(3000)
        _shared_runner.deleteLater()
        _shared_runner = None


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
