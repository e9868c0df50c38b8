"""The learning core of ContrastDM: encoder, augmentations, contrastive and diffusion stages (training itself
lives in :mod:`contrastdm.training`).

Importing this package loads only the configuration (no torch); the torch-backed names load on first use, and
``fit`` / ``FitResult`` are re-exported from ``contrastdm.training`` that way too (it imports this package, so an
eager import here would be a cycle).
"""

import importlib

from ..device import resolve_device
from .config import DEFAULT_PRESET, PRESETS, LearnerConfig, as_config

_LAZY = {
    "FeatureDiffusion": "contrastdm.model.diffusion",
    "SpectralSpatialEncoder": "contrastdm.model.encoder",
    "ContrastDMNet": "contrastdm.model.network",
    "FitResult": "contrastdm.training",
    "fit": "contrastdm.training",
}

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "LearnerConfig", "as_config", "FeatureDiffusion", "SpectralSpatialEncoder",
    "FitResult", "fit", "resolve_device", "ContrastDMNet",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
