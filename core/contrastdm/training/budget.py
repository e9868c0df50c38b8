"""Schedules fitted to the data (``LearnerConfig.budget == "data"``).

Fixed budgets cost the most on small scenes with few labels, for no measured gain:
- contrastive pre-training draws ``contrastive_samples_per_epoch`` patches for ``contrastive_epochs`` epochs, so a
  scene with fewer label-free patches than that total sees each of them several times; here it sees each about
  once (at least one epoch, at most the configured ones);
- epoch selection on a slice carved from the training polygons' own pixels reads near 100% early on and
  chose the last epoch in 28 of the benchmark's 31 default runs, after which the refit replays the whole
  schedule on every label; here training runs that schedule once, on every label. Held-out polygons or a
  given validation set still choose the epoch, since they can tell epochs apart;
- a fine-tuning epoch is at least ``min_steps_per_epoch`` batches however few the labels, so 150 labelled pixels
  were drawn about 700 times each; here an epoch is one pass over the labels;
- the diffusion model runs ``diffusion_steps`` steps however few features it learns from; here it makes about
  ``DIFFUSION_PASSES`` passes over them (at most the configured steps).
On a 100 x 100 px scene with 146 labelled pixels the last two took training from 90-100 s to about 60 s
(1 thread) with OA not lower on any of 3 seeds (benchmarks/small).
"""

from __future__ import annotations

import math

from ..model.config import LearnerConfig

DIFFUSION_PASSES = 25  # passes over the diffusion model's training features under the data budget
DIFFUSION_BATCH = 256  # features per diffusion step (``contrastdm.training.synthesis``)


def contrastive_epochs(cfg: LearnerConfig, n_unlabelled: int) -> int:
    """The epochs of contrastive pre-training over ``n_unlabelled`` label-free patches."""
    if cfg.budget != "data" or cfg.contrastive_epochs <= 0 or cfg.contrastive_samples_per_epoch <= 0:
        return cfg.contrastive_epochs
    passes = round(n_unlabelled / cfg.contrastive_samples_per_epoch)
    return max(1, min(cfg.contrastive_epochs, passes))


def carves_validation(cfg: LearnerConfig) -> bool:
    """Whether the labels give up a slice to choose the fine-tuning epoch on when no validation is given."""
    return cfg.budget != "data"


def steps_per_epoch(cfg: LearnerConfig, n_labels: int, batch_size: int) -> int:
    """Optimiser steps in one fine-tuning epoch over ``n_labels`` samples drawn ``batch_size`` at a time."""
    one_pass = math.ceil(n_labels / batch_size)
    return max(1, one_pass) if cfg.budget == "data" else max(cfg.min_steps_per_epoch, one_pass)


def diffusion_steps(cfg: LearnerConfig, n_features: int) -> int:
    """Optimiser steps of the diffusion model on ``n_features`` training features (labelled and unlabelled)."""
    if cfg.budget != "data":
        return cfg.diffusion_steps
    return max(1, min(cfg.diffusion_steps, round(DIFFUSION_PASSES * n_features / DIFFUSION_BATCH)))
