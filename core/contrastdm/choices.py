"""The named options the engine accepts, in one import-light module (no torch, numpy or rasterio).

The CLI builds its arguments from these and the engine checks against them. The QGIS plugin keeps its own
copies, because it talks to the engine only through the CLI and never imports it (the engine it runs may
live in another interpreter); tests/qgis/test_choice_copies.py holds those copies equal to these.
"""

PRESETS = ("fast", "balanced")
DEFAULT_PRESET = "balanced"

# "cuda:N" picks one GPU of several as well.
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_DEVICE = "auto"

# Spectral reduction before the network: principal components, or minimum noise fraction.
REDUCTIONS = ("pca", "mnf")
DEFAULT_REDUCTION = "pca"

# Whether a per-pixel spectral classifier is averaged into the probabilities (auto: when the training
# pixels form areas, not scattered points).
SPECTRAL_MEMBER = ("auto", "on", "off")
DEFAULT_SPECTRAL_MEMBER = "auto"

# How long training's stages run: the schedules as set, or fitted to the data (contrastdm.training.budget).
BUDGETS = ("fixed", "data")

# How the CLI reports progress: a bar on stderr, JSON lines on stdout (the plugin's protocol), or nothing.
PROGRESS = ("bar", "jsonl", "none")
