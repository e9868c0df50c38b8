"""An SSFTT-style classifier, written from the paper's description.

Sun, Zhao, Zheng and Wu, "Spectral-Spatial Feature Tokenization Transformer for Hyperspectral Image
Classification", IEEE TGRS 60, 2022. Patches of PCA components ``[N, b, p, p]``:

1. 3D convolution, 8 kernels of 3x3x3 (valid), BatchNorm, ReLU -> ``[N, 8, b-2, p-2, p-2]``;
2. reshaped to ``8 (b-2)`` channels, 2D convolution, 64 kernels of 3x3 (valid), BatchNorm, ReLU;
3. flattened to ``(p-4)^2`` feature tokens of width 64;
4. Gaussian-weighted feature tokenizer: ``A = softmax(X W_a)^T`` (``W_a`` Gaussian-initialised, L = 4
   semantic tokens), ``T = A (X W_b)``;
5. a learnable cls token is prepended, learnable position embeddings added (dropout 0.1);
6. one transformer encoder block (pre-LayerNorm multi-head self-attention with 8 heads, MLP of width 8, GELU);
7. a linear head on the cls token.

The paper trains with Adam (lr 1e-3) for 100 epochs, batch size 64, on 13x13 patches of 30 components;
the harness uses its common patch size so every patch method sees the same neighbourhood.
"""

from __future__ import annotations

import torch
from torch import nn


class GaussianTokenizer(nn.Module):
    def __init__(self, dim: int, n_tokens: int = 4) -> None:
        super().__init__()
        self.token_weights = nn.Parameter(torch.empty(dim, n_tokens))  # W_a
        self.value = nn.Parameter(torch.empty(dim, dim))  # W_b
        nn.init.xavier_normal_(self.token_weights)
        nn.init.xavier_normal_(self.value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [N, n, dim]
        attention = torch.softmax(x @ self.token_weights, dim=1).transpose(1, 2)  # [N, L, n]
        return attention @ (x @ self.value)  # [N, L, dim]


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int = 8, mlp_dim: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp_dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class SSFTT(nn.Module):
    def __init__(self, in_bands: int, patch_size: int, n_classes: int, conv3d_channels: int = 8,
                 dim: int = 64, n_tokens: int = 4, heads: int = 8, mlp_dim: int = 8, dropout: float = 0.1) -> None:
        super().__init__()
        if patch_size < 5:
            raise ValueError("SSFTT needs patches of at least 5x5")
        if in_bands < 3:
            raise ValueError("SSFTT needs at least 3 input components")
        self.conv3d = nn.Sequential(nn.Conv3d(1, conv3d_channels, 3), nn.BatchNorm3d(conv3d_channels), nn.ReLU())
        self.conv2d = nn.Sequential(nn.Conv2d(conv3d_channels * (in_bands - 2), dim, 3), nn.BatchNorm2d(dim), nn.ReLU())
        self.tokenizer = GaussianTokenizer(dim, n_tokens)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.position = nn.Parameter(torch.empty(1, n_tokens + 1, dim))
        nn.init.normal_(self.position, std=0.02)
        self.dropout = nn.Dropout(dropout)
        self.encoder = EncoderBlock(dim, heads, mlp_dim, dropout)
        self.head = nn.Linear(dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(x.unsqueeze(1))  # [N, 8, b-2, p-2, p-2]
        x = self.conv2d(x.flatten(1, 2))  # [N, 64, p-4, p-4]
        tokens = self.tokenizer(x.flatten(2).transpose(1, 2))  # [N, L, 64]
        x = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.position
        return self.encoder(self.dropout(x))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
