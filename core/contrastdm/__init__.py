"""ContrastDM: hyperspectral image classification with contrastive features and a feature diffusion model.

Python API (each mirrors a CLI command and takes an optional feedback object, see ``contrastdm.feedback``)::

    import contrastdm
    contrastdm.train(raster, vector, class_field, model_path)
    contrastdm.classify(raster, model_path, output_path, confidence=None)
    contrastdm.evaluate(map_path, vector, class_field, report_path)
    contrastdm.run(raster, vector, class_field, model_path, output_path)
"""

import os as _os

# pyproj in a virtual environment does not always find the system PROJ database.
if not (_os.environ.get("PROJ_DATA") or _os.environ.get("PROJ_LIB")) and _os.path.exists("/usr/share/proj/proj.db"):
    _os.environ["PROJ_DATA"] = "/usr/share/proj"
# GDAL's block cache defaults to 5% of RAM and grows with the scene; tiles are read once, so a small cache keeps
# peak memory bounded by the tile size. A user's own setting wins.
_os.environ.setdefault("GDAL_CACHEMAX", "128")

__version__ = "0.1.0"

from .bundle import load_model  # noqa: E402
from .classify import ClassifyResult, classify  # noqa: E402
from .evaluate import evaluate  # noqa: E402
from .pipeline import RunResult, run  # noqa: E402
from .train import TrainResult, train  # noqa: E402

__all__ = ["__version__", "train", "classify", "evaluate", "run", "load_model", "TrainResult", "ClassifyResult",
           "RunResult"]
