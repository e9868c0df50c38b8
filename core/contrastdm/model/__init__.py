"""The learning core of ContrastDM: encoder, augmentations, contrastive and diffusion stages, training."""

from .config import DEFAULT_PRESET, PRESETS, LearnerConfig, as_config
from .diffusion import FeatureDiffusion
from .encoder import SpectralSpatialEncoder
from .learner import FitResult, fit, resolve_device
from .network import ContrastDMNet

__all__ = [
    "DEFAULT_PRESET", "PRESETS", "LearnerConfig", "as_config", "FeatureDiffusion", "SpectralSpatialEncoder",
    "FitResult", "fit", "resolve_device", "ContrastDMNet",
]
