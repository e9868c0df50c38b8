"""The engine's ``--progress jsonl`` protocol (docs/cli.md), mapped to a Processing feedback.

One JSON object per line: ``progress`` (a stage and the fraction of it done), ``message``, ``result`` and
``error``. Progress becomes an overall percentage from stage weights; messages go to the log.
"""

from __future__ import annotations

import json
import time

from qgis.core import QgsProcessingFeedback

STAGE_ORDER = ["read", "preprocess", "patch", "contrastive", "finetune", "diffusion", "spectral", "save", "classify",
               "evaluate", "suggest"]
STAGE_LABELS = {
    "read": "Reading the data",
    "preprocess": "Preprocessing",
    "patch": "Choosing the patch size",
    "contrastive": "Contrastive pre-training",
    "diffusion": "Training the feature diffusion model",
    "finetune": "Fine-tuning the classifier",
    "spectral": "Training the spectral member",
    "save": "Saving",
    "classify": "Classifying the raster",
    "evaluate": "Evaluating accuracy",
    "suggest": "Choosing where to label",
}
# Relative share of each stage in a command's run time (stages a command skips just add nothing).
STAGE_WEIGHTS = {
    "train": {"read": 3, "preprocess": 4, "patch": 3, "contrastive": 34, "diffusion": 20, "finetune": 25, "spectral": 3,
              "save": 2, "evaluate": 6},
    "classify": {"read": 5, "preprocess": 5, "save": 2, "classify": 88},
    "run": {"read": 3, "preprocess": 4, "patch": 3, "contrastive": 26, "diffusion": 16, "finetune": 20, "spectral": 3,
            "save": 2, "classify": 18, "evaluate": 5},
    "suggest": {"classify": 80, "suggest": 20},
    "prepare": {"read": 5, "preprocess": 95},
}


# The training stages may come in either order (the diffusion model is fitted before or after fine-tuning)
# and may be skipped; every other stage keeps its place in STAGE_ORDER.
TRAINING_STAGES = ("contrastive", "diffusion", "finetune", "spectral")


class ProgressMapper:
    """Maps (stage, fraction of stage) to an overall percentage that never goes back.

    When a stage starts, the stages already seen are over, and so are the stages before it in STAGE_ORDER
    (skipped ones included), except that a training stage does not close a training stage yet to come.
    """

    def __init__(self, command: str) -> None:
        self.weights = STAGE_WEIGHTS.get(command, {stage: 1 for stage in STAGE_ORDER})
        self.total = float(sum(self.weights.values())) or 1.0
        self.fractions: dict[str, float] = {}
        self.percent = 0.0

    def update(self, stage: str, fraction: float) -> float:
        if stage not in STAGE_ORDER or stage not in self.weights:
            return self.percent
        if stage not in self.fractions:
            for seen in self.fractions:
                self.fractions[seen] = 1.0
            for before in STAGE_ORDER[:STAGE_ORDER.index(stage)]:
                if not (stage in TRAINING_STAGES and before in TRAINING_STAGES):
                    self.fractions[before] = 1.0
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.fractions[stage] = max(self.fractions.get(stage, 0.0), fraction)
        done = sum(self.weights.get(s, 0) * f for s, f in self.fractions.items())
        self.percent = max(self.percent, 100.0 * done / self.total)
        return self.percent


def _format_eta(eta) -> str:
    try:
        seconds = float(eta)
    except (TypeError, ValueError):
        return ""
    if seconds < 1:
        return ""
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


class EngineEventHandler:
    """Turns the engine's JSON lines into feedback calls and keeps the result or the error."""

    TEXT_INTERVAL_S = 5.0

    def __init__(self, command: str, feedback: QgsProcessingFeedback) -> None:
        self.feedback = feedback
        self.mapper = ProgressMapper(command)
        self.result: dict | None = None
        self.error: dict | None = None
        self.progress_events = 0
        self._last_text = ("", 0.0)

    def handle_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            # Not part of the protocol (a stray print in the engine or a library): show it, don't fail.
            self.feedback.pushConsoleInfo(line)
            return
        self.handle_event(event)

    def handle_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "progress":
            self._progress(event)
        elif kind == "message":
            text = str(event.get("text", ""))
            if event.get("level") == "warning":
                self.feedback.pushWarning(text)
            else:
                self.feedback.pushInfo(text)
        elif kind == "result":
            self.result = event
        elif kind == "error":
            # Reported once, as the QgsProcessingException that run_process raises after the child exits.
            self.error = event
            self.feedback.pushDebugInfo(f"engine error ({event.get('kind', 'error')}): {self.error_message()}")
        else:
            self.feedback.pushDebugInfo(json.dumps(event))

    def _progress(self, event: dict) -> None:
        stage = str(event.get("stage", ""))
        try:
            fraction = float(event.get("fraction", 0.0))
        except (TypeError, ValueError):
            fraction = 0.0
        self.progress_events += 1
        self.feedback.setProgress(self.mapper.update(stage, fraction))
        label = STAGE_LABELS.get(stage, stage.capitalize())
        detail = ", ".join(part for part in (str(event.get("message") or ""), _format_eta(event.get("eta"))) if part)
        text = f"{label}: {detail}" if detail else label
        last_text, last_time = self._last_text
        now = time.monotonic()
        # A new stage always shows; within a stage, at most one line every few seconds (the text is logged).
        if not last_text.startswith(label) or (text != last_text and now - last_time >= self.TEXT_INTERVAL_S):
            self._last_text = (text, now)
            self.feedback.setProgressText(text)

    def error_message(self) -> str:
        if not self.error:
            return ""
        message = str(self.error.get("message") or self.error.get("kind") or "unknown error").strip()
        return message.splitlines()[0] if message else "unknown error"
