"""Warm start: training again on a raster after the analyst edited its polygons starts from the last network
trained on it with ``warm_start`` on (kept in the scene cache, :mod:`contrastdm.training.module_cache`) and runs
a fraction of the schedule.

A warm run skips pre-training and fine-tunes once on every label for :data:`WARM_SHARE` of ``finetune_epochs``
(on a learning-rate schedule of that length), then trains the diffusion model on for that share of
``diffusion_steps`` and retrains the head for that share of ``head_epochs``. The whole network carries over. When
the class list changed (a class added, removed or renamed), the rows that belong to a class (the head's output
layer, the diffusion model's class embedding: :meth:`ContrastDMNet.class_rows`) are matched by class name, and a
new class starts from freshly initialised rows. Only if that fails (a network of another shape) does the encoder
alone carry over, with the diffusion model on its whole schedule. What it did is in ``validation["warm_start"]``.
The network it starts from was trained on the polygons before the edit, so a warm model depends on the runs
before it: ``warm_start`` is off by default, and the same command on the same inputs gives the same model only
without it.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .context import TrainingContext
from .module_cache import CachedModule, put_weights

WARM_SHARE = 0.2


class WarmStart:
    """The scene's last network in the cache (``entry``) and this run's class names. ``status``: "hit" (the
    whole network carried over), "matched" (the whole network, its class rows matched by name: other classes),
    "encoder" (the encoder only) or "miss"."""

    def __init__(self, entry: CachedModule, classes) -> None:
        self.entry, self.classes = entry, [str(c) for c in classes]
        self.status = "miss"

    def load(self, net) -> Optional[str]:
        """Put what carries over into ``net``: "network", "matched", "encoder", or None (a cold start)."""
        found = self.entry.read()
        if found is None:
            return None
        arrays, record = found
        before = record.get("classes")
        if before == self.classes and put_weights(net, arrays):
            self.status = "hit"
            return "network"
        matched = match_classes(net, arrays, before, self.classes) if isinstance(before, list) else None
        if matched is not None and put_weights(net, matched):
            self.status = "matched"
            return "matched"
        prefix = "encoder."
        if put_weights(net.encoder, {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}):
            self.status = "encoder"
            return "encoder"
        return None

    def store(self, net) -> bool:
        return self.entry.store(net, {"classes": self.classes})


def match_classes(net, arrays: dict, before: list, classes: list) -> Optional[dict]:
    """``arrays`` (the weights of a network trained on the class names ``before``) for ``net``, whose classes are
    ``classes``: each class row taken from the same class name before, a new class's row from ``net`` as it is
    (freshly initialised). None when the arrays do not have the shapes this needs."""
    own = net.state_dict()
    out = dict(arrays)
    for name, extra in net.class_rows().items():
        old = np.asarray(arrays.get(name, np.empty(0)))
        fresh = own[name].detach().cpu().numpy().copy()
        if old.shape != (len(before) + extra, *fresh.shape[1:]):
            return None
        for row, cls in enumerate(classes):
            if cls in before:
                fresh[row] = old[before.index(cls)]
        fresh[len(classes):] = old[len(before):]  # the rows after the classes (the null class)
        out[name] = fresh
    return out


def begin(ctx: TrainingContext, entry: str, part: str) -> None:
    """Turn ``ctx`` (whose network holds what carried over, ``part``) into a warm run: every label trains,
    nothing is held out, and the schedules shrink to their warm share (the diffusion model's only when it
    carried over)."""
    cfg = ctx.cfg
    epochs = _share(cfg.finetune_epochs)
    steps = cfg.diffusion_steps if part == "encoder" else _share(cfg.diffusion_steps)
    head_epochs = _share(cfg.head_epochs) if cfg.head_epochs > 0 else 0
    ctx.cfg = cfg.replace(finetune_epochs=epochs, diffusion_steps=steps, head_epochs=head_epochs)
    ctx.x_tr, ctx.y_tr = ctx.x_all, ctx.y_all
    ctx.x_va, ctx.y_va = ctx.x_all[:0], ctx.y_all[:0]
    ctx.validation = {"source": "none", "n": 0, "why": "a warm start trains once on every label",
                      "warm_start": {"from": entry, "carried_over": part, "finetune_epochs": epochs,
                                     "diffusion_steps": steps, "head_epochs": head_epochs}}


def _share(schedule: int) -> int:
    return max(1, math.ceil(WARM_SHARE * schedule))
