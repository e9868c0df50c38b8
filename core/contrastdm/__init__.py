"""ContrastDM: hyperspectral image classification with contrastive features and a feature diffusion model."""

__version__ = "0.1.0"
