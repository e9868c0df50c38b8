"""The label-free preprocessing of a scene, kept in the scene cache between training runs.

Training starts with a stage that depends only on the raster and a few settings: up to
``train.PREPROCESS_PIXELS`` pixel pairs are read from the scene, the bad bands are found on them and the
standardisation and the reduction (PCA or MNF) are fitted on the kept bands. On a large scene, reading that
sample dominates the stage. Its result (a :class:`~contrastdm.preprocess.Preprocessor` and a
:class:`~contrastdm.bands.BandSelection`) is kept in the :class:`~contrastdm.cache.SceneCache` under the
raster's fingerprint, the stage name :data:`STAGE` and :func:`stage_settings`, so the next training on the
same raster (polygons edited, learner settings changed) starts from it. A hit gives exactly the arrays a miss
computes: the model file and the map are the same, bit for bit.

:func:`prepare` (``contrastdm prepare``) runs the stage alone, to fill the cache before training (the QGIS
plugin does it in the background when a raster is picked).

``cache`` arguments (:func:`open_cache`): ``"default"`` (the user's cache folder,
``cache.cache_root()/scenes``: ``$CONTRASTDM_CACHE_DIR/scenes``, else ``$XDG_CACHE_HOME/contrastdm/scenes``,
else ``~/.cache/contrastdm/scenes``), a folder (entries go straight into it), a
:class:`~contrastdm.cache.SceneCache`, or ``None`` (no cache: nothing is read or written).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from .cache import SceneCache
from .errors import InputError, OutputError
from .feedback import NullFeedback, check_cancelled

STAGE = "preprocess"
STAGE_VERSION = 1  # raise when the stage computes something else from the same raster and settings
DEFAULT = "default"
_PREPROCESSOR_ARRAYS = ("mean", "scale", "components", "explained_variance", "output_scale")


def open_cache(cache=DEFAULT, feedback=None) -> SceneCache | None:
    """The :class:`SceneCache` a ``cache`` argument names (see the module's docstring); None for no cache.
    A folder named ``default`` is given as ``./default``."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, SceneCache):
        return cache
    if isinstance(cache, str) and cache == DEFAULT:
        return SceneCache(feedback=feedback)
    if isinstance(cache, (str, os.PathLike)) and os.fspath(cache).strip():
        return SceneCache(cache, feedback=feedback)
    raise InputError(f"cache: use 'default', None, a folder or a SceneCache, not {cache!r}")


def stage_settings(n_components, reduction: str, bands, drop_bands, seed: int, pixels: int) -> dict:
    """What, besides the raster, decides the stage's result: the entry's key. ``bands``/``drop_bands`` are
    the resolved 0-based lists (so "1-3" and "1,2,3" are the same entry), None when not given."""
    def listed(values):
        return None if values is None else [int(v) for v in values]

    return {"version": STAGE_VERSION, "pixels": int(pixels), "pca_components": int(n_components or 0),
            "reduction": str(reduction), "bands": listed(bands), "drop_bands": listed(drop_bands),
            "seed": int(seed)}


def fingerprint(ds, cache: SceneCache | None) -> str | None:
    """The raster's fingerprint, or None when there is no cache to look in (it is not computed then)."""
    if cache is None or not cache.enabled:
        return None
    from .cache import raster_fingerprint

    return raster_fingerprint(ds)


def load(cache: SceneCache | None, key: str | None, settings: dict, info):
    """``(preprocessor, selection)`` from the cache, or None (no cache, no entry, or one that does not fit
    ``info``)."""
    from .bands import BandSelection
    from .preprocess import Preprocessor

    if cache is None or key is None:
        return None
    found = cache.load(key, STAGE, settings)
    if found is None:
        return None
    arrays, meta = found
    try:
        keep = np.asarray(arrays["keep"], dtype=bool)
        reasons = {int(index): str(text) for index, text in meta["reasons"]}
        fields = {name: arrays.get(name) for name in _PREPROCESSOR_ARRAYS}
        preprocessor = Preprocessor(**fields)
        kept = int(keep.sum())
        fits = (keep.shape == (info.read_count,) and preprocessor.mean.shape == (kept,)
                and preprocessor.scale.shape == (kept,)
                and sorted(reasons) == np.flatnonzero(~keep).tolist()
                and (preprocessor.components is None or preprocessor.components.shape[0] == kept))
    except (KeyError, TypeError, ValueError, AttributeError):
        fits = False
    if not fits:  # written from other code for the same key: computed again and replaced
        return None
    return preprocessor, BandSelection(keep, reasons)


def store(cache: SceneCache | None, key: str | None, settings: dict, preprocessor, selection) -> bool:
    """Keep the stage's result; True when it is in the cache afterwards."""
    if cache is None or key is None:
        return False
    arrays = {name: np.asarray(getattr(preprocessor, name)) for name in _PREPROCESSOR_ARRAYS
              if getattr(preprocessor, name) is not None}
    arrays["keep"] = np.asarray(selection.keep, dtype=bool)
    # Reasons as pairs in their own order: the model file lists them in that order.
    meta = {"reasons": [[int(index), str(text)] for index, text in selection.reasons.items()],
            "in_bands": int(preprocessor.in_bands), "out_bands": int(preprocessor.out_bands)}
    return cache.store(key, STAGE, settings, arrays, meta)


@dataclass(frozen=True)
class CacheUse:
    """How the stage used the cache: ``status`` "hit", "miss" (computed; stored when the cache could take it)
    or "off" (no cache), the entry's file (None when off), and the raster's fingerprint and the stage's
    settings that key it (what later stages key their entries by)."""

    status: str
    entry: str | None = None
    fingerprint: str | None = None
    settings: dict | None = None


def lookup(ds, info, cache: SceneCache | None, settings: dict):
    """``(cached (preprocessor, selection) or None, fingerprint or None, entry file or None)``."""
    key = fingerprint(ds, cache)
    if key is None:
        return None, None, None
    return load(cache, key, settings, info), key, str(cache.path_for(key, STAGE, settings))


@dataclass
class PrepareResult:
    status: str  # "hit": already in the cache; "miss": computed and stored
    entry: str  # the cache file
    cache_dir: str
    bands: int  # bands of the raster
    kept_bands: int
    features: int  # channels after the reduction
    seconds: float


def prepare(raster, *, pca_components: int | None = 30, reduction: str = "pca", bands=None, drop_bands=None,
            seed: int | None = None, cache=DEFAULT, feedback=None) -> PrepareResult:
    """Fill the scene cache with ``raster``'s label-free preprocessing, as :func:`contrastdm.train` with the
    same ``pca_components``, ``reduction``, ``bands``, ``drop_bands`` and ``seed`` (default: the presets'
    seed, 0) computes it, so that training on it then finds it there. ``cache`` as in :func:`open_cache`;
    None is refused (there would be nothing to do). Raises :class:`OutputError` when the cache cannot be
    written.
    """
    from .io.raster import describe, open_raster
    from .model.config import DEFAULT_PRESET, PRESETS
    from .reduce import REDUCTIONS
    from .train import _fit_scene

    started = time.monotonic()
    feedback = feedback or NullFeedback()
    store_at = open_cache(cache, feedback)
    if store_at is None or not store_at.enabled:
        raise InputError("prepare fills the scene cache: give a cache folder, not None")
    if seed is None:
        seed = PRESETS[DEFAULT_PRESET].seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number, 0 or more, not {seed!r}")
    if pca_components is not None and (isinstance(pca_components, bool) or int(pca_components) < 0):
        raise InputError(f"pca_components must be 0 or more, not {pca_components!r}")
    if reduction not in REDUCTIONS:
        raise InputError(f"unknown reduction '{reduction}'; use one of {', '.join(REDUCTIONS)}")
    feedback.progress("read", 0.0, f"opening {raster}")
    with open_raster(raster) as ds:
        info = describe(ds)
        feedback.progress("read", 1.0, "raster opened")
        check_cancelled(feedback)
        preprocessor, selection, _kept, use = _fit_scene(ds, info, pca_components, reduction, bands, drop_bands,
                                                         int(seed), feedback, cache=store_at)
    if use.entry is None or not os.path.isfile(use.entry):
        raise OutputError(f"cannot write the scene cache in {store_at.directory} (is the folder writable?)")
    feedback.message(f"scene cache: {'already held' if use.status == 'hit' else 'stored'}: {use.entry}")
    return PrepareResult(use.status, use.entry, str(store_at.directory), int(info.count),
                         int(selection.keep.sum()), int(preprocessor.out_bands), time.monotonic() - started)
