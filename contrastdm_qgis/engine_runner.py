"""Run the ContrastDM engine in a child process and relay its JSON lines to a Processing feedback.

The plugin never imports the engine (or torch): it starts ``<python> -m contrastdm <command> ...
--progress jsonl`` and reads one JSON object per line from the child's stdout (docs/cli.md).
"""

from __future__ import annotations

import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from . import engine_setup, paths, settings
from .engine_protocol import EngineEventHandler

ENGINE_MODULE = "contrastdm"
PROBE_CODE = "import contrastdm, torch; print(contrastdm.__version__)"
PROBE_TIMEOUT_S = 120.0
TERMINATE_GRACE_S = 5.0
STDERR_TAIL_LINES = 12
CANCELLED_MESSAGE = "Cancelled by the user: the ContrastDM engine was stopped and no output was written."

SETTING_HINT = ("then set its interpreter (e.g. ~/contrastdm-env/bin/python) in Settings > Options > Processing > "
                "Providers > ContrastDM > Engine Python interpreter.")


def setup_hint(plugin_dir: Path) -> str:
    """How to get an engine interpreter: the bundled engine's requirements, or the engine package itself."""
    requirements = plugin_dir / "engine" / "requirements.txt"
    if requirements.is_file():
        install = f"~/contrastdm-env/bin/pip install -r {requirements}"
    else:
        install = "~/contrastdm-env/bin/pip install torch contrastdm"
    return (f"Create a Python environment for it, e.g. `python3 -m venv --system-site-packages ~/contrastdm-env "
            f"&& {install}`, " + SETTING_HINT)


# ----------------------------------------------------------------------------------------------------------
# Finding the interpreter
# ----------------------------------------------------------------------------------------------------------

@dataclass
class EngineInterpreter:
    """An interpreter that can run ``-m contrastdm``, with the folders to put on its PYTHONPATH."""

    python: str
    pythonpath: list[str] = field(default_factory=list)
    origin: str = ""  # "setting", "checkout" or "search": where it was found, for messages

    def describe(self) -> str:
        return f"{self.python} ({self.origin})" if self.origin else self.python


def source_checkout(plugin_dir: Path) -> Path | None:
    """The repository root when the plugin runs from a source checkout (it has .venv and core/contrastdm)."""
    root = plugin_dir.parent
    if (root / ".venv").is_dir() and (root / "core" / "contrastdm" / "__init__.py").is_file():
        return root
    return None


def engine_pythonpath(plugin_dir: Path) -> list[str]:
    """Folders holding the engine's sources that ship with the plugin (checkout core/, or a bundled engine/)."""
    found = []
    root = source_checkout(plugin_dir)
    if root is not None:
        found.append(str(root / "core"))
    bundled = plugin_dir / "engine"
    if (bundled / "contrastdm" / "__init__.py").is_file():
        found.append(str(bundled))
    return found


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def candidate_pythons() -> list[str]:
    """Interpreters worth probing when neither a setting nor a checkout gives one (first found wins)."""
    names = ["python3", "python"]
    found = [shutil.which(name) for name in names]
    if os.name == "nt":
        found += [os.path.join(sys.prefix, "python.exe"), os.path.join(sys.base_prefix, "python.exe")]
    else:
        found += [os.path.join(sys.prefix, "bin", "python3"), "/usr/bin/python3", "/usr/local/bin/python3"]
    unique: list[str] = []
    for path in found:
        if path and path not in unique and _is_executable(path):
            unique.append(path)
    return unique


_probe_cache: dict[tuple[str, tuple[str, ...]], bool] = {}


def probe_python(python: str, pythonpath: list[str], timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``python`` can import contrastdm and torch (cached per interpreter and path)."""
    key = (python, tuple(pythonpath))
    if key not in _probe_cache:
        try:
            completed = subprocess.run(
                [python, "-c", PROBE_CODE], env=child_environment(pythonpath), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, **_popen_platform_kwargs(),
            )
            _probe_cache[key] = completed.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _probe_cache[key] = False
    return _probe_cache[key]


def find_interpreter(plugin_dir: Path | None = None, configured: str | None = None,
                     candidates: list[str] | None = None, probe=probe_python) -> EngineInterpreter:
    """The engine interpreter: the plugin setting, else the checkout's .venv, else a Python that has the engine.

    Raises a QgsProcessingException that says how to set one up when none is found.
    """
    plugin_dir = Path(plugin_dir) if plugin_dir is not None else paths.plugin_dir()
    pythonpath = engine_pythonpath(plugin_dir)
    configured = settings.engine_python() if configured is None else configured.strip()
    if configured:
        if not _is_executable(configured):
            raise QgsProcessingException(
                f"The ContrastDM engine interpreter set in the settings does not exist or is not executable: "
                f"{configured}. Fix or clear it in Settings > Options > Processing > Providers > ContrastDM."
            )
        return EngineInterpreter(configured, pythonpath, "setting")
    root = source_checkout(plugin_dir)
    if root is not None:
        python = engine_setup.venv_python(root / ".venv", engine_setup.current_platform())
        if _is_executable(str(python)):
            return EngineInterpreter(str(python), pythonpath, "checkout")
    managed = _managed_python()
    if managed and _is_executable(managed):  # made by "Set up engine" in the plugin's settings
        return EngineInterpreter(managed, pythonpath, "managed")
    for python in candidate_pythons() if candidates is None else candidates:
        if probe(python, pythonpath):
            return EngineInterpreter(python, pythonpath, "search")
    raise QgsProcessingException(
        "No Python interpreter with the ContrastDM engine (contrastdm and torch) was found. " + setup_hint(plugin_dir)
    )


def _managed_python() -> str:
    try:
        return str(engine_setup.managed_python())
    except Exception:  # no QgsApplication (plain unit tests)
        return ""


def child_environment(pythonpath: list[str]) -> dict[str, str]:
    """The child's environment: ours, minus QGIS's own Python paths, plus the engine's sources and PROJ data."""
    env = dict(os.environ)
    # QGIS may set these for its embedded Python; they would break a different interpreter (venv, conda).
    env.pop("PYTHONHOME", None)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    if not env.get("PROJ_DATA") and os.path.isdir("/usr/share/proj"):
        env["PROJ_DATA"] = "/usr/share/proj"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


# ----------------------------------------------------------------------------------------------------------
# The child process
# ----------------------------------------------------------------------------------------------------------

def _popen_platform_kwargs() -> dict:
    if os.name == "nt":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    # Own process group: a hard kill also reaches the engine's helpers (e.g. data loader workers).
    return {"start_new_session": True}


def _terminate(proc: subprocess.Popen) -> None:
    try:
        proc.terminate()  # SIGTERM on POSIX, TerminateProcess on Windows
    except OSError:
        pass


def _kill(proc: subprocess.Popen) -> None:
    try:
        if os.name != "nt":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:
        try:
            proc.kill()
        except OSError:
            pass


def _reader(stream, tag: str, lines: queue.Queue) -> None:
    try:
        for line in iter(stream.readline, ""):
            lines.put((tag, line))
    except (OSError, ValueError):
        pass
    finally:
        lines.put((tag, None))


def _output_files(path: str) -> list[str]:
    """An output and the files the engine writes beside it (style, GDAL statistics, a report's JSON)."""
    stem = os.path.splitext(path)[0]
    files = [path, stem + ".qml", path + ".aux.xml"]
    if path.lower().endswith((".html", ".htm")):
        files.append(stem + ".json")
    return files


def _remove_new_outputs(outputs: list[str], existed_before: set[str]) -> None:
    """After a kill or crash, delete outputs the child created (never a file that was there before)."""
    for path in outputs:
        for candidate in _output_files(path):
            if candidate in existed_before or not os.path.isfile(candidate):
                continue
            try:
                os.remove(candidate)
            except OSError:
                pass


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def run_process(argv: list[str], env: dict[str, str] | None, feedback: QgsProcessingFeedback,
                handler: EngineEventHandler, outputs: list[str] | None = None,
                grace_s: float = TERMINATE_GRACE_S) -> dict:
    """Run ``argv``, feeding its stdout lines to ``handler``; return the result event.

    Cancelling (``feedback.isCanceled()``) sends SIGTERM, waits ``grace_s`` seconds, then kills. Failures
    raise QgsProcessingException with the engine's one-line message (or the last stderr lines on a crash).
    """
    outputs = [path for path in (outputs or []) if path]
    existed_before = {candidate for path in outputs for candidate in _output_files(path) if os.path.exists(candidate)}
    try:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace", bufsize=1, **_popen_platform_kwargs(),
        )
    except OSError as exc:
        raise QgsProcessingException(f"Could not start the ContrastDM engine ({argv[0]}): {exc}") from exc
    feedback.pushDebugInfo(f"ContrastDM engine started (pid {proc.pid}): {shlex.join(argv)}")

    lines: queue.Queue = queue.Queue()
    readers = [threading.Thread(target=_reader, args=(proc.stdout, "out", lines), daemon=True),
               threading.Thread(target=_reader, args=(proc.stderr, "err", lines), daemon=True)]
    for thread in readers:
        thread.start()
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    cancelled_at = None
    killed = False
    exited_at = None
    open_streams = 2
    try:
        while open_streams:
            now = time.monotonic()
            if cancelled_at is None and feedback.isCanceled():
                cancelled_at = now
                feedback.pushInfo("Cancelling: stopping the ContrastDM engine...")
                _terminate(proc)
            if cancelled_at is not None and not killed and now - cancelled_at > grace_s and proc.poll() is None:
                killed = True
                feedback.pushWarning(f"The engine did not stop within {grace_s:.0f} s; killing it.")
                _kill(proc)
            if proc.poll() is not None:
                exited_at = exited_at or now
                if now - exited_at > 5.0:  # a grandchild keeps the pipes open: stop waiting for them
                    break
            try:
                tag, line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif tag == "out":
                handler.handle_line(line)
            elif line.strip():
                stderr_tail.append(line.rstrip())
    except BaseException:
        _kill(proc)
        raise
    finally:
        try:
            code = proc.wait(timeout=grace_s + 5.0)
        except subprocess.TimeoutExpired:
            _kill(proc)
            code = proc.wait()
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass

    if cancelled_at is not None or code == 130:
        if killed:
            _remove_new_outputs(outputs, existed_before)
        # A plain QgsProcessingException: a Python subclass would reach QGIS as a traceback, not a message.
        raise QgsProcessingException(CANCELLED_MESSAGE)
    if code != 0 or handler.error is not None:
        if handler.error is not None:
            raise QgsProcessingException(handler.error_message())
        _remove_new_outputs(outputs, existed_before)
        tail = "\n".join(stderr_tail) or "(no error output)"
        if code == 2:  # argparse: an option this engine does not know
            raise QgsProcessingException(
                "The ContrastDM engine did not accept the options the plugin passed; the engine and the plugin "
                f"versions probably differ. Its error output:\n{tail}")
        raise QgsProcessingException(
            f"The ContrastDM engine stopped unexpectedly ({_describe_exit(code)}) without reporting an error. "
            f"Last lines of its error output:\n{tail}"
        )
    if handler.result is None:
        raise QgsProcessingException(
            "The ContrastDM engine finished without reporting a result; is the interpreter running an old "
            f"engine? Last lines of its error output:\n{chr(10).join(stderr_tail) or '(none)'}"
        )
    feedback.setProgress(100.0)
    return handler.result


def engine_argv(interpreter: EngineInterpreter, command: str, args: list[str]) -> list[str]:
    return [interpreter.python, "-m", ENGINE_MODULE, command, *args, "--progress", "jsonl"]


def run_engine(command: str, args: list[str], feedback: QgsProcessingFeedback | None,
               outputs: list[str] | None = None, interpreter: EngineInterpreter | None = None) -> dict:
    """Run ``python -m contrastdm <command> <args> --progress jsonl``; return its ``result`` event."""
    feedback = feedback if feedback is not None else QgsProcessingFeedback()
    interpreter = interpreter or find_interpreter()
    feedback.pushInfo(f"ContrastDM engine interpreter: {interpreter.describe()}")
    handler = EngineEventHandler(command, feedback)
    return run_process(engine_argv(interpreter, command, args), child_environment(interpreter.pythonpath),
                       feedback, handler, outputs)
