"""ContrastDM: hyperspectral image classification with contrastive features and a feature diffusion model.

Python API (each mirrors a CLI command and takes an optional feedback object, see ``contrastdm.feedback``)::

    import contrastdm
    contrastdm.train(raster, vector, class_field, model_path)
    contrastdm.classify(raster, model_path, output_path, confidence=None)
    contrastdm.evaluate(map_path, vector, class_field, report_path)
    contrastdm.run(raster, vector, class_field, model_path, output_path)
    contrastdm.prepare(raster)  # fill the scene cache, so the next train on the raster starts sooner
"""

from .bundle import load_model
from .classify import ClassifyResult
from .classify import classify as _classify
from .evaluate import evaluate as _evaluate
from .io.gdal_env import with_gdal_settings as _with_gdal_settings
from .pipeline import RunResult
from .pipeline import run as _run
from .prepare import PrepareResult
from .prepare import prepare as _prepare
from .train import TrainResult
from .train import train as _train
from .version import __version__

# The API's entry points read and write rasters under the engine's GDAL settings (a bounded block cache),
# scoped to the call: importing the package changes nothing in the process.
train = _with_gdal_settings(_train)
classify = _with_gdal_settings(_classify)
evaluate = _with_gdal_settings(_evaluate)
run = _with_gdal_settings(_run)
prepare = _with_gdal_settings(_prepare)

__all__ = ["__version__", "train", "classify", "evaluate", "run", "prepare", "load_model", "TrainResult",
           "ClassifyResult", "RunResult", "PrepareResult"]
