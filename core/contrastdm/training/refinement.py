"""Whether diffusion refinement of the features at inference is kept: only where validation says it helps."""

from __future__ import annotations

from .. import distributed
from .common import accuracy
from .context import TrainingContext


def choose(ctx: TrainingContext, *, after_refit: bool = False) -> None:
    """Set ``net.config.refine_strength`` to the requested strength if refinement raises the validation OA,
    else to 0, and record the choice in ``validation["refine"]``.

    ``after_refit``: every label, the validation slice included, has trained the network, so nothing is left to
    show that refinement helps and it stays off. Without validation data the requested strength stands."""
    ctx.validation["refine"] = _switched_off(ctx) if after_refit else _judged(ctx)


def _switched_off(ctx: TrainingContext) -> dict:
    ctx.net.config.refine_strength = 0.0
    return {"requested_strength": ctx.cfg.refine_strength, "strength": 0.0,
            "note": "no untouched validation data after the refit"}


def _judged(ctx: TrainingContext) -> dict:
    """Validation OA with and without refinement; the requested strength is kept only if it is better."""
    requested = ctx.cfg.refine_strength
    if not len(ctx.y_va):
        return {"requested_strength": requested, "strength": requested, "note": "no validation data"}
    base, _ = accuracy(ctx.net, ctx.x_va, ctx.y_va, ctx.device)
    refined, _ = accuracy(ctx.net, ctx.x_va, ctx.y_va, ctx.device, refine_strength=requested)
    chosen = requested if distributed.same_everywhere(refined > base) else 0.0
    ctx.net.config.refine_strength = chosen
    return {"requested_strength": requested, "strength": chosen, "oa_without": base, "oa_with": refined}
