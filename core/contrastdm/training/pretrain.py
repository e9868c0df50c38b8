"""Stage 1: contrastive pre-training of the encoder (:mod:`contrastdm.model.contrastive`)."""

from __future__ import annotations

import torch

from ..model.contrastive import ProjectionHead, pretrain_contrastive
from . import budget
from .common import augmentation
from .context import TrainingContext, cuda_devices, random_streams
from .module_cache import label_free

# Label-free pre-training draws from streams of its own, seeded from the run's seed plus this.
OWN_STREAMS = 7_919


def pretrain(ctx: TrainingContext) -> None:
    """Pre-train ``ctx.net.encoder`` with SimCLR on the unlabelled patches (the training patches when there are
    none) plus SupCon on the labelled ones, for the epochs the budget gives; records ``history["contrastive"]``
    and those epochs in ``validation["contrastive_epochs"]``. Skipped at contrastive_epochs 0.

    Label-free pre-training (no SupCon, label-free patches given) runs on random streams of its own and leaves
    torch's global stream as it found it, so its result depends on the scene alone and ``ctx.pretrain_cache``
    may hold it (:mod:`contrastdm.training.module_cache`)."""
    cfg = ctx.cfg
    if cfg.contrastive_epochs <= 0:
        return
    pool = ctx.unlabelled if ctx.unlabelled is not None else ctx.x_tr
    epochs = budget.contrastive_epochs(cfg, len(pool))
    ctx.validation["contrastive_epochs"] = epochs
    if not label_free(cfg, ctx.unlabelled is not None):
        ctx.history["contrastive"] = _train(ctx, pool, epochs, ctx.rnd)
        return
    cache = ctx.pretrain_cache
    found = cache.load(ctx.net.encoder) if cache is not None else None
    if found is not None and isinstance(found.get("losses"), list):
        ctx.history["contrastive"] = [float(v) for v in found["losses"]]
        ctx.progress("contrastive", 1.0, "pre-trained encoder from the scene cache")
        return
    with torch.random.fork_rng(devices=cuda_devices(ctx.device)):
        torch.manual_seed(cfg.seed + OWN_STREAMS)
        losses = _train(ctx, pool, epochs, random_streams(cfg.seed + OWN_STREAMS, ctx.device))
    ctx.history["contrastive"] = losses
    if cache is not None:
        cache.store(ctx.net.encoder, {"losses": [float(v) for v in losses], "epochs": epochs})


def _train(ctx: TrainingContext, pool: torch.Tensor, epochs: int, streams) -> list:
    cfg = ctx.cfg
    projector = ProjectionHead(cfg.feature_dim).to(ctx.device)
    return pretrain_contrastive(
        ctx.net.encoder, projector, pool, ctx.x_tr, ctx.y_tr,
        epochs=epochs, samples_per_epoch=cfg.contrastive_samples_per_epoch,
        batch_size=cfg.batch_size * 2, learning_rate=cfg.contrastive_learning_rate,
        weight_decay=cfg.weight_decay, temperature=cfg.temperature, supcon_weight=cfg.supcon_weight,
        augment=augmentation(cfg), generator=streams.batches, device=ctx.device, autocast=ctx.autocast,
        progress=ctx.progress, is_cancelled=ctx.stop, view_generator=streams.views,
    )
