"""Pieces several training stages share: the configured augmentation, encoding patches to features,
validation accuracy, and class-balanced sampling weights."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..model.amp import amp_context
from ..model.augment import HyperspectralAugment
from ..model.config import LearnerConfig
from ..model.network import ContrastDMNet
from .context import _Stopper


def augmentation(cfg: LearnerConfig) -> HyperspectralAugment:
    return HyperspectralAugment(
        noise_std=cfg.aug_noise, scale_std=cfg.aug_scale, band_drop=cfg.aug_band_drop, shift=cfg.aug_shift,
    )


@torch.no_grad()
def encode(encoder, x: torch.Tensor, device, batch: int = 1024, augment=None, generator=None, autocast=None,
           stop: Optional[_Stopper] = None) -> torch.Tensor:
    """Features [N, d] of patches ``x`` in eval mode (optionally of augmented views)."""
    encoder.eval()
    out = []
    for i in range(0, len(x), batch):
        if stop is not None:
            stop.check()
        xb = x[i:i + batch].to(device)
        if augment is not None:
            xb = augment(xb, generator)
        with amp_context(autocast):
            out.append(encoder(xb).float())
    return torch.cat(out) if out else torch.empty(0, encoder.feature_dim, device=device)


@torch.no_grad()
def accuracy(net: ContrastDMNet, x: torch.Tensor, y: torch.Tensor, device, refine_strength: float = 0.0,
             batch: int = 1024) -> tuple[float, float]:
    """(overall accuracy, mean cross-entropy) in eval mode; refinement only when strength > 0."""
    net.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch):
        f = net.encoder(x[i:i + batch].to(device))
        if refine_strength > 0:
            f = net.refine_features(f, refine_strength)
        logits = net.head(f).float()
        yb = y[i:i + batch].to(device)
        correct += int((logits.argmax(1) == yb).sum())
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
    n = max(len(x), 1)
    return correct / n, loss / n


def balance_weights(labels: torch.Tensor, n_classes: int, power: float) -> Optional[torch.Tensor]:
    """Sampling weight n_class ** -power per sample (None when power is 0: uniform sampling)."""
    if power <= 0:
        return None
    counts = torch.bincount(labels.cpu(), minlength=n_classes).double()
    return counts[labels.cpu()].pow(-power)
