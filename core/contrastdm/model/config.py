"""Training configuration of ContrastDM and its presets (JSON round-trippable)."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional, Union

from ..choices import BUDGETS, DEFAULT_PRECISION, PRECISIONS, SPECTRAL_MEMBER
from ..errors import InputError

# What a configuration written before a field existed meant by it: model files and benchmark records predate some
# fields, and a missing field reads as the behaviour of its time, not as today's default (which may have moved).
IMPLIED_WHEN_MISSING: dict[str, Any] = {"centre_branch": False, "spectral_member": "off", "budget": "fixed",
                                        "warm_start": False, "smoothing_from_scene": False, "member_from_scene": False,
                                        "shift_from_scene": False}

DIFFUSION_STAGES = ("finetuned", "pretrained")
DIFFUSION_SCHEDULES = ("cosine", "linear")
# How training carves the slice that chooses the epoch: random labelled pixels, or whole polygons held out
# (with their patch halo), which is what a map faces on the polygons nobody drew.
VALIDATION_SPLITS = ("pixels", "polygons")
HELD_OUT_SETTINGS = ("radius,weight", "radius")
# The ranges of the numeric settings that validate() does not word itself.
_AT_LEAST_ONE = ("feature_dim", "spectral_channels", "spatial_channels", "head_hidden", "diffusion_timesteps",
                 "diffusion_steps", "diffusion_hidden", "diffusion_views", "ddim_steps", "synthetic_per_class",
                 "batch_size", "pseudo_label_pool", "spectral_epochs")
_NOT_NEGATIVE = ("contrastive_epochs", "contrastive_samples_per_epoch", "supcon_weight", "diffusion_blocks",
                 "diffusion_unlabeled", "guidance", "synthetic_weight", "diffusion_reg_weight", "head_epochs",
                 "finetune_epochs", "min_steps_per_epoch", "encoder_lr_scale", "weight_decay", "class_balance",
                 "pseudo_label_per_class", "pseudo_label_rounds", "aug_noise", "aug_scale", "aug_shift", "seed")
_POSITIVE = ("temperature", "contrastive_learning_rate", "learning_rate")
_FRACTIONS = ("dropout", "cond_dropout", "label_smoothing", "validation_fraction", "aug_band_drop")  # [0, 1)
_UNIT_RANGE = ("refine_strength", "pseudo_label_threshold", "pseudo_label_start")  # [0, 1]


@dataclass
class LearnerConfig:
    # -- data / architecture (these also fix the network's shape) ---------------------------------
    patch_size: int = 11
    feature_dim: int = 128
    spectral_channels: int = 8  # first 3D conv; the second has twice as many
    spatial_channels: int = 64
    centre_branch: bool = False  # the centre pixel's spectrum through its own per-pixel MLP, fused with the window's
    head_hidden: int = 128
    dropout: float = 0.2
    # How long the stages train: "fixed" (the epochs and steps below) or "data" (pre-training sees each label-free
    # patch about once, and fine-tuning trains once on every label instead of choosing its epoch on a slice of the
    # training polygons' own pixels, which cannot tell epochs apart); see ``contrastdm.training.budget``.
    budget: str = "fixed"
    # Start from the last network trained on the same raster with these settings and classes (kept in the scene
    # cache) and run a fifth of the schedule: retraining in the analyst's loop; ``contrastdm.training.warm``.
    warm_start: bool = False
    # -- contrastive pre-training (SimCLR on unlabelled + SupCon on labelled patches) -------------
    contrastive_epochs: int = 4
    contrastive_samples_per_epoch: int = 8192  # 0 = the whole unlabelled set each epoch
    supcon_weight: float = 1.0
    temperature: float = 0.2
    contrastive_learning_rate: float = 1e-3
    # -- feature diffusion -------------------------------------------------------------------------
    diffusion_steps: int = 1000  # optimiser steps
    diffusion_timesteps: int = 1000
    diffusion_schedule: str = "cosine"
    diffusion_hidden: int = 256
    diffusion_blocks: int = 3
    diffusion_views: int = 8  # augmented views per labelled patch used as diffusion training features
    diffusion_unlabeled: int = 4096  # unlabelled features that train the null (unconditional) class
    cond_dropout: float = 0.15
    ddim_steps: int = 50
    guidance: float = 2.0
    synthetic: bool = True
    synthetic_per_class: int = 128
    synthetic_weight: float = 0.5
    diffusion_reg_weight: float = 0.0  # only with diffusion_stage "pretrained" (a model fitted before fine-tuning)
    # Where the diffusion model learns its features: "finetuned" (after fine-tuning: synthetic features and
    # refinement live in the space the head classifies; the head is then retrained on real + synthetic
    # features with the encoder frozen) or "pretrained" (contrastive features, synthetic features mixed
    # into fine-tuning while the encoder still moves away from them).
    diffusion_stage: str = "finetuned"
    head_epochs: int = 30  # head retraining on real + synthetic features (diffusion_stage "finetuned")
    refine: bool = False
    refine_strength: float = 0.2  # set to 0 by fit() when validation says refinement does not help
    # -- supervised fine-tuning --------------------------------------------------------------------
    finetune_epochs: int = 100
    min_steps_per_epoch: int = 8
    batch_size: int = 128
    learning_rate: float = 2e-3
    encoder_lr_scale: float = 1.0  # encoder learning rate relative to the head's after pre-training
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    # Real patches are drawn with probability ~ n_class ** -class_balance (0: uniform, 1: equal per class), so a class
    # with a handful of pixels is not drowned out by classes with hundreds.
    class_balance: float = 0.5
    # Self-training on unlabelled pixels (only in the semi-supervised configurations, i.e. never
    # when contrastive_epochs == 0 and synthetic and refine are both off): confident predictions on
    # a pool of unlabelled patches become extra training samples, refreshed a few times.
    pseudo_label_per_class: int = 0
    pseudo_label_threshold: float = 0.9
    pseudo_label_pool: int = 8192
    pseudo_label_start: float = 0.3  # fraction of fine-tuning epochs before the first round
    pseudo_label_rounds: int = 3
    validation_fraction: float = 0.2
    validation_split: str = "pixels"  # see VALIDATION_SPLITS
    # With held-out polygons: also choose the smoothing radius and the spectral member's weight on them
    # (``contrastdm.heldout``). Off by default: on Indian Pines' blocks (seed 0) it chose radius 3 and no member,
    # and lost 8.5 OA points against the configured settings, since held-out polygons lie nearer the training
    # polygons than most of the scene does.
    choose_on_held_out: bool = False
    held_out_settings: str = "radius,weight"  # what it chooses: "radius,weight", or "radius" (member by the rule)
    # Choose the patch size among 5, 7, 11 and patch_size by short supervised probes scored on held-out polygons
    # (``contrastdm.patch_choice``); patch_size is kept where they do not clearly disagree.
    choose_patch_size: bool = False
    # After model selection on a carved validation slice, train again on every labelled sample for the
    # selected number of epochs (the slice is ~20% of the labels: too many to leave out when labels are scarce).
    refit_all: bool = True
    # -- classification --------------------------------------------------------------------------
    # Edge-preserving smoothing of the class probabilities (guided filter, ``contrastdm.spatial``): window
    # radius in pixels (0 = off) and the guide variance, in units of the components' own, below which a
    # window counts as flat.
    smoothing_radius: int = 5
    smoothing_eps: float = 0.25
    # Lower smoothing_radius to the scene's spatial scale: the distance up to which neighbouring pixels stay
    # alike, measured on the label-free patches (``contrastdm.scene_scale``); training saves the radius used.
    # On by default: a fixed 11 px window erased the objects of a 30 m town (urban-sim, -12 OA) and the rule keeps
    # the full window on Indian Pines and farmland, where it helps. False keeps smoothing_radius as it is.
    smoothing_from_scene: bool = True
    # The spectral member (``contrastdm.model.spectral``): a per-pixel MLP on standardised bands whose probabilities
    # are averaged in with this weight before smoothing. "auto": only where the training pixels form areas
    # (polygons, rectangles), not scattered points; training saves the resolved "on" or "off".
    spectral_member: str = "auto"
    spectral_weight: float = 0.5
    # Raise the member's weight to 0.75 where the scene's objects are smaller than the smoothing window (the scale
    # measured for smoothing_from_scene calls for a narrower one): the network's patch then sees other objects
    # and the spectra should lead (urban-sim: +3.80 OA and +3.66 AA over 0.5, 5 of 5 seeds); where the objects
    # fill the window the network is sound and 0.75 cost 2.4-2.5 AA (Indian Pines, fields-sim), so 0.5 stays.
    member_from_scene: bool = True
    # Turn off the one-pixel patch shift among the augmentations (aug_shift) on the same scenes: a patch of a 1-2 px
    # object shifted by a pixel is centred on another object under the first one's label (urban-sim: the network
    # alone +8 to +9 OA, the map +0.29 to +0.79 on seeds 0-4). Where objects fill the window the shift stays:
    # without it Indian Pines' blocks lost 0.95 OA on seeds 0-2.
    shift_from_scene: bool = True
    spectral_epochs: int = 200  # the spectral member's training schedule (its epoch chosen on a carved slice)
    # -- augmentation ------------------------------------------------------------------------------
    aug_noise: float = 0.05
    aug_scale: float = 0.1
    aug_band_drop: float = 0.1
    aug_shift: int = 1
    seed: int = 0
    # Training's compute precision on the CPU (choices.PRECISIONS); CUDA trains in mixed precision whatever it says.
    cpu_precision: str = DEFAULT_PRECISION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnerConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown LearnerConfig field(s): {', '.join(unknown)}")
        defaults = cls()
        values = {name: value for name, value in IMPLIED_WHEN_MISSING.items() if name not in data}
        for name, value in data.items():
            kind = type(getattr(defaults, name))
            values[name] = kind(value) if kind in (int, float, bool, str) and value is not None else value
        return cls(**values)

    def replace(self, **changes: Any) -> LearnerConfig:
        return dataclasses.replace(self, **changes)

    def validate(self) -> LearnerConfig:
        """Raise InputError for the first setting training cannot use; returns the config itself when all are fine."""
        self._check_numbers()
        if self.patch_size < 1 or self.patch_size % 2 == 0:
            raise InputError(f"patch size must be a positive odd number, not {self.patch_size}")
        if self.spectral_member not in SPECTRAL_MEMBER or not 0.0 <= self.spectral_weight <= 1.0:
            raise InputError(f"spectral member must be one of {', '.join(SPECTRAL_MEMBER)} and its weight within "
                             f"0..1, not {self.spectral_member!r} and {self.spectral_weight}")
        if self.smoothing_radius < 0 or not self.smoothing_eps > 0:
            raise InputError(f"smoothing needs a radius of 0 (off) or more pixels and a positive eps, not "
                             f"{self.smoothing_radius} and {self.smoothing_eps}")
        if self.diffusion_stage not in DIFFUSION_STAGES:
            raise InputError(f"diffusion_stage must be 'finetuned' or 'pretrained', not {self.diffusion_stage!r}")
        if self.validation_split not in VALIDATION_SPLITS:
            raise InputError(f"validation_split must be one of {', '.join(VALIDATION_SPLITS)}, not "
                             f"{self.validation_split!r}")
        if self.held_out_settings not in HELD_OUT_SETTINGS:
            raise InputError(f"held_out_settings must be one of {', '.join(HELD_OUT_SETTINGS)}, not "
                             f"{self.held_out_settings!r}")
        if self.cpu_precision not in PRECISIONS:
            raise InputError(f"cpu_precision must be one of {', '.join(PRECISIONS)}, not {self.cpu_precision!r}")
        if self.budget not in BUDGETS:
            raise InputError(f"budget must be one of {', '.join(BUDGETS)}, not {self.budget!r}")
        if self.warm_start and self.choose_on_held_out:
            raise InputError("warm_start trains on every label at once: it cannot choose settings on held-out "
                             "polygons (choose_on_held_out)")
        if self.warm_start and self.choose_patch_size:
            raise InputError("warm_start keeps the patch size of the network it starts from: it cannot choose one "
                             "(choose_patch_size)")
        if self.choose_on_held_out and self.validation_split != "polygons":
            raise InputError("choose_on_held_out needs validation_split='polygons' (held-out polygons to choose on)")
        if self.diffusion_schedule not in DIFFUSION_SCHEDULES:
            raise InputError(f"diffusion_schedule must be 'cosine' or 'linear', not {self.diffusion_schedule!r}")
        ranges = ((_AT_LEAST_ONE, lambda v: v >= 1, "at least 1"), (_NOT_NEGATIVE, lambda v: v >= 0, "0 or more"),
                  (_POSITIVE, lambda v: v > 0, "above 0"), (_FRACTIONS, lambda v: 0 <= v < 1, "within [0, 1)"),
                  (_UNIT_RANGE, lambda v: 0 <= v <= 1, "within [0, 1]"))
        for names, ok, wanted in ranges:
            for name in names:
                if not ok(getattr(self, name)):  # written so that NaN fails too
                    raise InputError(f"{name} must be {wanted}, not {getattr(self, name)!r}")
        return self

    def _check_numbers(self) -> None:
        """Whole numbers where the default is one, finite numbers where it is a float (bools are neither)."""
        defaults = LearnerConfig()
        for f in fields(self):
            kind, value = type(getattr(defaults, f.name)), getattr(self, f.name)
            if kind is int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise InputError(f"{f.name} must be a whole number, not {value!r}")
            if kind is float and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not math.isfinite(value)):
                raise InputError(f"{f.name} must be a finite number, not {value!r}")


PRESETS: dict[str, LearnerConfig] = {
    "fast": LearnerConfig(
        contrastive_epochs=1, diffusion_steps=500, diffusion_views=4, synthetic_per_class=64, ddim_steps=25,
        finetune_epochs=40,
    ),
    # No preset with longer schedules: three times the pre-training and the diffusion steps and 1.5 times the
    # fine-tuning ("best" until measured) gained 0.74 OA on Indian Pines' shot-10 but lost 0.32 OA and 3.2 AA on
    # its blocks (seeds 0-2) at 2-3 times the training time (benchmarks/README.md, the presets).
    "balanced": LearnerConfig(),
}
DEFAULT_PRESET = "balanced"


def as_config(config: Optional[Union[LearnerConfig, Mapping[str, Any], str]]) -> LearnerConfig:
    """None -> the balanced preset; a preset name; a dict (from JSON); or a LearnerConfig."""
    if config is None:
        return dataclasses.replace(PRESETS[DEFAULT_PRESET])
    if isinstance(config, LearnerConfig):
        return dataclasses.replace(config)
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; choose one of {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[config])
    return LearnerConfig.from_dict(config)
