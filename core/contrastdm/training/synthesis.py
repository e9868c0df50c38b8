"""The feature diffusion stage: fit the class-conditional diffusion model on encoder features, draw synthetic
features from it, and (on fine-tuned features) retrain the head on real + synthetic features.

Every rank encodes the same features with the shared stream, so the synthetic pool is the same everywhere; only
the denoiser's training batches are split across ranks.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .. import distributed
from ..model.amp import warmup_cosine
from .common import accuracy, augmentation, balance_weights, encode
from .context import ProgressFn, TrainingContext, scaled

Pair = tuple[torch.Tensor, torch.Tensor]  # (features, labels)


def fit_on_pretrained(ctx: TrainingContext) -> Optional[Pair]:
    """diffusion_stage "pretrained": fit on the pre-trained features of the training split, before fine-tuning.
    Returns the synthetic (features, labels) that fine-tuning mixes into the head's batches, or None."""
    synthetic, _ = fit_diffusion(ctx, ctx.x_tr, ctx.y_tr, ctx.progress)
    return synthetic


def fit_on_finetuned(ctx: TrainingContext) -> None:
    """diffusion_stage "finetuned": fit on the fine-tuned features (of every label after a refit), then retrain
    the head, encoder frozen, on real + synthetic features; the outcome goes to ``validation["head"]``."""
    cfg = ctx.cfg
    x, y = (ctx.x_all, ctx.y_all) if ctx.refit else (ctx.x_tr, ctx.y_tr)
    retrain = cfg.synthetic and cfg.synthetic_weight > 0 and cfg.head_epochs > 0
    share = 0.9 if retrain else 1.0  # the head's retraining reports the last tenth of the stage
    synthetic, real = fit_diffusion(ctx, x, y, scaled(ctx.progress, 0.0, share))
    if retrain:
        untouched = None if ctx.refit else (ctx.x_va, ctx.y_va)  # a refit has trained on the validation slice
        ctx.validation["head"] = retrain_head(
            ctx, real, synthetic, validation=untouched,
            progress=lambda f: ctx.progress("diffusion", share + (1 - share) * f,
                                            "retraining the classifier on real and synthetic features"))


def fit_diffusion(ctx: TrainingContext, x: torch.Tensor, y: torch.Tensor,
                  progress: ProgressFn) -> tuple[Optional[Pair], Pair]:
    """Fit ``net.diffusion`` on the current encoder's features of (x, y): ``diffusion_views`` views per patch
    (the first unaugmented) plus up to ``diffusion_unlabeled`` unlabelled features for the null class.

    Returns (synthetic features and labels, ``synthetic_per_class`` of each class in ``y``, or None when
    synthesis is off; the real training features and labels). Records ``history["diffusion"]``."""
    cfg, net, gen = ctx.cfg, ctx.net, ctx.rnd.batches
    progress("diffusion", 0.0, "encoding features")
    views = [encode(net.encoder, x, ctx.device, stop=ctx.stop)]
    for _ in range(max(0, cfg.diffusion_views - 1)):  # augmented views widen the few labelled features
        views.append(encode(net.encoder, x, ctx.device, augment=augmentation(cfg), generator=gen, stop=ctx.stop))
    feats = torch.cat(views)
    labels = y.to(ctx.device).repeat(len(views))
    unl_feats = None
    if ctx.unlabelled is not None and cfg.diffusion_unlabeled > 0:
        sel = torch.randperm(len(ctx.unlabelled), generator=gen)[: cfg.diffusion_unlabeled]
        unl_feats = encode(net.encoder, ctx.unlabelled[sel], ctx.device, stop=ctx.stop)
    classes = torch.unique(y)
    n_sample = cfg.synthetic_per_class * len(classes) if cfg.synthetic else 0
    train_share = 0.85 if n_sample else 1.0  # training ~85% of the stage, sampling the rest
    ctx.history["diffusion"] = net.diffusion.fit(
        feats, labels, cfg.diffusion_steps, unlabeled_features=unl_feats, batch_size=256,
        learning_rate=1e-3, weight_decay=cfg.weight_decay, generator=gen, autocast=ctx.autocast,
        progress=lambda s, f, m: progress("diffusion", train_share * f, m), is_cancelled=ctx.stop,
        noise_generator=ctx.rnd.views,
    )
    net.diffusion.requires_grad_(False)
    if not n_sample:
        return None, (feats, labels)
    return _sample(ctx, classes, scaled(progress, train_share, 1 - train_share)), (feats, labels)


def _sample(ctx: TrainingContext, classes: torch.Tensor, progress: ProgressFn) -> Pair:
    """``synthetic_per_class`` features of every class, drawn in chunks, identical on every rank."""
    cfg = ctx.cfg
    y_syn = classes.repeat_interleave(cfg.synthetic_per_class)
    out = []
    chunk = 1024
    for i in range(0, len(y_syn), chunk):
        ctx.stop.check()
        out.append(ctx.net.diffusion.sample(y_syn[i:i + chunk].to(ctx.device), cfg.ddim_steps, cfg.guidance,
                                            generator=ctx.rnd.batches))
        progress("diffusion", min(1.0, (i + chunk) / len(y_syn)), "sampling synthetic features")
    return distributed.broadcast_tensor(torch.cat(out)), y_syn.to(ctx.device)


def retrain_head(ctx: TrainingContext, real: Pair, synthetic: Pair, *, validation: Optional[Pair],
                 progress: Callable[[float], None]) -> dict:
    """Retrain the head, encoder frozen, on real feature views plus synthetic features of the same space.

    Scarce classes get as many synthetic features as any other, so the head sees them as often as the
    others. With an untouched ``validation`` split (patches, labels) the retrained head is kept only if it is
    not worse there. Records ``history["head"]``; returns what was decided."""
    net = ctx.net
    has_validation = validation is not None and len(validation[1])
    before = copy.deepcopy(net.head.state_dict())
    oa_before = accuracy(net, *validation, ctx.device)[0] if has_validation else None
    ctx.history["head"] = _train_head(ctx, real, synthetic, progress)
    if oa_before is None:
        return {"retrained": True, "note": "no untouched validation data"}
    oa_after = accuracy(net, *validation, ctx.device)[0]
    if distributed.same_everywhere(oa_after < oa_before):
        net.head.load_state_dict(before)
    distributed.broadcast_module(net.head)
    return {"retrained": oa_after >= oa_before, "oa_without": oa_before, "oa_with": oa_after}


def _train_head(ctx: TrainingContext, real: Pair, synthetic: Pair, progress: Callable[[float], None]) -> list[float]:
    """``head_epochs`` of real + ``synthetic_weight`` x synthetic cross-entropy on the head; the loss per epoch."""
    cfg, net, gen = ctx.cfg, ctx.net, ctx.rnd.batches
    feats, labels = real
    opt = torch.optim.AdamW(net.head.parameters(), lr=cfg.learning_rate * 0.25, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(labels))
    steps_per_epoch = max(cfg.min_steps_per_epoch, math.ceil(len(labels) / bs))
    total = steps_per_epoch * cfg.head_epochs
    sched = warmup_cosine(opt, total, 0.1)
    weights = balance_weights(labels, net.n_classes, cfg.class_balance)
    losses = []
    net.head.train()
    for step in range(total):
        ctx.stop.check()
        idx = (torch.multinomial(weights, bs, replacement=True, generator=gen) if weights is not None
               else torch.randint(0, len(labels), (bs,), generator=gen)).to(ctx.device)
        s_idx = torch.randint(0, len(synthetic[1]), (bs,), generator=gen).to(ctx.device)
        loss = F.cross_entropy(net.head(feats[idx]).float(), labels[idx], label_smoothing=cfg.label_smoothing)
        loss = loss + cfg.synthetic_weight * F.cross_entropy(
            net.head(synthetic[0][s_idx]).float(), synthetic[1][s_idx], label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.detach())
        progress((step + 1) / total)
    net.head.eval()
    return [float(v) for v in losses[steps_per_epoch - 1::steps_per_epoch]]
