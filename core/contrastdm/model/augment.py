"""Hyperspectral augmentations for batches of patches ``[N, C, p, p]``.

All randomness comes from an explicit CPU ``torch.Generator`` so training is reproducible on every
device (random numbers are drawn on the CPU and moved to the batch's device).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _rand(generator: torch.Generator, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.rand(*shape, generator=generator).to(device)


def _randn(generator: torch.Generator, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.randn(*shape, generator=generator).to(device)


def random_dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One of the 8 flips/90-degree rotations per patch (land cover has no preferred orientation)."""
    choice = torch.randint(0, 8, (x.shape[0],), generator=generator)
    out = x.clone()
    for c in range(8):
        idx = (choice == c).nonzero(as_tuple=True)[0].to(x.device)
        if idx.numel() == 0 or c == 0:
            continue
        part = x.index_select(0, idx)
        if c >= 4:
            part = part.flip(-1)
        out[idx] = torch.rot90(part, c % 4, dims=(-2, -1))
    return out


def random_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = 1, prob: float = 0.5) -> torch.Tensor:
    """Shift patches by up to ``max_shift`` pixels (reflect-padded): small geo-registration jitter."""
    if max_shift <= 0 or prob <= 0:
        return x
    n, _, p, _ = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="reflect") if max_shift < p else F.pad(x, (max_shift,) * 4, mode="replicate")
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    keep = torch.rand(n, generator=generator) >= prob
    offs[keep] = max_shift
    out = torch.empty_like(x)
    for dy in range(2 * max_shift + 1):
        for dx in range(2 * max_shift + 1):
            idx = ((offs[:, 0] == dy) & (offs[:, 1] == dx)).nonzero(as_tuple=True)[0].to(x.device)
            if idx.numel():
                out[idx] = padded.index_select(0, idx)[:, :, dy:dy + p, dx:dx + p]
    return out


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
        x = random_dihedral(x, generator)
        x = random_shift(x, generator, self.shift, self.shift_prob)
        x = spectral_jitter(x, generator, self.noise_std, self.scale_std, self.band_scale_std)
        return band_dropout(x, generator, self.band_drop)
