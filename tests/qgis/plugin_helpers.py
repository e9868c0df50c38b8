"""Test helpers: tiny training settings, a feedback that records what the plugin reports, process checks."""

from __future__ import annotations

import os
import threading
import time

from qgis.core import QgsApplication, QgsProcessingFeedback

# Tiny training settings (Processing parameter values): every stage runs, in seconds, on 2 CPU cores.
TINY = {"PRESET": "fast", "CONTRASTIVE_EPOCHS": 1, "DIFFUSION_STEPS": 10, "FINETUNE_EPOCHS": 2,
        "PCA_COMPONENTS": 4, "PATCH_SIZE": 3, "SEED": 0, "DEVICE": "cpu"}


class RecordingFeedback(QgsProcessingFeedback):
    def __init__(self):
        super().__init__()
        self.events = []
        self.progressChanged.connect(lambda value: self.events.append(("progress", round(value, 3))))

    def setProgressText(self, text):  # noqa: N802
        self.events.append(("text", text))
        super().setProgressText(text)

    def pushInfo(self, text):  # noqa: N802
        self.events.append(("info", text))

    def pushWarning(self, text):  # noqa: N802
        self.events.append(("warning", text))

    def reportError(self, text, fatal=False):  # noqa: N802
        self.events.append(("error", text))

    def pushDebugInfo(self, text):  # noqa: N802
        self.events.append(("debug", text))

    def pushConsoleInfo(self, text):  # noqa: N802
        self.events.append(("console", text))

    def kinds(self, kind):
        return [value for k, value in self.events if k == kind]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def cancel_after_first_progress(feedback):
    def on_progress(_value):
        if not getattr(feedback, "_cancel_started", False):
            feedback._cancel_started = True
            threading.Thread(target=feedback.cancel, daemon=True).start()

    feedback.progressChanged.connect(on_progress)


def engine_pid(feedback):
    started = [t for t in feedback.kinds("debug") if t.startswith("ContrastDM engine started (pid ")]
    return int(started[0].split("(pid ")[1].split(")")[0])


def wait_for(condition, timeout: float = 300.0) -> None:
    """Process Qt events until ``condition()`` holds (tasks and signals need the event loop)."""
    app = QgsApplication.instance()
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()
