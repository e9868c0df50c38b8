"""``fit``: contrastive pre-training -> (feature diffusion) -> supervised fine-tuning -> (refit) -> (feature
diffusion), each stage in its own module of this package, all sharing one :class:`TrainingContext`.

Model selection (best epoch, whether refinement and the retrained head help) uses only the validation split;
when none is given, a stratified slice is carved from the training samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

import torch

from .. import distributed
from ..device import resolve_device
from ..model.config import LearnerConfig, as_config
from ..model.network import ContrastDMNet
from . import finetune, pseudo, refinement, synthesis
from .clock import StageClock
from .context import ProgressFn, cuda_devices, make_context
from .pretrain import pretrain
from .warm import begin as begin_warm


@dataclass
class FitResult:
    network: ContrastDMNet  # in eval mode, on the training device; network.config is the effective config
    history: dict = field(default_factory=dict)  # per-stage loss lists (+ "val_oa" per fine-tuning epoch)
    validation: dict = field(default_factory=dict)  # split source/size, best epoch, OA, refinement choice
    stage_seconds: dict = field(default_factory=dict)  # wall-clock seconds per stage

    @property
    def config(self) -> LearnerConfig:
        return self.network.config


def fit(
    unlabeled: Any,
    x_train: Any,
    y_train: Any,
    x_val: Any = None,
    y_val: Any = None,
    n_classes: Optional[int] = None,
    config: Optional[Union[LearnerConfig, Mapping[str, Any], str]] = None,
    device: Union[str, torch.device, None] = "auto",
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
    split=None,
    on_selected: Optional[Callable[[ContrastDMNet], None]] = None,
    pretrain_cache=None,
    warm=None,
) -> FitResult:
    """Train a ContrastDM network.

    unlabeled: [M, C, p, p] float patches (may be None or empty); x_train: [N, C, p, p]; y_train: [N]
    int labels in 0..K-1; x_val/y_val: optional validation patches (None: carve a stratified slice of
    the training samples, or ``split``: the caller's (training, validation) indices into x_train, e.g. whole
    polygons held out). ``on_selected(network)`` is called with the network chosen on the validation split, before
    the refit on every label replaces it (settings chosen on held-out data). ``pretrain_cache``: a
    :class:`~contrastdm.training.module_cache.CachedModule` that keeps label-free pre-training; ``warm``: a
    :class:`~contrastdm.training.warm.WarmStart`, the network to start from. progress(stage, fraction, message)
    with stages "contrastive",
    "diffusion", "finetune"; is_cancelled() is polled every batch and raises Cancelled.
    """
    cfg = as_config(config)
    cfg.validate()
    dev = distributed.setup(resolve_device(device))
    # fork_rng: seeding must not disturb the caller's global random state.
    with torch.random.fork_rng(devices=cuda_devices(dev)):
        torch.manual_seed(cfg.seed)
        ctx = make_context(cfg, dev, unlabeled=unlabeled, x_train=x_train, y_train=y_train, x_val=x_val,
                           y_val=y_val, n_classes=n_classes, progress=progress, is_cancelled=is_cancelled,
                           split=split, pretrain_cache=pretrain_cache)
        clock = StageClock(dev)
        carried = warm.load(ctx.net) if warm is not None else None
        if carried is not None:
            begin_warm(ctx, warm.entry.entry, carried)
        else:
            with clock("contrastive"):
                pretrain(ctx)
        synthetic = None
        if ctx.early_diffusion:
            with clock("diffusion"):
                synthetic = synthesis.fit_on_pretrained(ctx)
        with clock("finetune"):
            pool = pseudo.draw_pool(ctx)
            selected = finetune.select_epoch(ctx, synthetic=synthetic, pool=pool)
        if cfg.refine and ctx.early_diffusion:
            with clock("refinement"):
                refinement.choose(ctx)  # before the refit trains on the validation slice
        if on_selected is not None:
            with clock("held_out_choice"):
                on_selected(ctx.net)
        if ctx.refit:
            with clock("refit"):
                finetune.refit(ctx, selected, synthetic=synthetic, pool=pool)
        if ctx.late_diffusion:
            with clock("diffusion"):
                synthesis.fit_on_finetuned(ctx)
            if cfg.refine:
                with clock("refinement"):
                    refinement.choose(ctx, after_refit=ctx.refit)
        ctx.net.eval()
    return FitResult(network=ctx.net, history=ctx.history, validation=ctx.validation,
                     stage_seconds=clock.rounded())
