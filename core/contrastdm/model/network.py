"""The ContrastDM network: encoder + classification head (+ the feature diffusion model).

Built only from ``(in_bands, n_classes, config)`` so a saved ``state_dict`` (safetensors) loads
strictly into a freshly built network.  ``predict_dense`` classifies a whole padded tile in one
pass and equals ``softmax(forward(patch))`` at every pixel.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import torch
import torch.nn.functional as F
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

    def class_rows(self) -> dict[str, int]:
        """State-dict names of the tensors whose rows are the classes, in class order, each with the number of
        rows after them (the diffusion model's null class): what changes when the class list does."""
        last = len(self.head.net) - 1  # the head ends with its output layer
        rows = {f"head.net.{last}.weight": 0, f"head.net.{last}.bias": 0}
        if self.diffusion is not None:
            rows["diffusion.denoiser.label.weight"] = 1
        return rows

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
    def predict_dense(self, tile: torch.Tensor, chunk: int = 65536, dtype: torch.dtype = torch.float32
                      ) -> torch.Tensor:
        """Class probabilities [K, H, W] for a tile [1, C, H+2r, W+2r] padded by r = patch_size // 2.

        ``dtype`` is the encoder's compute precision (bfloat16 trades exactness for speed); the head and
        the softmax always run in float32.
        """
        if tile.dim() == 3:
            tile = tile.unsqueeze(0)
        if tile.dim() != 4 or tile.shape[0] != 1:
            raise ValueError(f"expected one padded tile [1, C, H+2r, W+2r], got {list(tile.shape)}")
        was_training = self.training
        self.eval()  # BatchNorm must use running statistics to be per-pixel
        try:
            encoder = self.encoder.inference(dtype)
            if self.refine_active:
                return self._refined_probabilities(encoder(tile)[0].float(), chunk)
            return self._dense_head(encoder.pooled(tile).float())
        finally:
            self.train(was_training)

    def _dense_head(self, pooled: torch.Tensor) -> torch.Tensor:
        """Probabilities [K, H, W] from the map before the projection [1, c, H, W]: the projection and the
        head's first layer have nothing between them, so they fold into one 1x1 convolution."""
        first, second = (m for m in self.head.net if isinstance(m, nn.Linear))
        weight, bias = self.encoder.project.weight.double()[:, :, 0, 0], self.encoder.project.bias.double()
        folded = first.weight.double() @ weight
        folded_bias = first.weight.double() @ bias + first.bias.double()
        hidden = F.conv2d(pooled, folded[:, :, None, None].float(), folded_bias.float()).relu_()
        logits = F.conv2d(hidden, second.weight[:, :, None, None], second.bias)
        return torch.softmax(logits[0], dim=0).contiguous()

    def _refined_probabilities(self, fmap: torch.Tensor, chunk: int) -> torch.Tensor:
        d, h, w = fmap.shape
        flat = fmap.reshape(d, h * w).t()
        probs = torch.empty(h * w, self.n_classes, device=flat.device)
        for start in range(0, h * w, chunk):
            f = self.refine_features(flat[start:start + chunk])
            probs[start:start + chunk] = torch.softmax(self.head(f).float(), dim=1)
        return probs.t().reshape(self.n_classes, h, w)
