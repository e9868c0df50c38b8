"""Training helpers. Mixed precision: bf16 (or fp16 + GradScaler) autocast on CUDA; on the CPU float32, or bf16
autocast where ``cpu_precision`` asks for it. Plus the learning-rate schedule."""

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


def autocast_for(device: torch.device, cpu_precision: str = "float32") -> Optional[Autocast]:
    """Autocast for training on ``device``: always on CUDA; on the CPU bf16 for ``cpu_precision`` "bfloat16",
    or "auto" on a processor that computes bf16 natively, else none. Weights, optimiser state and losses stay
    float32."""
    from ..device import native_bfloat16

    if device.type == "cuda":
        return Autocast("cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if device.type == "cpu" and (cpu_precision == "bfloat16"
                                 or (cpu_precision == "auto" and native_bfloat16(device))):
        return Autocast("cpu", torch.bfloat16)
    return None


def describe_precision(device: torch.device, cpu_precision: str = "float32") -> str:
    """Training's compute precision on ``device`` in words, for the log and the model file."""
    autocast = autocast_for(device, cpu_precision)
    return "float32" if autocast is None else f"{str(autocast.dtype).replace('torch.', '')} mixed precision"


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
