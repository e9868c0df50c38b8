"""LearnerConfig.validate(): every setting training cannot use is an InputError, with a message naming it."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from contrastdm.errors import InputError
from contrastdm.model.config import PRESETS, LearnerConfig


def test_presets_and_defaults_are_valid():
    for preset in PRESETS.values():
        assert preset.validate() is preset
    LearnerConfig().validate()


@pytest.mark.parametrize("change, message", [
    (dict(patch_size=10), "patch size must be a positive odd number, not 10"),
    (dict(patch_size=-3), "patch size must be a positive odd number"),
    (dict(spectral_member="sometimes"), "spectral member must be one of auto, on, off"),
    (dict(spectral_weight=1.5), "its weight within 0..1, not 'auto' and 1.5"),
    (dict(smoothing_radius=-1), "smoothing needs a radius of 0 \\(off\\) or more pixels and a positive eps"),
    (dict(smoothing_eps=0.0), "positive eps, not 5 and 0.0"),
    (dict(diffusion_stage="later"), "diffusion_stage must be 'finetuned' or 'pretrained', not 'later'"),
    (dict(diffusion_schedule="square"), "diffusion_schedule must be 'cosine' or 'linear'"),
    (dict(finetune_epochs=-1), "finetune_epochs must be 0 or more, not -1"),
    (dict(contrastive_epochs=-2), "contrastive_epochs must be 0 or more"),
    (dict(head_epochs=-1), "head_epochs must be 0 or more"),
    (dict(learning_rate=0.0), "learning_rate must be above 0, not 0.0"),
    (dict(contrastive_learning_rate=-1e-3), "contrastive_learning_rate must be above 0"),
    (dict(temperature=0.0), "temperature must be above 0"),
    (dict(batch_size=0), "batch_size must be at least 1, not 0"),
    (dict(ddim_steps=0), "ddim_steps must be at least 1"),
    (dict(synthetic_per_class=0), "synthetic_per_class must be at least 1"),
    (dict(validation_fraction=1.0), "validation_fraction must be within \\[0, 1\\), not 1.0"),
    (dict(dropout=1.0), "dropout must be within \\[0, 1\\)"),
    (dict(label_smoothing=-0.1), "label_smoothing must be within \\[0, 1\\)"),
    (dict(refine_strength=1.5), "refine_strength must be within \\[0, 1\\], not 1.5"),
    (dict(pseudo_label_threshold=-0.5), "pseudo_label_threshold must be within \\[0, 1\\]"),
    (dict(weight_decay=-1e-4), "weight_decay must be 0 or more"),
    (dict(seed=-1), "seed must be 0 or more"),
    (dict(batch_size=2.5), "batch_size must be a whole number, not 2.5"),
    (dict(finetune_epochs=True), "finetune_epochs must be a whole number, not True"),
    (dict(learning_rate=math.nan), "learning_rate must be a finite number, not nan"),
    (dict(aug_noise=math.inf), "aug_noise must be a finite number"),
    (dict(guidance="2"), "guidance must be a finite number, not '2'"),
])
def test_invalid_settings_are_input_errors(change, message):
    with pytest.raises(InputError, match=message):
        LearnerConfig().replace(**change).validate()


@pytest.mark.parametrize("change", [
    dict(finetune_epochs=0, contrastive_epochs=0, head_epochs=0, contrastive_samples_per_epoch=0),
    dict(validation_fraction=0.0, dropout=0.0, refine_strength=0.0, smoothing_radius=0),
    dict(refine_strength=1.0, pseudo_label_threshold=1.0, spectral_weight=1.0, spectral_member="off"),
    dict(diffusion_stage="pretrained", diffusion_schedule="linear", patch_size=1),
    dict(batch_size=np.int64(32), learning_rate=np.float32(1e-3), weight_decay=0),
])
def test_boundary_values_are_accepted(change):
    LearnerConfig().replace(**change).validate()


def test_config_modules_import_without_torch():
    code = ("import sys, contrastdm.model.config, contrastdm.model; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
