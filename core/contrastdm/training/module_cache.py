"""Trained modules kept in the scene cache between training runs on the same raster.

Two stages keep a module (:class:`CachedModule`), each under the raster's fingerprint, the preprocessing's
settings and its own settings (:func:`pretrain_settings`, :func:`warm_settings`):

- ``pretrain``: the encoder after label-free contrastive pre-training (``supcon_weight == 0``: SimCLR on the
  scene's label-free patches, no SupCon on the labelled ones). It depends on the scene and the encoder's settings
  only, and draws its random numbers from streams of its own (:func:`contrastdm.training.pretrain.pretrain`), so
  a hit leaves every later stage as a miss would: the model is the same, bit for bit, on the same device. With
  SupCon on, pre-training learns from the labels and is not kept.
- ``warm``: the whole network of the scene's last run with ``warm_start`` on and its class names, which the next
  such run starts from (:mod:`contrastdm.training.warm`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

PRETRAIN, WARM = "pretrain", "warm"
STAGE_VERSION = 1  # raise when a stage computes something else from the same inputs
# The settings that shape the encoder and its pre-training (the rest of LearnerConfig acts after it).
SHAPING = ("patch_size", "feature_dim", "spectral_channels", "spatial_channels", "centre_branch", "dropout",
           "contrastive_epochs", "contrastive_samples_per_epoch", "temperature", "contrastive_learning_rate",
           "weight_decay", "batch_size", "budget", "aug_noise", "aug_scale", "aug_band_drop", "aug_shift", "seed",
           "cpu_precision")


def label_free(cfg, has_unlabelled: bool) -> bool:
    """Whether pre-training learns from the scene's label-free patches only."""
    return cfg.contrastive_epochs > 0 and cfg.supcon_weight == 0 and has_unlabelled


class CachedModule:
    """One stage's module in a SceneCache: ``status`` "hit" after a successful :meth:`load`, "miss" until then."""

    def __init__(self, cache, stage: str, fingerprint: str, settings: dict) -> None:
        self.cache, self.stage, self.fingerprint, self.settings = cache, stage, fingerprint, settings
        self.status = "miss"

    @property
    def entry(self) -> str:
        return str(self.cache.path_for(self.fingerprint, self.stage, self.settings))

    def read(self) -> Optional[tuple[dict, dict]]:
        """``(arrays, record)`` of the entry, or None on a miss."""
        return self.cache.load(self.fingerprint, self.stage, self.settings)

    def load(self, module: torch.nn.Module) -> Optional[dict]:
        """Put the cached weights into ``module``; the entry's record (losses, epochs) or None on a miss."""
        found = self.read()
        if found is None or not put_weights(module, found[0]):
            return None  # a miss, or another module under the same key (other code): trained again, replaced
        self.status = "hit"
        return found[1]

    def store(self, module: torch.nn.Module, record: dict) -> bool:
        arrays = {k: v.detach().to("cpu").numpy() for k, v in module.state_dict().items()}
        return self.cache.store(self.fingerprint, self.stage, self.settings, arrays, record)


def put_weights(module: torch.nn.Module, arrays: dict) -> bool:
    """Load ``arrays`` (name -> numpy array) into ``module`` when they are exactly its weights; False otherwise."""
    own = module.state_dict()
    # Sizes, not shapes: the cache keeps a scalar (a batch-norm counter) as one element.
    if sorted(arrays) != sorted(own) or any(arrays[k].size != v.numel() for k, v in own.items()):
        return False
    module.load_state_dict({k: torch.from_numpy(np.asarray(a).reshape(tuple(own[k].shape))).to(own[k].dtype)
                            for k, a in arrays.items()})
    return True


def _common(preprocess: dict, device: torch.device) -> dict:
    """The device's kind is in every key because a GPU computes other last bits than a CPU."""
    return {"version": STAGE_VERSION, "preprocess": preprocess, "device": device.type,
            "torch": torch.__version__.split("+")[0]}


def pretrain_settings(cfg, preprocess: dict, drawn: int, n_unlabelled: int, device: torch.device) -> dict:
    """What, besides the raster, decides the pre-trained encoder. ``preprocess``: the preprocessing stage's
    settings; ``drawn``: label-free patches drawn over the scene, ``n_unlabelled`` of them valid."""
    return {**_common(preprocess, device), "unlabelled": [int(drawn), int(n_unlabelled)],
            "config": {name: getattr(cfg, name) for name in SHAPING}}


def warm_settings(cfg, preprocess: dict, device: torch.device) -> dict:
    """What a network must share with the run to start it: every learner setting (another setting means a cold
    start). The class names are in the entry's record: with other classes only the encoder carries over."""
    settings = {k: v for k, v in cfg.to_dict().items() if k != "warm_start"}
    return {**_common(preprocess, device), "config": settings}
