"""MLP classification head on encoder features (one feature vector per pixel)."""

from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """Dropout -> Linear -> ReLU -> Dropout -> Linear.  Per-sample only, so dense == patch-wise."""

    def __init__(self, feature_dim: int, n_classes: int, hidden: int = 128, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(feature_dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
