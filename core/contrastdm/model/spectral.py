"""The spectral member: a per-pixel MLP on standardised bands whose class probabilities are averaged with
ContrastDM's before smoothing, where the training pixels were labelled as areas.

Why a gate: a window classifier learns the surroundings of the areas it was shown. When labels come as areas
(polygons, rectangles), the fields nobody labelled look unlike them and the spectra alone generalise better;
when labels are points scattered over the scene, the window's context is the better evidence, and averaging
in the spectra costs accuracy (both measured on Indian Pines, ``benchmarks/README.md``). How the labels were
drawn is read off the training pixels' layout, never off test data.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ..choices import SPECTRAL_MEMBER as SETTINGS  # "auto", "on", "off"

# Labels drawn as areas: most of a training pixel's 8 neighbours are training pixels too (0.64-0.88 for the
# rectangles and whole fields of the benchmark); for scattered points the share is about the sampling rate
# (0.04-0.10 there), so the gate sits in the middle of a wide gap, not on a tuned value.
AREA_NEIGHBOURS = 0.5
EPOCHS = 200


def neighbour_share(rows, cols) -> float:
    """Mean share of each training pixel's 8 neighbours that are training pixels too (duplicates count once)."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if rows.size == 0:
        return 0.0
    width = int(cols.max()) + 3  # a margin column so a neighbour never wraps onto the next row
    keys = np.unique((rows + 1) * width + cols + 1)
    neighbours = np.zeros(keys.size, dtype=np.int64)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                neighbours += np.isin(keys + dr * width + dc, keys, assume_unique=True)
    return float(neighbours.mean() / 8.0)


def resolve(setting: str, rows, cols) -> tuple[str, dict]:
    """``"on"`` or ``"off"`` for a requested setting, and the evidence behind it."""
    if setting not in SETTINGS:
        raise ValueError(f"spectral_member must be one of {', '.join(SETTINGS)}, not {setting!r}")
    share = neighbour_share(rows, cols)
    chosen = setting if setting != "auto" else ("on" if share >= AREA_NEIGHBOURS else "off")
    return chosen, {"requested": setting, "member": chosen, "neighbour_share": round(share, 4),
                    "area_threshold": AREA_NEIGHBOURS}


def build_member(bands: int, n_classes: int) -> nn.Sequential:
    """Two hidden layers with BatchNorm and dropout; built from its sizes alone so saved weights load strictly."""
    return nn.Sequential(
        nn.Linear(bands, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, n_classes))


def _augment(x, generator):  # gentle noise and brightness changes
    noise = torch.randn(x.shape, generator=generator).to(x.device)
    scale = 1 + 0.05 * torch.randn((len(x), 1), generator=generator).to(x.device)
    return x * scale + 0.02 * noise


def fit_member(spectra: np.ndarray, labels: np.ndarray, n_classes: int, seed: int, device, epochs: int = EPOCHS,
               progress: Optional[Callable[[float, str], None]] = None,
               is_cancelled: Optional[Callable[[], bool]] = None) -> tuple[nn.Sequential, dict]:
    """Train the member on standardised spectra ``[N, B]`` (labels 0..K-1); the epoch is chosen on a carved
    slice and the member refitted on every label, as the fine-tuning of ContrastDM is."""
    from .supervised import train_supervised

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        member = build_member(spectra.shape[1], n_classes)
        info = train_supervised(
            member, np.ascontiguousarray(spectra, dtype=np.float32), np.asarray(labels, dtype=np.int64),
            epochs=epochs, batch_size=64, learning_rate=1e-3, weight_decay=1e-4, device=device, seed=seed,
            label_smoothing=0.1, augment=_augment, progress=progress, is_cancelled=is_cancelled)
    return member.eval(), info


@torch.no_grad()
def member_probabilities(member: nn.Module, spectra: np.ndarray, device, batch: int = 65536) -> np.ndarray:
    """Softmax class probabilities ``[N, K]`` of standardised spectra ``[N, B]``."""
    member.eval()
    out = [torch.softmax(member(torch.as_tensor(spectra[i:i + batch]).to(device)).float(), dim=1).cpu().numpy()
           for i in range(0, len(spectra), batch)]
    return np.concatenate(out) if out else np.zeros((0, member[-1].out_features), np.float32)


def fuse(own: np.ndarray, spectral: np.ndarray, weight: float) -> np.ndarray:
    """The weighted mean of two probability maps of the same shape."""
    return (1.0 - weight) * own + weight * spectral
