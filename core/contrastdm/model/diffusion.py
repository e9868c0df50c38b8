"""Class-conditional DDPM over encoder features (not pixels).

Training on d-dimensional features is cheap, and the model learns each class's feature manifold:
``sample`` generates synthetic features for scarce classes and ``refine`` partially noises real
features and denoises them back toward a manifold.  The null class (index ``n_classes``) is the
unconditional model used for classifier-free guidance and for refining unlabelled pixels; it is
trained on unlabelled features too, so it knows the whole scene's feature distribution.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..errors import Cancelled
from .amp import amp_context, backward_step, grad_scaler, warmup_cosine

# Bound on DDIM's clean-feature estimate, in standardised units. Near t = T the estimate divides by
# sqrt(alpha_bar) ~ 0, and a looser bound (10) left synthetic features three times as spread as real ones.
X0_CLIP = 5.0


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


def make_alphas_cumprod(schedule: str, timesteps: int) -> torch.Tensor:
    if schedule == "linear":
        betas = torch.linspace(1e-4, 0.02, timesteps, dtype=torch.float64)
        return torch.cumprod(1.0 - betas, 0).float()
    if schedule == "cosine":  # Nichol & Dhariwal 2021
        s = 0.008
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        return torch.cumprod(1.0 - betas, 0).float()
    raise ValueError(f"unknown beta schedule {schedule!r} (use 'cosine' or 'linear')")


class _ResBlock(nn.Module):
    """Pre-norm residual MLP block; the condition enters as a FiLM scale/shift."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.film = nn.Linear(hidden, 2 * hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.fc2 = nn.Linear(2 * hidden, hidden)
        nn.init.zeros_(self.fc2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        # FiLM is computed once per distinct (timestep, class) and gathered: sampling and refinement
        # share one condition across the whole batch, so this removes a third of the work.
        scale, shift = self.film(cond)[inverse].chunk(2, dim=1)
        h = self.norm(x) * (1 + scale) + shift
        return x + self.fc2(F.silu(self.fc1(F.silu(h))))


class Denoiser(nn.Module):
    """epsilon-prediction network: (noisy feature, timestep, class or null) -> noise."""

    def __init__(self, feature_dim: int, n_classes: int, hidden: int = 256, blocks: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.inp = nn.Linear(feature_dim, hidden)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.label = nn.Embedding(n_classes + 1, hidden)  # the last row is the null class
        self.blocks = nn.ModuleList(_ResBlock(hidden) for _ in range(blocks))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, feature_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        key = t.long() * (self.label.num_embeddings) + labels.long()
        unique, inverse = torch.unique(key, return_inverse=True)
        ut, ul = unique // self.label.num_embeddings, unique % self.label.num_embeddings
        cond = F.silu(self.time(sinusoidal_embedding(ut, self.hidden)) + self.label(ul))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, cond, inverse)
        return self.out(F.silu(self.out_norm(h)))


class FeatureDiffusion(nn.Module):
    """DDPM (training) + DDIM (sampling, refinement) over standardised features."""

    def __init__(
        self,
        feature_dim: int,
        n_classes: int,
        hidden: int = 256,
        blocks: int = 3,
        timesteps: int = 1000,
        schedule: str = "cosine",
        cond_dropout: float = 0.15,
    ) -> None:
        super().__init__()
        self.feature_dim = int(feature_dim)
        self.n_classes = int(n_classes)
        self.null_class = int(n_classes)
        self.timesteps = int(timesteps)
        self.cond_dropout = float(cond_dropout)
        self.denoiser = Denoiser(feature_dim, n_classes, hidden, blocks)
        self.register_buffer("feature_mean", torch.zeros(feature_dim))
        self.register_buffer("feature_std", torch.ones(feature_dim))
        # Derived from (schedule, timesteps), so not saved: the model file stays small and strict.
        self.register_buffer("alphas_cumprod", make_alphas_cumprod(schedule, self.timesteps), persistent=False)

    # -- normalisation -------------------------------------------------------------------------
    @torch.no_grad()
    def set_normalization(self, features: torch.Tensor) -> None:
        f = features.detach().float()
        self.feature_mean.copy_(f.mean(0))
        self.feature_std.copy_(f.std(0).clamp_min(1e-4) if f.shape[0] > 1 else torch.ones_like(self.feature_std))

    def normalize(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.feature_mean) / self.feature_std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.feature_std + self.feature_mean

    def _labels(self, labels: Optional[torch.Tensor], n: int, device: torch.device) -> torch.Tensor:
        if labels is None:
            return torch.full((n,), self.null_class, dtype=torch.long, device=device)
        labels = torch.as_tensor(labels, device=device).long()
        return torch.where(labels < 0, torch.full_like(labels, self.null_class), labels)

    # -- training --------------------------------------------------------------------------------
    def denoising_loss(
        self, features: torch.Tensor, labels: Optional[torch.Tensor], generator: torch.Generator,
        cond_dropout: Optional[float] = None, denoiser: Optional[nn.Module] = None,
    ) -> torch.Tensor:
        """The DDPM epsilon-MSE on raw features (normalised here); labels < 0 or None mean the null class."""
        device = features.device
        n = features.shape[0]
        x0 = self.normalize(features.float())
        y = self._labels(labels, n, device)
        p_drop = self.cond_dropout if cond_dropout is None else cond_dropout
        if p_drop > 0:
            drop = (torch.rand(n, generator=generator, device=generator.device) < p_drop).to(device)
            y = torch.where(drop, torch.full_like(y, self.null_class), y)
        t = torch.randint(0, self.timesteps, (n,), generator=generator, device=generator.device).to(device)
        eps = torch.randn(x0.shape, generator=generator, device=generator.device).to(device)
        ab = self.alphas_cumprod[t][:, None]
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        return F.mse_loss((denoiser or self.denoiser)(x_t, t, y).float(), eps)

    def fit(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        steps: int,
        *,
        unlabeled_features: Optional[torch.Tensor] = None,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        generator: Optional[torch.Generator] = None,
        autocast: Optional[Callable] = None,
        progress: Optional[Callable[[str, float, str], None]] = None,
        is_cancelled: Optional[Callable[[], bool]] = None,
        stage: str = "diffusion",
        noise_generator: Optional[torch.Generator] = None,
    ) -> list[float]:
        """Train on labelled features (+ unlabelled ones for the null class); returns losses per 1% of steps.

        Normalisation statistics come from all features given.  With unlabelled features every batch
        is half labelled, half unlabelled, so the few labelled features are not drowned. ``generator`` draws the batches (the same stream
        on every rank under torchrun, where each rank trains on its slice), ``noise_generator`` (default: the
        same) the timesteps and noise.
        """
        generator = generator or torch.Generator().manual_seed(0)
        noise_generator = noise_generator or generator
        denoiser = distributed.parallel(self.denoiser, self.feature_mean.device)
        device = self.feature_mean.device
        features = features.detach().float().to(device)
        labels = torch.as_tensor(labels).long().to(device)
        unl = None if unlabeled_features is None or len(unlabeled_features) == 0 else unlabeled_features.detach().float().to(device)
        self.set_normalization(features if unl is None else torch.cat([features, unl]))
        opt = torch.optim.AdamW(denoiser.parameters(), lr=learning_rate, weight_decay=weight_decay)
        sched = warmup_cosine(opt, steps, 0.05)
        scaler = grad_scaler(device, autocast)
        self.train()
        history: list[float] = []
        chunk = max(1, steps // 100)
        running = 0.0
        for step in range(steps):
            if is_cancelled is not None and is_cancelled():
                raise Cancelled()
            if unl is None:
                idx = distributed.shard(torch.randint(0, len(features), (batch_size,), generator=generator))
                fb, yb = features[idx.to(device)], labels[idx.to(device)]
            else:
                half = batch_size // 2
                idx = distributed.shard(torch.randint(0, len(features), (batch_size - half,), generator=generator))
                uidx = distributed.shard(torch.randint(0, len(unl), (half,), generator=generator))
                fb = torch.cat([features[idx.to(device)], unl[uidx.to(device)]])
                yb = torch.cat([labels[idx.to(device)], torch.full((len(uidx),), -1, dtype=torch.long, device=device)])
            with amp_context(autocast):
                loss = self.denoising_loss(fb, yb, noise_generator, denoiser=denoiser)
            opt.zero_grad(set_to_none=True)
            backward_step(loss, opt, scaler)
            sched.step()
            running = running + loss.detach()
            if (step + 1) % chunk == 0 or step + 1 == steps:
                history.append(running / ((step % chunk) + 1))
                running = 0.0
            if progress is not None:
                progress(stage, (step + 1) / steps, f"step {step + 1}/{steps}")
        self.eval()
        return [float(v) for v in history]

    # -- DDIM ------------------------------------------------------------------------------------
    def _eps(self, x: torch.Tensor, t: int, y: torch.Tensor, guidance: float) -> torch.Tensor:
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        conditional = bool((y != self.null_class).any())
        if not conditional or guidance == 1.0:
            return self.denoiser(x, tt, y).float()
        # Classifier-free guidance: eps_null + w * (eps_class - eps_null); w = 1 is plain conditional.
        null = torch.full_like(y, self.null_class)
        both = self.denoiser(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null])).float()
        eps_c, eps_u = both.chunk(2)
        return eps_u + guidance * (eps_c - eps_u)

    def _ddim(self, x: torch.Tensor, ts: Sequence[int], y: torch.Tensor, guidance: float) -> torch.Tensor:
        ac = self.alphas_cumprod
        for i, t in enumerate(ts):
            eps = self._eps(x, t, y, guidance)
            a_t = ac[t]
            a_prev = ac[ts[i + 1]] if i + 1 < len(ts) else torch.ones((), device=x.device)
            x0 = ((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-X0_CLIP, X0_CLIP)
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps  # eta = 0: deterministic
        return x

    def _schedule(self, t_start: int, n_steps: int) -> list[int]:
        ts = torch.linspace(t_start, 0, max(1, n_steps)).round().long().tolist()
        return sorted(set(ts), reverse=True)

    @torch.no_grad()
    def sample(
        self, labels: torch.Tensor, ddim_steps: int = 50, guidance: float = 2.0,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Synthetic features (raw scale) for the given class labels (negative = unconditional)."""
        generator = generator or torch.Generator().manual_seed(0)
        device = self.feature_mean.device
        y = self._labels(labels, len(labels), device)
        x = torch.randn(len(y), self.feature_dim, generator=generator).to(device)
        x = self._ddim(x, self._schedule(self.timesteps - 1, ddim_steps), y, guidance)
        return self.denormalize(x)

    @torch.no_grad()
    def refine(
        self, features: torch.Tensor, labels: Optional[torch.Tensor] = None, strength: float = 0.2,
        ddim_steps: int = 50, guidance: float = 1.0, noise: Optional[torch.Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> torch.Tensor:
        """Noise features to t = strength*T and DDIM-denoise back (None labels: the null class).

        ``noise`` ([d] or [N, d]) makes the result deterministic and independent of batch layout.
        """
        if strength <= 0:
            return features
        device = features.device
        x0 = self.normalize(features.float())
        if noise is None:
            generator = generator or torch.Generator().manual_seed(0)
            noise = torch.randn(x0.shape, generator=generator)
        noise = noise.to(device=device, dtype=x0.dtype)
        t_start = min(self.timesteps - 1, max(1, int(round(strength * (self.timesteps - 1)))))
        ab = self.alphas_cumprod[t_start]
        x = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        y = self._labels(labels, x.shape[0], device)
        steps = max(1, int(math.ceil(ddim_steps * strength)))
        x = self._ddim(x, self._schedule(t_start, steps), y, guidance)
        return self.denormalize(x).to(features.dtype)
