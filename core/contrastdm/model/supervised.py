"""Supervised training loop for small torch classifiers (the spectral member, the mlp1d and ssftt baselines), with model selection on validation.

Validation data are carved from the training pixels (stratified); the epoch is chosen on them by the rule
ContrastDM uses (:mod:`contrastdm.model.selection`), then the model is refitted on every training pixel up to
that epoch. Test pixels are never seen.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..errors import Cancelled
from .selection import EpochSelector


def carve_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of the training pixels: ~``fraction`` of each class, never a class's last one."""
    from .data import stratified_split

    return stratified_split(np.asarray(y), fraction, seed)


@dataclass(frozen=True)
class Schedule:
    """How one model is trained: the same for the selection run and the refit."""

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    label_smoothing: float = 0.0
    optimizer: str = "adamw"  # or "adam"
    augment: Optional[Callable] = None


@torch.no_grad()
def predict_logits(model, x: np.ndarray, device, batch: int = 1024) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        out.append(model(torch.as_tensor(x[i:i + batch]).to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def train_supervised(model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, learning_rate: float,
                     weight_decay: float, device, seed: int, val_fraction: float = 0.2, label_smoothing: float = 0.0,
                     optimizer: str = "adamw", augment: Optional[Callable] = None, refit: bool = True,
                     progress: Optional[Callable[[float, str], None]] = None,
                     is_cancelled: Optional[Callable[[], bool]] = None) -> dict:
    """Train ``model`` in place on ``x``/``y`` (labels 0..K-1); returns what model selection chose.

    The epoch is chosen on the carved slice as ContrastDM's is (the latest within one standard error of the
    best); with ``refit`` the model then restarts from its initial weights and is trained on every label,
    on the same schedule, up to that epoch (as ContrastDM's ``refit_all`` does)."""
    tr, va = carve_validation(y, val_fraction, seed)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.to(device)
    initial = copy.deepcopy(model.state_dict()) if refit and len(va) else None
    share = 0.5 if initial is not None else 1.0

    def report(f, m):
        if progress is not None:
            progress(f, m)

    schedule = Schedule(epochs, batch_size, learning_rate, weight_decay, label_smoothing, optimizer, augment)
    best_epoch, chosen_oa, history = _train(model, schedule, (x[tr], y[tr]), (x[va], y[va]), device, generator,
                                            lambda f, m: report(share * f, m), is_cancelled)
    info = {"validation_pixels": int(len(va)), "best_epoch": best_epoch, "validation_oa": chosen_oa,
            "validation_curve": [round(v, 4) for v in history], "epochs": epochs,
            "selection": "latest within 1 SE"}
    if initial is not None:
        model.load_state_dict(initial)
        _train(model, schedule, (x, y), (x[:0], y[:0]), device, generator,
               lambda f, m: report(share + (1 - share) * f, m), is_cancelled, stop_after=best_epoch)
        info.update(refit_samples=int(len(y)), refit_epochs=best_epoch)
    model.eval()
    return info


def _train(model, schedule: Schedule, train, validation, device, generator, progress, is_cancelled,
           stop_after=None):
    """One training run on ``train`` = (x, y); with ``validation`` data, returns to the chosen epoch's weights."""
    from .data import on_device

    x_tr, y_tr = on_device(torch.as_tensor(train[0]), device), on_device(torch.as_tensor(train[1]).long(), device)
    x_va, y_va = validation[0], torch.as_tensor(validation[1]).long()
    epochs, augment = schedule.epochs, schedule.augment
    kind = torch.optim.Adam if schedule.optimizer == "adam" else torch.optim.AdamW
    opt = kind(model.parameters(), lr=schedule.learning_rate, weight_decay=schedule.weight_decay)
    trained = distributed.parallel(model, device)  # under torchrun each rank trains on its slice of a batch
    n = len(y_tr)
    bs = min(schedule.batch_size, n)
    steps = max(1, math.ceil(n / bs))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps)  # spans every epoch, also when stopped early
    run_epochs = epochs if stop_after is None else max(1, min(epochs, int(stop_after)))
    selector = EpochSelector(len(y_va))
    best_state = None
    history = []
    for epoch in range(run_epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        for step in range(steps):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            idx = distributed.shard(order[step * bs:(step + 1) * bs])
            if len(idx) < 2:  # BatchNorm needs two samples (shards are equal: every rank skips alike)
                continue
            xb, yb = x_tr[idx.to(x_tr.device)].to(device), y_tr[idx.to(y_tr.device)].to(device)
            if augment is not None:
                xb = augment(xb, generator)
            loss = F.cross_entropy(trained(xb).float(), yb, label_smoothing=schedule.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if len(y_va):
            oa = distributed.same_everywhere(float((predict_logits(model, x_va, device).argmax(1) == y_va).float().mean()))
            history.append(oa)
            if selector.update(epoch + 1, oa):
                best_state = copy.deepcopy(model.state_dict())
        progress((epoch + 1) / run_epochs, f"epoch {epoch + 1}/{run_epochs}")
    if best_state is None:
        return run_epochs, None, history
    model.load_state_dict(best_state)
    return selector.epoch, selector.oa, history
