"""Label-free contrastive pre-training kept in the scene cache, so the next training on the same raster skips it.

Pre-training is label-free when it learns from the scene's label-free patches alone (``supcon_weight == 0``:
SimCLR without SupCon on the labelled patches). It then depends only on the raster, the preprocessing, the
label-free sample and the encoder's settings, so an analyst who edits polygons and trains again finds it in the
:class:`~contrastdm.cache.SceneCache` (stage :data:`STAGE`). It draws its random numbers from streams of its own
(:func:`contrastdm.training.pretrain.pretrain`), so a hit leaves every later stage as a miss would: the model is
the same, bit for bit, on the same device. With SupCon on, pre-training learns from the labels and is not kept.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

STAGE = "pretrain"
STAGE_VERSION = 1  # raise when the stage computes something else from the same inputs
# The settings that shape the encoder and its pre-training (the rest of LearnerConfig acts after it).
SHAPING = ("patch_size", "feature_dim", "spectral_channels", "spatial_channels", "centre_branch", "dropout",
           "contrastive_epochs", "contrastive_samples_per_epoch", "temperature", "contrastive_learning_rate",
           "weight_decay", "batch_size", "budget", "aug_noise", "aug_scale", "aug_band_drop", "aug_shift", "seed")


def label_free(cfg, has_unlabelled: bool) -> bool:
    """Whether pre-training learns from the scene's label-free patches only."""
    return cfg.contrastive_epochs > 0 and cfg.supcon_weight == 0 and has_unlabelled


class PretrainCache:
    """The pre-trained encoder of one scene in a SceneCache: ``status`` "hit" after a successful :meth:`load`,
    "miss" until then."""

    def __init__(self, cache, fingerprint: str, settings: dict) -> None:
        self.cache, self.fingerprint, self.settings = cache, fingerprint, settings
        self.status = "miss"

    @property
    def entry(self) -> str:
        return str(self.cache.path_for(self.fingerprint, STAGE, self.settings))

    def load(self, encoder: torch.nn.Module) -> Optional[dict]:
        """Put the cached weights into ``encoder``; the stage's record (losses, epochs) or None on a miss."""
        found = self.cache.load(self.fingerprint, STAGE, self.settings)
        if found is None:
            return None
        arrays, meta = found
        own = encoder.state_dict()
        # Sizes, not shapes: the cache keeps a scalar (a batch-norm counter) as one element.
        if sorted(arrays) != sorted(own) or any(arrays[k].size != v.numel() for k, v in own.items()):
            return None  # another encoder under the same key (written by other code): trained again, replaced
        encoder.load_state_dict({k: torch.from_numpy(np.asarray(a).reshape(tuple(own[k].shape))).to(own[k].dtype)
                                 for k, a in arrays.items()})
        self.status = "hit"
        return meta

    def store(self, encoder: torch.nn.Module, record: dict) -> bool:
        arrays = {k: v.detach().to("cpu").numpy() for k, v in encoder.state_dict().items()}
        return self.cache.store(self.fingerprint, STAGE, self.settings, arrays, record)


def settings(cfg, preprocess: dict, drawn: int, n_unlabelled: int, device: torch.device) -> dict:
    """What, besides the raster, decides the pre-trained encoder: the entry's key. ``preprocess``: the
    preprocessing stage's settings; ``drawn``: label-free patches drawn over the scene, ``n_unlabelled`` of them
    valid. The device's kind is in it because a GPU computes other last bits than a CPU."""
    return {"version": STAGE_VERSION, "preprocess": preprocess, "unlabelled": [int(drawn), int(n_unlabelled)],
            "device": device.type, "torch": torch.__version__.split("+")[0],
            "config": {name: getattr(cfg, name) for name in SHAPING}}
