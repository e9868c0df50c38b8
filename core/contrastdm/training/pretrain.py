"""Stage 1: contrastive pre-training of the encoder (:mod:`contrastdm.model.contrastive`)."""

from __future__ import annotations

from ..model.contrastive import ProjectionHead, pretrain_contrastive
from . import budget
from .common import augmentation
from .context import TrainingContext


def pretrain(ctx: TrainingContext) -> None:
    """Pre-train ``ctx.net.encoder`` with SimCLR on the unlabelled patches (the training patches when there are
    none) plus SupCon on the labelled ones, for the epochs the budget gives; records ``history["contrastive"]``
    and those epochs in ``validation["contrastive_epochs"]``. Skipped at contrastive_epochs 0."""
    cfg = ctx.cfg
    if cfg.contrastive_epochs <= 0:
        return
    pool = ctx.unlabelled if ctx.unlabelled is not None else ctx.x_tr
    epochs = budget.contrastive_epochs(cfg, len(pool))
    ctx.validation["contrastive_epochs"] = epochs
    projector = ProjectionHead(cfg.feature_dim).to(ctx.device)
    ctx.history["contrastive"] = pretrain_contrastive(
        ctx.net.encoder, projector, pool, ctx.x_tr, ctx.y_tr,
        epochs=epochs, samples_per_epoch=cfg.contrastive_samples_per_epoch,
        batch_size=cfg.batch_size * 2, learning_rate=cfg.contrastive_learning_rate,
        weight_decay=cfg.weight_decay, temperature=cfg.temperature, supcon_weight=cfg.supcon_weight,
        augment=augmentation(cfg), generator=ctx.rnd.batches, device=ctx.device, autocast=ctx.autocast,
        progress=ctx.progress, is_cancelled=ctx.stop, view_generator=ctx.rnd.views,
    )
