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

# Compute precision on the CPU: float32 (exact), bfloat16 (convolutions and matrix products in bfloat16, weights
# and reductions in float32), or auto (bfloat16 where the processor computes it natively: AVX512-BF16 or AMX).
PRECISIONS = ("float32", "bfloat16", "auto")
DEFAULT_PRECISION = "float32"

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
