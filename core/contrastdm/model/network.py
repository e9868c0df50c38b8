"""The ContrastDM network: encoder + classification head (+ the feature diffusion model).

Built only from ``(in_bands, n_classes, config)`` so a saved ``state_dict`` (safetensors) loads
strictly into a freshly built network.  ``predict_dense`` classifies a whole padded tile in one
pass and equals ``softmax(forward(patch))`` at every pixel.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from .classifier import ClassifierHead
from .config import LearnerConfig, as_config
from .diffusion import FeatureDiffusion
from .encoder import SpectralSpatialEncoder


class ContrastDMNet(nn.Module):
    def __init__(
        self, in_bands: int, n_classes: int,
        config: Optional[Union[LearnerConfig, Mapping[str, Any], str]] = None,
    ) -> None:
        super().__init__()
        cfg = as_config(config)
        self.config = cfg
        self.in_bands = int(in_bands)
        self.n_classes = int(n_classes)
        self.patch_size = cfg.patch_size
        self.encoder = SpectralSpatialEncoder(
            in_bands, cfg.patch_size, cfg.feature_dim,
            spectral_channels=(cfg.spectral_channels, 2 * cfg.spectral_channels),
            spatial_channels=cfg.spatial_channels, centre_branch=cfg.centre_branch,
        )
        self.head = ClassifierHead(cfg.feature_dim, n_classes, cfg.head_hidden, cfg.dropout)
        self.diffusion: Optional[FeatureDiffusion] = None
        if cfg.synthetic or cfg.refine:
            self.diffusion = FeatureDiffusion(
                cfg.feature_dim, n_classes, cfg.diffusion_hidden, cfg.diffusion_blocks,
                cfg.diffusion_timesteps, cfg.diffusion_schedule, cfg.cond_dropout,
            )
            # One fixed noise vector shared by every pixel: refinement is deterministic and does not
            # depend on batch layout, so dense and patch-wise inference agree exactly.
            noise = torch.randn(cfg.feature_dim, generator=torch.Generator().manual_seed(cfg.seed + 7919))
            self.register_buffer("refine_noise", noise)

    @property
    def refine_active(self) -> bool:
        return self.diffusion is not None and self.config.refine and self.config.refine_strength > 0

    def refine_features(self, features: torch.Tensor, strength: Optional[float] = None) -> torch.Tensor:
        """Unconditional (null class) diffusion refinement of [N, d] features with the fixed noise."""
        if self.diffusion is None:
            return features
        strength = self.config.refine_strength if strength is None else strength
        return self.diffusion.refine(
            features, None, strength, self.config.ddim_steps, noise=self.refine_noise,
        )

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        """Encoder features; refined in eval mode when refinement is enabled."""
        f = self.encoder(patches)
        if self.refine_active and not self.training:
            f = self.refine_features(f)
        return f

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(patches))

    @torch.no_grad()
    def predict_dense(self, tile: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
        """Class probabilities [K, H, W] for a tile [1, C, H+2r, W+2r] padded by r = patch_size // 2."""
        if tile.dim() == 3:
            tile = tile.unsqueeze(0)
        if tile.dim() != 4 or tile.shape[0] != 1:
            raise ValueError(f"expected one padded tile [1, C, H+2r, W+2r], got {list(tile.shape)}")
        was_training = self.training
        self.eval()  # BatchNorm must use running statistics to be per-pixel
        try:
            fmap = self.encoder.forward_dense(tile)[0]  # [d, H, W]
            d, h, w = fmap.shape
            flat = fmap.reshape(d, h * w).t()
            probs = torch.empty(h * w, self.n_classes, device=flat.device)
            for start in range(0, h * w, chunk):
                f = flat[start:start + chunk]
                if self.refine_active:
                    f = self.refine_features(f)
                probs[start:start + chunk] = torch.softmax(self.head(f).float(), dim=1)
            return probs.t().reshape(self.n_classes, h, w)
        finally:
            self.train(was_training)
