"""ContrastDM: hyperspectral image classification with contrastive features and a feature diffusion model.

Python API (each mirrors a CLI command and takes an optional feedback object, see ``contrastdm.feedback``)::

    import contrastdm
    contrastdm.train(raster, vector, class_field, model_path)
    contrastdm.classify(raster, model_path, output_path, confidence_path=None)
    contrastdm.evaluate(map_path, vector, class_field, report_path)
    contrastdm.run(raster, vector, class_field, model_path, output_path)
"""

import os as _os

# pyproj in a virtual environment does not always find the system PROJ database.
if not (_os.environ.get("PROJ_DATA") or _os.environ.get("PROJ_LIB")) and _os.path.exists("/usr/share/proj/proj.db"):
    _os.environ["PROJ_DATA"] = "/usr/share/proj"

__version__ = "0.1.0"

_API = {
    "train": "train",
    "TrainResult": "train",
    "classify": "classify",
    "ClassifyResult": "classify",
    "evaluate": "evaluate",
    "run": "pipeline",
    "load_model": "bundle",
}


def __getattr__(name):
    # Lazy, so that `import contrastdm` (and the CLI's --help) stays fast and torch loads only when needed.
    if name in _API:
        import importlib

        module = importlib.import_module(f".{_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(name)


__all__ = ["__version__", *_API]
