"""Hyperspectral augmentations for batches of patches ``[N, C, p, p]``.

All randomness comes from an explicit ``torch.Generator``, drawn on the generator's device and moved to
the batch's: a CPU generator makes training reproducible on every device, a CUDA one keeps GPU training
free of host-side random numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch


def _rand(generator: torch.Generator, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=generator.device).to(device)


def _randn(generator: torch.Generator, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, device=generator.device).to(device)


def _randint(generator: torch.Generator, high: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=generator, device=generator.device)


@functools.lru_cache(maxsize=16)
def _dihedral_shift_maps(p: int, max_shift: int) -> np.ndarray:
    """``[8, (2s+1)**2, p*p]``: for dihedral transform c and shift offset (dy, dx), the flat source pixel of
    every output pixel, built by applying the very flips, rotations and padding to a grid of indices."""
    grid = torch.arange(p * p).reshape(p, p)
    mode = "reflect" if max_shift < p else "edge"  # torch's "reflect" / "replicate"
    span = 2 * max_shift + 1
    maps = np.empty((8, span * span, p * p), dtype=np.int64)
    for c in range(8):
        turned = torch.rot90(grid.flip(-1) if c >= 4 else grid, c % 4, dims=(-2, -1)).numpy()
        padded = np.pad(turned, max_shift, mode=mode)
        for dy in range(span):
            for dx in range(span):
                maps[c, dy * span + dx] = padded[dy:dy + p, dx:dx + p].reshape(-1)
    return maps


def dihedral_and_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 1,
                       prob: float = 0.5) -> torch.Tensor:
    """One of the 8 flips/90-degree rotations per patch (land cover has no preferred orientation), then a
    shift by up to ``max_shift`` pixels with probability ``prob`` (reflect-padded: small geo-registration
    jitter), as one gather: no per-transform loop and no device synchronisation."""
    n, bands, p, _ = x.shape
    choice = _randint(generator, 8, n)
    shift = max_shift if max_shift > 0 and prob > 0 else 0
    span = 2 * shift + 1
    offset = torch.full((n,), shift * span + shift, dtype=torch.long, device=choice.device)
    if shift:
        offs = _randint(generator, span, n, 2)
        moved = _rand(generator, n, device=choice.device) < prob
        offset = torch.where(moved, offs[:, 0] * span + offs[:, 1], offset)
    maps = torch.as_tensor(_dihedral_shift_maps(p, shift), device=x.device)
    index = maps[choice.to(x.device), offset.to(x.device)]
    return x.flatten(2).gather(2, index[:, None, :].expand(n, bands, p * p)).view(n, bands, p, p)


def spectral_jitter(
    x: torch.Tensor, generator: torch.Generator, noise_std: float = 0.05, scale_std: float = 0.1,
    band_scale_std: float = 0.03,
) -> torch.Tensor:
    """Per-patch brightness scaling, a gentle per-band gain and additive noise (illumination, sensor noise)."""
    n, c = x.shape[:2]
    dev = x.device
    scale = 1.0 + scale_std * _randn(generator, n, 1, 1, 1, device=dev)
    band = 1.0 + band_scale_std * _randn(generator, n, c, 1, 1, device=dev)
    noise = noise_std * _randn(generator, *x.shape, device=dev)
    return x * scale * band + noise


def band_dropout(x: torch.Tensor, generator: torch.Generator, prob: float = 0.1) -> torch.Tensor:
    """Zero random bands per patch (inputs are standardised, so zero is the band mean)."""
    if prob <= 0:
        return x
    keep = (_rand(generator, x.shape[0], x.shape[1], 1, 1, device=x.device) >= prob).to(x.dtype)
    return x * keep


@dataclass
class HyperspectralAugment:
    """The augmentation pipeline used by every training stage."""

    noise_std: float = 0.05
    scale_std: float = 0.1
    band_scale_std: float = 0.03
    band_drop: float = 0.1
    shift: int = 1
    shift_prob: float = 0.3

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = dihedral_and_shift(x, generator, self.shift, self.shift_prob)
        x = spectral_jitter(x, generator, self.noise_std, self.scale_std, self.band_scale_std)
        return band_dropout(x, generator, self.band_drop)
