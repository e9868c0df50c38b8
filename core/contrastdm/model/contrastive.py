"""Contrastive pre-training: SimCLR (NT-Xent) on unlabelled patches plus an optional SupCon term.

Instance discrimination alone pushes same-class pixels apart; the SupCon term on the few labelled
patches keeps class information in the representation from the start.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..errors import Cancelled
from .amp import amp_context, backward_step, grad_scaler, warmup_cosine
from .augment import HyperspectralAugment

ProgressFn = Callable[[str, float, str], None]


class ProjectionHead(nn.Module):
    """Features -> small normalised embedding used only by the contrastive losses."""

    def __init__(self, feature_dim: int, hidden: int = 128, out_dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(feature_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(features).float(), dim=1)


class _Embedder(nn.Module):
    """Encoder then projector as one module, the unit DistributedDataParallel synchronises."""

    def __init__(self, encoder: nn.Module, projector: ProjectionHead) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = projector

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR loss: each view must pick its partner among the 2N-1 other views."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out): all same-label samples are positives."""
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0]
    sim = z @ z.t() / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    valid = n_pos > 0
    if not valid.any():
        return z.sum() * 0.0
    mean_log_prob_pos = log_prob.masked_fill(~pos, 0.0).sum(1)[valid] / n_pos[valid]
    return -mean_log_prob_pos.mean()


def pretrain_contrastive(
    encoder: nn.Module,
    projector: ProjectionHead,
    unlabeled: torch.Tensor,
    x_labeled: Optional[torch.Tensor],
    y_labeled: Optional[torch.Tensor],
    *,
    epochs: int,
    samples_per_epoch: int = 0,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-4,
    temperature: float = 0.2,
    supcon_weight: float = 1.0,
    augment: Optional[HyperspectralAugment] = None,
    generator: Optional[torch.Generator] = None,
    device: torch.device | str = "cpu",
    autocast: Optional[Callable] = None,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
    view_generator: Optional[torch.Generator] = None,
) -> list[float]:
    """Train ``encoder`` + ``projector`` in place; returns the mean loss per epoch.

    An epoch is one pass over ``unlabeled`` (or over a fresh random subset of ``samples_per_epoch``
    patches when that is > 0, which bounds the time on large scenes); each step also draws a labelled batch for SupCon
    (two augmented views per labelled patch) when ``supcon_weight > 0``. ``generator`` draws the batches,
    ``view_generator`` (default: the same) the augmentations. Under torchrun each rank embeds its slice of
    every batch and the losses see the embeddings of all ranks.
    """
    device = torch.device(device)
    augment = augment or HyperspectralAugment()
    generator = generator or torch.Generator().manual_seed(0)
    view_generator = view_generator or generator
    model = distributed.parallel(_Embedder(encoder, projector), device)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n_all = unlabeled.shape[0]
    n = min(n_all, samples_per_epoch) if samples_per_epoch > 0 else n_all
    bs = max(2 * distributed.current().world_size, min(batch_size, n))
    steps_per_epoch = max(1, n // bs)
    total = steps_per_epoch * epochs
    sched = warmup_cosine(opt, total, 0.1)
    use_sup = supcon_weight > 0 and x_labeled is not None and y_labeled is not None and len(y_labeled) > 1
    lab_bs = min(len(y_labeled), max(bs // 2, 2 * distributed.current().world_size)) if use_sup else 0
    scaler = grad_scaler(device, autocast)
    history: list[float] = []
    encoder.train()
    projector.train()
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(n_all, generator=generator)[:n]
        running = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            xb = unlabeled[distributed.shard(perm[i * bs:(i + 1) * bs])].to(device, non_blocking=True)
            views = [augment(xb, view_generator), augment(xb, view_generator)]
            yl = None
            if use_sup:
                li = distributed.shard(torch.randperm(len(y_labeled), generator=generator)[:lab_bs])
                xl, yl = x_labeled[li].to(device), y_labeled[li].to(device)
                views += [augment(xl, view_generator), augment(xl, view_generator)]
            with amp_context(autocast):
                z = model(torch.cat(views))
            loss = _step_loss(z, len(xb), yl, temperature, supcon_weight)
            opt.zero_grad(set_to_none=True)
            backward_step(loss, opt, scaler)
            sched.step()
            running += loss.detach()
            step += 1
            if progress is not None:
                progress("contrastive", step / max(total, 1), f"epoch {epoch + 1}/{epochs}")
        history.append(float(running) / steps_per_epoch)
    return history


def _step_loss(z: torch.Tensor, m: int, yl: Optional[torch.Tensor], temperature: float,
               supcon_weight: float) -> torch.Tensor:
    """NT-Xent over the two views of the ``m`` unlabelled patches (the first 2m rows of ``z``), plus SupCon over
    the two views of the labelled ones (the rest, labels ``yl``), with the embeddings of every rank."""
    loss = nt_xent_loss(distributed.gather(z[:m]), distributed.gather(z[m: 2 * m]), temperature)
    if yl is not None:
        half = (len(z) - 2 * m) // 2
        zl = torch.cat([distributed.gather(z[2 * m: 2 * m + half]), distributed.gather(z[2 * m + half:])])
        yl = distributed.gather_labels(yl)
        loss = loss + supcon_weight * supcon_loss(zl, torch.cat([yl, yl]), temperature)
    return loss
