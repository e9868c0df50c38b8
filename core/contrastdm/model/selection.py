"""Choosing the fine-tuning epoch on a (often tiny) validation split.

Picking the epoch of the highest validation OA lets noise decide when the split is small: on 32
pixels one pixel is 3 OA points, and an early, barely trained epoch can win by luck. The rule here
is the one-standard-error rule: every epoch whose OA lies within one binomial standard error (at
least one validation pixel) of the best is as good as the best, and the latest of them is chosen,
since the learning-rate schedule has annealed further by then.

The choice is made as the epochs come, keeping one saved state: an epoch becomes the candidate when
its OA reaches the running threshold ``max(oa - tolerance(oa))`` over the epochs so far. Because that
threshold never falls, the last candidate is the latest epoch whose OA reaches the final threshold,
i.e. within about one standard error of the best.
"""

from __future__ import annotations

import math
from typing import Optional


def tolerance(oa: float, n: int) -> float:
    """One binomial standard error of an OA measured on ``n`` pixels, at least one pixel."""
    if n <= 0:
        return 0.0
    return max(1.0 / n, math.sqrt(max(oa * (1.0 - oa), 0.0) / n))


class EpochSelector:
    """Feed ``update(epoch, oa)`` after every epoch; it answers whether to keep that epoch's state."""

    def __init__(self, n_validation: int) -> None:
        self.n = int(n_validation)
        self.threshold = -math.inf
        self.best_oa: Optional[float] = None
        self.epoch: Optional[int] = None  # the chosen epoch (1-based)
        self.oa: Optional[float] = None  # its validation OA

    def update(self, epoch: int, oa: float) -> bool:
        self.best_oa = oa if self.best_oa is None else max(self.best_oa, oa)
        self.threshold = max(self.threshold, oa - tolerance(oa, self.n))
        if oa >= self.threshold:
            self.epoch, self.oa = int(epoch), float(oa)
            return True
        return False


def choose_epoch(curve: list[float], n_validation: int) -> int:
    """The epoch (1-based) :class:`EpochSelector` keeps for a whole validation-OA curve."""
    selector = EpochSelector(n_validation)
    for i, oa in enumerate(curve):
        selector.update(i + 1, oa)
    return selector.epoch or len(curve)
