"""Self-training during fine-tuning: confident predictions on a pool of unlabelled patches become extra
training samples, refreshed a few times (only in the semi-supervised configurations)."""

from __future__ import annotations

from typing import Optional

import torch

from ..model.config import LearnerConfig
from .context import TrainingContext


def draw_pool(ctx: TrainingContext) -> Optional[torch.Tensor]:
    """Up to ``pseudo_label_pool`` unlabelled patches to pseudo-label, or None when self-training is off: no
    unlabelled patches, ``pseudo_label_per_class`` 0, or a purely supervised configuration."""
    cfg = ctx.cfg
    semi_supervised = cfg.contrastive_epochs > 0 or cfg.synthetic or cfg.refine
    if not semi_supervised or ctx.unlabelled is None or cfg.pseudo_label_per_class <= 0:
        return None
    unl = ctx.unlabelled
    return unl[torch.randperm(len(unl), generator=ctx.rnd.batches)[: cfg.pseudo_label_pool]]


def rounds(cfg: LearnerConfig, epochs: int) -> set[int]:
    """The epochs (0-based) that start with fresh pseudo-labels: evenly spread from ``pseudo_label_start``."""
    if cfg.pseudo_label_rounds <= 0:
        return set()
    first = int(round(cfg.pseudo_label_start * epochs))
    span = max(1, epochs - first)
    return {first + (r * span) // cfg.pseudo_label_rounds for r in range(cfg.pseudo_label_rounds)}


@torch.no_grad()
def label(ctx: TrainingContext, pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into ``pool`` and labels of the network's most confident predictions, at most
    ``pseudo_label_per_class`` per class and none below ``pseudo_label_threshold``."""
    net, cfg = ctx.net, ctx.cfg
    net.eval()
    probs = []
    for i in range(0, len(pool), 1024):
        ctx.stop.check()
        probs.append(torch.softmax(net.head(net.encoder(pool[i:i + 1024].to(ctx.device))).float(), 1).cpu())
    conf, pred = torch.cat(probs).max(1)
    keep_idx, keep_lab = [], []
    for c in range(net.n_classes):
        cand = ((pred == c) & (conf >= cfg.pseudo_label_threshold)).nonzero(as_tuple=True)[0]
        top = cand[conf[cand].argsort(descending=True)[: cfg.pseudo_label_per_class]]
        keep_idx.append(top)
        keep_lab.append(torch.full((len(top),), c, dtype=torch.long))
    return torch.cat(keep_idx), torch.cat(keep_lab)


def refresh(ctx: TrainingContext, pool: torch.Tensor, history: dict) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """(patches, labels) pseudo-labelled by the current network, or None when none is confident enough; the
    count goes to ``history["pseudo_labels"]``."""
    idx, labels = label(ctx, pool)
    history["pseudo_labels"].append(int(len(idx)))
    return (pool[idx], labels) if len(idx) else None
