"""Supervised training loop for the torch baselines (mlp1d, ssftt), with model selection on validation.

Validation data are carved from the training pixels (stratified); the epoch with the best validation OA
(ties: lower validation loss) is kept. Test pixels are never seen.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import Cancelled


def carve_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of the training pixels: ~``fraction`` of each class, never a class's last one."""
    from ..model.learner import stratified_split

    return stratified_split(np.asarray(y), fraction, seed)


@torch.no_grad()
def predict_logits(model, x: np.ndarray, device, batch: int = 1024) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(model(torch.as_tensor(x[i:i + batch]).to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def train_supervised(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, learning_rate: float,
                     weight_decay: float, device, seed: int, val_fraction: float = 0.2, label_smoothing: float = 0.0,
                     optimizer: str = "adamw", augment: Optional[Callable] = None,
                     progress: Optional[Callable[[float, str], None]] = None,
                     is_cancelled: Optional[Callable[[], bool]] = None) -> dict:
    """Train ``model`` in place on ``x``/``y`` (labels 0..K-1); returns what model selection chose."""
    tr, va = carve_validation(y, val_fraction, seed)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x_tr, y_tr = torch.as_tensor(x[tr]), torch.as_tensor(y[tr]).long()
    x_va, y_va = x[va], torch.as_tensor(y[va]).long()
    model.to(device)
    kind = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
    opt = kind(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    n = len(y_tr)
    bs = min(batch_size, n)
    steps = max(1, math.ceil(n / bs))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)
    best, best_epoch, best_state = (-1.0, -math.inf), epochs, None
    history = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        for step in range(steps):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled("cancelled by the user; no output was written")
            idx = order[step * bs:(step + 1) * bs]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb, yb = x_tr[idx].to(device), y_tr[idx].to(device)
            if augment is not None:
                xb = augment(xb, generator)
            loss = F.cross_entropy(model(xb).float(), yb, label_smoothing=label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if len(va):
            logits = predict_logits(model, x_va, device)
            oa = float((logits.argmax(1) == y_va).float().mean())
            vloss = float(F.cross_entropy(logits, y_va))
            history.append(oa)
            if (oa, -vloss) > best:
                best, best_epoch = (oa, -vloss), epoch + 1
                best_state = copy.deepcopy(model.state_dict())
        if progress is not None:
            progress((epoch + 1) / epochs, f"epoch {epoch + 1}/{epochs}")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"validation_pixels": int(len(va)), "best_epoch": best_epoch,
            "validation_oa": None if best_state is None else best[0], "epochs": epochs}
