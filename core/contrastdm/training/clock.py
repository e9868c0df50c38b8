"""Wall-clock seconds per training stage, recorded in the model file so a slow stage can be found on any
device. On a GPU the clock waits for queued kernels first, so each stage is charged its own work."""

from __future__ import annotations

import time
from contextlib import contextmanager

import torch


class StageClock(dict):
    """``{stage: seconds}``; ``with clock("finetune"):`` adds that block's time to the stage."""

    def __init__(self, device=None) -> None:
        super().__init__()
        self.device = torch.device(device) if device is not None else None

    def _sync(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def __call__(self, stage: str):
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - start

    def rounded(self, digits: int = 2) -> dict:
        return {stage: round(seconds, digits) for stage, seconds in self.items()}
