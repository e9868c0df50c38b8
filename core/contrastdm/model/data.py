"""Training data helpers shared by ContrastDM's training (``contrastdm.training``) and the small supervised
models (:mod:`contrastdm.model.supervised`): where the patches live during training, and the validation split."""

from __future__ import annotations

import numpy as np
import torch


def on_device(tensor: torch.Tensor, device: torch.device, limit_bytes: int = 1 << 30) -> torch.Tensor:
    """``tensor`` moved to a GPU once when it fits in ``limit_bytes`` (no copy per batch), else left where it is."""
    if device.type != "cuda" or tensor.numel() * tensor.element_size() > limit_bytes:
        return tensor
    return tensor.to(device)


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): about ``fraction`` of each class goes to validation, never a class's last sample."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
