"""What every training stage works with: settings, device, random streams, the data splits, the network and
the records (history, validation) that ``fit`` returns.

:func:`make_context` checks ``fit``'s inputs and carves the validation split, so the stages never see raw arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch

from .. import distributed
from ..errors import Cancelled, InputError
from ..model.amp import Autocast, autocast_for
from ..model.config import LearnerConfig
from ..model.data import stratified_split
from ..model.network import ContrastDMNet
from . import budget

ProgressFn = Callable[[str, float, str], None]


@dataclass
class _Random:
    """Where a training run's random numbers come from: ``batches`` draws which samples form each global
    batch and must be the same stream on every rank; ``views`` draws the augmentations of this rank's slice."""

    batches: torch.Generator
    views: torch.Generator


def random_streams(seed: int, dev: torch.device) -> _Random:
    """One shared CPU stream on a single CPU process (runs stay reproducible on any machine); on a GPU the
    augmentations draw on the GPU, and under torchrun each rank draws its own."""
    batches = torch.Generator().manual_seed(seed)
    views = distributed.augment_generator(batches, seed)
    if dev.type == "cuda":
        rank = distributed.current().rank
        views = torch.Generator(device=dev).manual_seed(int(seed) + 1_000_003 * (rank + 1))
    return _Random(batches, views)


def cuda_devices(dev: torch.device) -> list[int]:
    """The CUDA device whose random state ``torch.random.fork_rng`` must keep (none off CUDA)."""
    if dev.type != "cuda":
        return []
    return [torch.cuda.current_device() if dev.index is None else dev.index]


class _Stopper:
    """``is_cancelled`` as a callable that is False when absent; ``check()`` raises Cancelled."""

    def __init__(self, is_cancelled: Optional[Callable[[], bool]]) -> None:
        self.is_cancelled = is_cancelled

    def __call__(self) -> bool:
        return bool(self.is_cancelled is not None and self.is_cancelled())

    def check(self) -> None:
        if self():
            raise Cancelled()


def scaled(progress: ProgressFn, start: float, width: float) -> ProgressFn:
    """``progress`` with a run's fractions mapped onto [start, start + width] of its stage."""
    return lambda stage, fraction, message="": progress(stage, start + width * fraction, message)


def _empty_history() -> dict[str, list]:
    return {"contrastive": [], "diffusion": [], "finetune": [], "val_oa": []}


@dataclass
class TrainingContext:
    """One ``fit`` run. The stages read the settings and data from it, train ``net`` in place and add what they
    measured to ``history`` (losses per stage) and ``validation`` (what model selection decided)."""

    cfg: LearnerConfig
    device: torch.device
    rnd: _Random
    autocast: Optional[Autocast]
    progress: ProgressFn
    stop: _Stopper
    x_tr: torch.Tensor  # training split: every label when validation data were given
    y_tr: torch.Tensor
    x_va: torch.Tensor  # validation split: given, carved from the labels, or empty
    y_va: torch.Tensor
    x_all: torch.Tensor  # every labelled patch (what the refit trains on)
    y_all: torch.Tensor
    unlabelled: Optional[torch.Tensor]
    net: ContrastDMNet
    history: dict[str, list] = field(default_factory=_empty_history)
    validation: dict[str, Any] = field(default_factory=dict)
    pretrain_cache: Optional[Any] = None  # a training.pretrain_cache.PretrainCache, for label-free pre-training

    @property
    def pretrained(self) -> bool:
        """Whether contrastive pre-training ran (fine-tuning then scales the encoder's learning rate)."""
        return self.cfg.contrastive_epochs > 0

    @property
    def early_diffusion(self) -> bool:
        """A diffusion model fitted on the pre-trained features, before fine-tuning."""
        return self.net.diffusion is not None and self.cfg.diffusion_stage == "pretrained"

    @property
    def late_diffusion(self) -> bool:
        """A diffusion model fitted on the fine-tuned features, after fine-tuning (and the refit)."""
        return self.net.diffusion is not None and self.cfg.diffusion_stage == "finetuned"

    @property
    def refit(self) -> bool:
        """Whether fine-tuning is replayed on every label: only the carved slice is worth giving back."""
        return self.cfg.refit_all and self.validation["source"] in ("carved", "polygons") and len(self.y_va) > 0


def _to_tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.to(dtype).contiguous()


def _labelled(x_train: Any, y_train: Any, n_classes: Optional[int], patch_size: int):
    """(patches, labels, number of classes) of the training samples, checked."""
    x = _to_tensor(x_train, torch.float32)
    y = _to_tensor(y_train, torch.long)
    if x.dim() != 4 or x.shape[-1] != x.shape[-2]:
        raise InputError(f"training patches must be [N, C, p, p], got {list(x.shape)}")
    if x.shape[-1] != patch_size:
        raise InputError(f"training patches are {x.shape[-1]}x{x.shape[-1]} but patch_size is {patch_size}")
    if len(y) != len(x) or len(y) == 0:
        raise InputError("training patches and labels must be non-empty and of equal length")
    k = int(n_classes) if n_classes is not None else int(y.max()) + 1
    if int(y.min()) < 0 or int(y.max()) >= k:
        raise InputError(f"training labels must lie in 0..{k - 1}")
    return x, y, k


def _unlabelled(unlabeled: Any, x_train: torch.Tensor) -> Optional[torch.Tensor]:
    unl = None if unlabeled is None else _to_tensor(unlabeled, torch.float32)
    if unl is not None and len(unl) == 0:
        return None
    if unl is not None and tuple(unl.shape[1:]) != tuple(x_train.shape[1:]):
        raise InputError(f"unlabelled patches {list(unl.shape[1:])} differ from training patches "
                         f"{list(x_train.shape[1:])}")
    return unl


def _split(cfg: LearnerConfig, x: torch.Tensor, y: torch.Tensor, x_val: Any, y_val: Any, split=None):
    """(x_tr, y_tr, x_va, y_va, validation record): the given validation data; else the caller's ``split``
    (training and validation indices, e.g. whole polygons held out); else a stratified slice of the labels."""
    if x_val is not None and y_val is not None and len(y_val) > 0:
        x_va, y_va = _to_tensor(x_val, torch.float32), _to_tensor(y_val, torch.long)
        return x, y, x_va, y_va, {"source": "given", "n": int(len(y_va))}
    if split is not None:
        tr_idx, va_idx = (torch.as_tensor(np.asarray(i, dtype=np.int64)) for i in split)
        record = {"source": "polygons" if len(va_idx) else "none", "n": int(len(va_idx)),
                  "selection_training_n": int(len(tr_idx))}
        return x[tr_idx], y[tr_idx], x[va_idx], y[va_idx], record
    if not budget.carves_validation(cfg):
        return x, y, x[:0], y[:0], {"source": "none", "n": 0, "why": "the data budget trains once on every label"}
    tr_idx, va_idx = stratified_split(y.numpy(), cfg.validation_fraction, cfg.seed)
    record = {"source": "carved" if len(va_idx) else "none", "n": int(len(va_idx))}
    return x[tr_idx], y[tr_idx], x[va_idx], y[va_idx], record


def make_context(cfg: LearnerConfig, device: torch.device, *, unlabeled: Any, x_train: Any, y_train: Any,
                 x_val: Any = None, y_val: Any = None, n_classes: Optional[int] = None,
                 progress: Optional[ProgressFn] = None,
                 is_cancelled: Optional[Callable[[], bool]] = None, split=None,
                 pretrain_cache=None) -> TrainingContext:
    """Check ``fit``'s inputs (InputError), carve the validation split and build the network.

    The network's initial weights come from torch's global stream: seed it first (``fit`` does, inside a fork)."""
    x_all, y_all, k = _labelled(x_train, y_train, n_classes, cfg.patch_size)
    unl = _unlabelled(unlabeled, x_all)
    x_tr, y_tr, x_va, y_va, validation = _split(cfg, x_all, y_all, x_val, y_val, split)
    rnd = random_streams(cfg.seed, device)
    net = ContrastDMNet(x_all.shape[1], k, cfg).to(device)
    return TrainingContext(
        cfg=cfg, device=device, rnd=rnd, autocast=autocast_for(device, cfg.cpu_precision),
        progress=progress or (lambda stage, fraction, message="": None), stop=_Stopper(is_cancelled),
        x_tr=x_tr, y_tr=y_tr, x_va=x_va, y_va=y_va, x_all=x_all, y_all=y_all, unlabelled=unl, net=net,
        validation=validation, pretrain_cache=pretrain_cache,
    )
