"""Stage 3: supervised fine-tuning of encoder + head, with the epoch chosen on validation, and the refit of that
schedule on every label.

The learning-rate schedule always spans ``finetune_epochs``, so a refit stopped at the selected epoch replays
the same point of it. Under torchrun every rank draws the same global batch and trains on its slice of it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from .. import distributed
from ..model.amp import amp_context, backward_step, grad_scaler, warmup_cosine
from ..model.data import on_device
from ..model.selection import EpochSelector
from . import pseudo
from .common import accuracy, augmentation, balance_weights
from .context import ProgressFn, TrainingContext, scaled

Features = Optional[tuple[torch.Tensor, torch.Tensor]]  # (features or patches, labels)


class _Classifier(torch.nn.Module):
    """Encoder and head as one module (the unit DistributedDataParallel synchronises): features and
    logits of a batch, plus the head's logits for extra (synthetic) features."""

    def __init__(self, encoder, head) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor, extra: Optional[torch.Tensor] = None):
        feats = self.encoder(x)
        return feats, self.head(feats).float(), None if extra is None else self.head(extra).float()


@dataclass
class Selection:
    """What epoch selection hands on to the refit."""

    epoch: int  # the selected epoch (the last one run when there was nothing to validate on)
    start_state: Optional[dict]  # the weights fine-tuning started from, kept only when a refit follows


def select_epoch(ctx: TrainingContext, *, synthetic: Features = None,
                 pool: Optional[torch.Tensor] = None) -> Selection:
    """Fine-tune on the training split, validating after every epoch, and return to the weights of the chosen
    epoch (the latest within one standard error of the best). ``synthetic`` (features, labels) are mixed into
    the head's batches; ``pool`` holds unlabelled patches for pseudo-labels. Records ``history["finetune"]``,
    ``history["val_oa"]`` and the choice in ``validation``."""
    start = copy.deepcopy(ctx.net.state_dict()) if ctx.refit else None
    progress = scaled(ctx.progress, 0.0, 0.5) if ctx.refit else ctx.progress  # the refit reports the second half
    epoch, oa, best_oa = _train(ctx, ctx.x_tr, ctx.y_tr, validation=(ctx.x_va, ctx.y_va), synthetic=synthetic,
                                pool=pool, progress=progress, history=ctx.history)
    ctx.validation.update(best_epoch=epoch, oa=oa, max_oa=best_oa, selection="latest within 1 SE")
    return Selection(epoch, start)


def refit(ctx: TrainingContext, selection: Selection, *, synthetic: Features = None,
          pool: Optional[torch.Tensor] = None) -> None:
    """Restart from the weights fine-tuning started from and train on every label (validation slice included)
    on the same schedule, stopped at the selected epoch. Records ``history["finetune_refit"]``."""
    ctx.net.load_state_dict(selection.start_state)
    history: dict[str, list] = {"finetune": []}
    empty = (ctx.x_all[:0], ctx.y_all[:0])
    _train(ctx, ctx.x_all, ctx.y_all, validation=empty, synthetic=synthetic, pool=pool,
           progress=scaled(ctx.progress, 0.5, 0.5), history=history, stop_after=selection.epoch)
    ctx.history["finetune_refit"] = history["finetune"]
    ctx.validation.update(refit_samples=int(len(ctx.y_all)), refit_epochs=selection.epoch)


def _train(ctx: TrainingContext, x: torch.Tensor, y: torch.Tensor, *, validation, synthetic: Features,
           pool: Optional[torch.Tensor], progress: ProgressFn, history: dict, stop_after: Optional[int] = None):
    """One fine-tuning run on (x, y); with validation data, back to the chosen epoch's weights.

    Returns (epoch, its validation OA, the best validation OA); the OAs are None without validation data."""
    net = ctx.net
    epochs = max(1, ctx.cfg.finetune_epochs)
    run_epochs = epochs if stop_after is None else max(1, min(epochs, int(stop_after)))
    step = _Step(ctx, x, y, synthetic, epochs)
    refresh_at = pseudo.rounds(ctx.cfg, epochs) if pool is not None else set()
    selector = EpochSelector(len(validation[1]))
    best_state, pseudo_data = None, None
    history.setdefault("pseudo_labels", [])
    for epoch in range(run_epochs):
        if epoch in refresh_at and epoch > 0:
            pseudo_data = pseudo.refresh(ctx, pool, history)
        net.train()
        if net.diffusion is not None:
            net.diffusion.eval()
        running = torch.zeros((), device=ctx.device)
        for i in range(step.per_epoch):
            ctx.stop.check()
            running += step(pseudo_data)
            progress("finetune", (epoch * step.per_epoch + i + 1) / (step.per_epoch * run_epochs),
                     f"epoch {epoch + 1}/{run_epochs}")
        history["finetune"].append(float(running) / step.per_epoch)
        if len(validation[1]):
            oa = distributed.same_everywhere(accuracy(net, *validation, ctx.device)[0])
            history["val_oa"].append(oa)
            if selector.update(epoch + 1, oa):  # the latest epoch within one standard error of the best
                best_state = copy.deepcopy(net.state_dict())
    net.eval()
    if best_state is None:
        return run_epochs, None, None
    net.load_state_dict(best_state)
    return selector.epoch, selector.oa, selector.best_oa


class _Sampler:
    """Indices of the real patches in each global batch: class-balanced draws with replacement, or else
    consecutive slices of reshuffled passes over the data."""

    def __init__(self, weights: Optional[torch.Tensor], n: int, batch_size: int, generator: torch.Generator) -> None:
        self.weights, self.n, self.batch_size, self.generator = weights, n, batch_size, generator
        self.order = torch.empty(0, dtype=torch.long)

    def draw(self) -> torch.Tensor:
        if self.weights is not None:
            return torch.multinomial(self.weights, self.batch_size, replacement=True, generator=self.generator)
        if len(self.order) < self.batch_size:  # reshuffle when the current pass is used up
            self.order = torch.cat([self.order, torch.randperm(self.n, generator=self.generator)])
        idx, self.order = self.order[:self.batch_size], self.order[self.batch_size:]
        return idx


class _Step:
    """One optimiser step of fine-tuning on (x, y): draws a global batch of real, pseudo-labelled and synthetic
    samples, keeps this rank's slice, and updates encoder and head. Calling it returns the (detached) loss."""

    def __init__(self, ctx: TrainingContext, x: torch.Tensor, y: torch.Tensor, synthetic: Features,
                 epochs: int) -> None:
        cfg, net, dev = ctx.cfg, ctx.net, ctx.device
        self.ctx = ctx
        self.model = distributed.parallel(_Classifier(net.encoder, net.head), dev)
        self.x, self.y = on_device(x, dev), on_device(y, dev)
        enc_lr = cfg.learning_rate * (cfg.encoder_lr_scale if ctx.pretrained else 1.0)
        self.opt = torch.optim.AdamW(
            [{"params": net.encoder.parameters(), "lr": enc_lr},
             {"params": net.head.parameters(), "lr": cfg.learning_rate}],
            weight_decay=cfg.weight_decay,
        )
        self.batch_size = min(cfg.batch_size, len(y))
        self.per_epoch = max(cfg.min_steps_per_epoch, math.ceil(len(y) / self.batch_size))
        self.sched = warmup_cosine(self.opt, self.per_epoch * epochs, 0.1)
        self.scaler = grad_scaler(dev, ctx.autocast)
        self.augment = augmentation(cfg)
        self.synthetic = synthetic if synthetic is not None and cfg.synthetic_weight > 0 else None
        # Needs a diffusion model that is fitted already, i.e. before fine-tuning.
        self.use_reg = cfg.diffusion_reg_weight > 0 and ctx.early_diffusion
        weights = balance_weights(y, net.n_classes, cfg.class_balance)
        self.sampler = _Sampler(weights, len(y), self.batch_size, ctx.rnd.batches)

    def __call__(self, pseudo_data: Features) -> torch.Tensor:
        xb, yb, yp, s_idx = self._batch(pseudo_data)
        with amp_context(self.ctx.autocast):
            loss = self._loss(xb, yb, yp, s_idx)
        self.opt.zero_grad(set_to_none=True)
        backward_step(loss, self.opt, self.scaler)
        self.sched.step()
        return loss.detach()

    def _batch(self, pseudo_data: Features):
        """(patches, labels, pseudo-labels of the patches after the labelled ones, synthetic indices); the
        last two None when absent."""
        gen, views, dev = self.ctx.rnd.batches, self.ctx.rnd.views, self.ctx.device
        idx = distributed.shard(self.sampler.draw())
        xb = self.augment(self.x[idx.to(self.x.device)].to(dev), views)
        yb = self.y[idx.to(self.y.device)].to(dev)
        yp = None
        if pseudo_data is not None:  # one forward pass for labelled + pseudo-labelled patches
            p_sel = distributed.shard(torch.randint(0, len(pseudo_data[1]), (max(1, self.batch_size // 2),),
                                                    generator=gen))
            xb = torch.cat([xb, self.augment(pseudo_data[0][p_sel].to(dev), views)])
            yp = pseudo_data[1][p_sel].to(dev)
        s_idx = None
        if self.synthetic is not None:
            s_idx = distributed.shard(torch.randint(0, len(self.synthetic[1]), (self.batch_size,), generator=gen))
            s_idx = s_idx.to(dev)
        return xb, yb, yp, s_idx

    def _loss(self, xb, yb, yp, s_idx) -> torch.Tensor:
        cfg, net, smoothing = self.ctx.cfg, self.ctx.net, self.ctx.cfg.label_smoothing
        n = len(yb)
        all_feats, all_logits, s_logits = self.model(xb, None if s_idx is None else self.synthetic[0][s_idx])
        loss = F.cross_entropy(all_logits[:n], yb, label_smoothing=smoothing)
        if yp is not None and len(yp):
            loss = loss + F.cross_entropy(all_logits[n:], yp, label_smoothing=smoothing)
        if s_idx is not None:
            loss = loss + cfg.synthetic_weight * F.cross_entropy(s_logits, self.synthetic[1][s_idx],
                                                                 label_smoothing=smoothing)
        if self.use_reg:  # keep features where the class-conditional diffusion model puts them
            loss = loss + cfg.diffusion_reg_weight * net.diffusion.denoising_loss(
                all_feats[:n], yb, self.ctx.rnd.batches, cond_dropout=0.0)
        return loss
