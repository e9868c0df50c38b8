"""Warm start: training again on a raster after the analyst edited its polygons starts from the last network
trained on it with ``warm_start`` on (kept in the scene cache, :mod:`contrastdm.training.module_cache`) and runs
a fraction of the schedule.

A warm run skips pre-training and fine-tunes once on every label for :data:`WARM_SHARE` of ``finetune_epochs``
(on a learning-rate schedule of that length). With the same class names it starts from the whole network and
trains the diffusion model on for :data:`WARM_SHARE` of ``diffusion_steps``; with other classes (one added or
removed) only the encoder carries over, and the head and the diffusion model, whose shapes follow the classes,
start afresh (the diffusion model on its whole schedule). The synthetic features and the head's retraining follow
as in a cold run. What it did is in ``validation["warm_start"]``. The network it starts from was trained on the
polygons before the edit, so a warm model depends on the runs before it: ``warm_start`` is off by default, and the
same command on the same inputs gives the same model only without it.
"""

from __future__ import annotations

import math
from typing import Optional

from .context import TrainingContext
from .module_cache import CachedModule, put_weights

WARM_SHARE = 0.2


class WarmStart:
    """The scene's last network in the cache (``entry``) and this run's class names. ``status``: "hit" (the
    whole network carried over), "encoder" (the encoder only: other classes) or "miss"."""

    def __init__(self, entry: CachedModule, classes) -> None:
        self.entry, self.classes = entry, [str(c) for c in classes]
        self.status = "miss"

    def load(self, net) -> Optional[str]:
        """Put what carries over into ``net``: "network", "encoder", or None (nothing: a cold start)."""
        found = self.entry.read()
        if found is None:
            return None
        arrays, record = found
        if record.get("classes") == self.classes and put_weights(net, arrays):
            self.status = "hit"
            return "network"
        prefix = "encoder."
        if put_weights(net.encoder, {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}):
            self.status = "encoder"
            return "encoder"
        return None

    def store(self, net) -> bool:
        return self.entry.store(net, {"classes": self.classes})


def begin(ctx: TrainingContext, entry: str, part: str) -> None:
    """Turn ``ctx`` (whose network holds what carried over, ``part``) into a warm run: every label trains,
    nothing is held out, and the schedules shrink to their warm share."""
    cfg = ctx.cfg
    epochs = max(1, math.ceil(WARM_SHARE * cfg.finetune_epochs))
    steps = max(1, math.ceil(WARM_SHARE * cfg.diffusion_steps)) if part == "network" else cfg.diffusion_steps
    ctx.cfg = cfg.replace(finetune_epochs=epochs, diffusion_steps=steps)
    ctx.x_tr, ctx.y_tr = ctx.x_all, ctx.y_all
    ctx.x_va, ctx.y_va = ctx.x_all[:0], ctx.y_all[:0]
    ctx.validation = {"source": "none", "n": 0, "why": "a warm start trains once on every label",
                      "warm_start": {"from": entry, "carried_over": part, "finetune_epochs": epochs,
                                     "diffusion_steps": steps}}
