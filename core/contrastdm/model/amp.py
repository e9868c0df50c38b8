"""Training helpers. Mixed precision: bf16 (or fp16 + GradScaler) autocast on CUDA only; fp32 elsewhere. Plus the learning-rate schedule."""

from __future__ import annotations

import contextlib
from typing import Callable, Optional

import torch


class Autocast:
    """A reusable autocast factory; ``Autocast(...)()`` is a fresh context manager."""

    def __init__(self, device_type: str, dtype: torch.dtype) -> None:
        self.device_type = device_type
        self.dtype = dtype

    def __call__(self):
        return torch.autocast(self.device_type, dtype=self.dtype)


def autocast_for(device: torch.device) -> Optional[Autocast]:
    if device.type != "cuda":
        return None
    return Autocast("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)


def amp_context(autocast: Optional[Callable]):
    return autocast() if autocast is not None else contextlib.nullcontext()


def grad_scaler(device: torch.device, autocast: Optional[Autocast]):
    """A GradScaler only for fp16 autocast on CUDA (bf16 needs none)."""
    if autocast is None or device.type != "cuda" or autocast.dtype != torch.float16:
        return None
    return torch.amp.GradScaler("cuda")


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler) -> None:
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def warmup_cosine(opt: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.05):
    """Linear warm-up then cosine decay to 5% of the base rate; safe for any number of steps."""
    import math

    total = max(1, int(total_steps))
    warmup = max(1, int(round(warmup_fraction * total)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)
