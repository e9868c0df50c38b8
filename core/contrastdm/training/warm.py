"""Warm start: training again on a raster after the analyst edited its polygons starts from the last network
trained on it with ``warm_start`` on (kept in the scene cache, :mod:`contrastdm.training.module_cache`) and runs
a fraction of the schedule.

A warm run skips pre-training, fine-tunes once on every label for :data:`WARM_SHARE` of ``finetune_epochs`` (on a
learning-rate schedule of that length) and trains the diffusion model on for :data:`WARM_SHARE` of
``diffusion_steps``; the synthetic features and the head's retraining follow as in a cold run. What it did is in
``validation["warm_start"]``. The network it starts from was trained on the polygons before the edit, so a warm
model depends on the runs before it: ``warm_start`` is off by default, and the same command on the same inputs
gives the same model only without it.
"""

from __future__ import annotations

import math

from .context import TrainingContext

WARM_SHARE = 0.2


def begin(ctx: TrainingContext, entry: str) -> None:
    """Turn ``ctx`` (whose network holds the last run's weights) into a warm run: every label trains, nothing
    is held out, and the schedules shrink to their warm share."""
    cfg = ctx.cfg
    epochs = max(1, math.ceil(WARM_SHARE * cfg.finetune_epochs))
    steps = max(1, math.ceil(WARM_SHARE * cfg.diffusion_steps))
    ctx.cfg = cfg.replace(finetune_epochs=epochs, diffusion_steps=steps)
    ctx.x_tr, ctx.y_tr = ctx.x_all, ctx.y_all
    ctx.x_va, ctx.y_va = ctx.x_all[:0], ctx.y_all[:0]
    ctx.validation = {"source": "none", "n": 0, "why": "a warm start trains once on every label",
                      "warm_start": {"from": entry, "finetune_epochs": epochs, "diffusion_steps": steps}}
