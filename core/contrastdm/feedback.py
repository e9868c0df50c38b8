"""One protocol for progress, messages and cancellation, shared by the CLI, the QGIS plugin and tests.

Engine functions take any object with ``progress``, ``message`` and ``cancelled``; stages report a
fraction in [0, 1] of their own work and the feedback object maps it to overall progress.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Protocol, runtime_checkable

from .errors import Cancelled


@runtime_checkable
class Feedback(Protocol):
    def progress(self, stage: str, fraction: float, message: str = "") -> None: ...

    def message(self, text: str, level: str = "info") -> None: ...

    def cancelled(self) -> bool: ...


class BaseFeedback:
    """Keeps the cancel flag and an ETA per stage; subclasses decide how to show things."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._stage: str | None = None
        self._stage_start = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _eta(self, stage: str, fraction: float) -> float | None:
        now = time.monotonic()
        if stage != self._stage:
            self._stage, self._stage_start = stage, now
            return None
        if fraction <= 0.02:
            return None
        return (now - self._stage_start) * (1.0 - fraction) / fraction

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._emit_progress(stage, fraction, message, self._eta(stage, fraction))

    def _emit_progress(self, stage: str, fraction: float, message: str, eta: float | None) -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass


class NullFeedback(BaseFeedback):
    """Silent; still cancellable."""


class QuietFeedback:
    """Another feedback's cancellation without its progress and messages (the ranks of a torchrun job
    other than rank 0)."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        pass

    def message(self, text: str, level: str = "info") -> None:
        pass

    def cancelled(self) -> bool:
        return self._inner.cancelled()


class RecordingFeedback(BaseFeedback):
    """Keeps every event in memory (tests, notebooks)."""

    def __init__(self, cancel_after: int | None = None) -> None:
        super().__init__()
        self.events: list[tuple] = []
        self._cancel_after = cancel_after

    def _emit_progress(self, stage, fraction, message, eta):
        self.events.append(("progress", stage, fraction, message))
        if self._cancel_after is not None and len(self.events) >= self._cancel_after:
            self.cancel()

    def message(self, text: str, level: str = "info") -> None:
        self.events.append(("message", level, text))

    @property
    def stages(self) -> list[str]:
        seen: list[str] = []
        for event in self.events:
            if event[0] == "progress" and event[1] not in seen:
                seen.append(event[1])
        return seen


class ConsoleFeedback(BaseFeedback):
    """A one-line progress bar on stderr for people at a terminal."""

    def __init__(self, stream: IO[str] | None = None, quiet: bool = False) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _emit_progress(self, stage, fraction, message, eta):
        if self.quiet:
            return
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < (0.2 if self._tty else 5.0):
            return
        self._last = now
        bar = "#" * int(fraction * 24)
        eta_text = f" eta {eta:4.0f}s" if eta is not None and fraction < 1.0 else ""
        line = f"{stage:<12} [{bar:<24}] {fraction * 100:5.1f}%{eta_text} {message}"
        if self._tty:
            self.stream.write("\r" + line[:120].ljust(120))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str, level: str = "info") -> None:
        if self.quiet and level == "info":
            return
        prefix = "" if level == "info" else f"{level}: "
        self.stream.write(("\n" if self._tty else "") + prefix + text + "\n")
        self.stream.flush()


class JsonlFeedback(BaseFeedback):
    """One JSON object per line, for machine consumers such as the QGIS plugin.

    Events: ``{"type": "progress", "stage", "fraction", "message", "eta"}``,
    ``{"type": "message", "level", "text"}``, ``{"type": "result", ...}`` and
    ``{"type": "error", "message", "kind"}``.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()  # re-entrant: a signal handler may emit while the main thread does
        self._last: tuple[str, float] = ("", -1.0)

    def emit(self, event: dict) -> None:
        with self._lock:
            self.stream.write(json.dumps(event, default=str) + "\n")
            self.stream.flush()

    def _emit_progress(self, stage, fraction, message, eta):
        last_stage, last_fraction = self._last
        if stage == last_stage and fraction < 1.0 and fraction - last_fraction < 0.005:
            return
        self._last = (stage, fraction)
        self.emit({"type": "progress", "stage": stage, "fraction": round(fraction, 4),
                   "message": message, "eta": None if eta is None else round(eta, 1)})

    def message(self, text: str, level: str = "info") -> None:
        self.emit({"type": "message", "level": level, "text": text})


def check_cancelled(feedback: Feedback) -> None:
    """Raise :class:`Cancelled` when the user asked to stop."""
    if feedback.cancelled():
        raise Cancelled()
