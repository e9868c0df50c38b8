"""Method definitions: the ablations map onto LearnerConfig as documented; SSFTT's shapes; scene loaders."""

import numpy as np
import pytest
import torch

from contrastdm_bench.methods import METHODS, QUICK_LEARNER, Task, default_learner_config, make_method
from contrastdm_bench.ssftt import SSFTT


def _config(name, quick=False):
    task = Task(features=type("F", (), {"patch_size": 9})(), train=np.arange(3), y_train=np.arange(3), n_classes=3,
                seed=5, device=torch.device("cpu"), quick=quick)
    return make_method(name).config(task)


def test_ablations_map_onto_the_learner_config():
    base = default_learner_config()
    cnn = _config("cnn")
    assert cnn.contrastive_epochs == 0 and not cnn.synthetic and not cnn.refine
    assert cnn.smoothing_radius == base.smoothing_radius > 0  # the same classification step as ContrastDM
    head = _config("cdm-head")
    assert head.contrastive_epochs > 0 and not head.synthetic and not head.refine and head.encoder_lr_scale <= 0.1
    nosynth = _config("cdm-nosynth")
    assert nosynth.contrastive_epochs > 0 and not nosynth.synthetic and not nosynth.refine
    early = _config("cdm-early")
    assert early.synthetic and early.diffusion_stage == "pretrained" and base.diffusion_stage == "finetuned"
    refine = _config("cdm-refine")
    assert refine.synthetic and refine.refine and not refine.refit_all
    centre = _config("cdm-centre")
    assert centre.centre_branch and centre.replace(centre_branch=base.centre_branch, patch_size=base.patch_size,
                                                   seed=base.seed, spectral_member=base.spectral_member) == base
    # Every variant but the default leaves the engine's spectral member out; cdm-spectral switches it on, always.
    assert base.spectral_member == "auto"
    assert {_config(n).spectral_member for n in METHODS
            if (n.startswith("cdm-") and n not in ("cdm-spectral", "cdm-polygons", "cdm-choice", "cdm-radius", "cdm-patch",
                                                   "cdm-scale", "cdm-auto", "cdm-pre4x", "cdm-pre16x", "cdm-budget", "cdm-scene", "cdm-mnf",
                                                   "cdm-noshift", "cdm-bf16"))
                or n == "cnn"} == {"off"}
    assert _config("cdm-polygons") == base.replace(patch_size=9, seed=5, validation_split="polygons")
    assert _config("cdm-choice") == _config("cdm-polygons").replace(choose_on_held_out=True)
    assert _config("cdm-patch") == base.replace(patch_size=9, seed=5, choose_patch_size=True)
    assert _config("cdm-scale") == base.replace(patch_size=9, seed=5, smoothing_from_scene=True)
    assert _config("cdm-auto") == _config("cdm-scale").replace(choose_patch_size=True)
    for factor in (4, 16):
        assert _config(f"cdm-pre{factor}x") == base.replace(patch_size=9, seed=5,
                                                            contrastive_epochs=factor * base.contrastive_epochs)
    assert _config("cdm-radius") == _config("cdm-choice").replace(held_out_settings="radius")
    assert _config("cdm-budget") == base.replace(patch_size=9, seed=5, budget="data")
    assert _config("cdm-scene") == _config("cdm-budget").replace(supcon_weight=0.0)
    assert _config("cdm-mnf") == _config("contrastdm") and make_method("cdm-mnf").train_options == {"reduction": "mnf"}
    assert _config("cdm-noshift") == base.replace(patch_size=9, seed=5, aug_shift=0)
    assert _config("cdm-bf16") == base.replace(patch_size=9, seed=5, cpu_precision="bfloat16")
    spectral = _config("cdm-spectral")
    assert spectral.spectral_member == "on"
    assert spectral.replace(patch_size=base.patch_size, seed=base.seed, spectral_member="auto") == base
    full = _config("contrastdm")
    assert full.replace(patch_size=base.patch_size, seed=base.seed) == base
    assert full.patch_size == 9 and full.seed == 5
    quick = _config("contrastdm", quick=True)
    assert quick.contrastive_epochs == 1 and quick.finetune_epochs == QUICK_LEARNER["finetune_epochs"]
    assert quick.spectral_epochs == QUICK_LEARNER["spectral_epochs"] < base.spectral_epochs
    assert _config("cnn", quick=True).contrastive_epochs == 0  # quick mode never switches a stage on
    from contrastdm.model.config import PRESETS

    # a preset as a method: the preset itself, on the run's patch and seed
    assert _config("preset-fast") == PRESETS["fast"].replace(patch_size=9, seed=5)
    assert _config("preset-best") == base.replace(patch_size=9, seed=5, contrastive_epochs=12, diffusion_steps=3000,
                                                  synthetic_per_class=256, finetune_epochs=150)
    assert "best" not in PRESETS


def test_every_listed_method_is_built():
    assert list(METHODS) == ["svm", "rf", "mlp1d", "cnn", "ssftt", "cdm-head", "cdm-nosynth", "cdm-early",
                             "cdm-refine", "cdm-centre", "cdm-spectral", "contrastdm", "cdm-polygons", "cdm-choice",
                             "cdm-radius", "cdm-patch", "cdm-scale", "cdm-auto", "cdm-pre4x", "cdm-pre16x", "cdm-budget", "cdm-scene", "cdm-mnf",
                             "cdm-noshift", "cdm-bf16", "preset-fast",
                             "preset-best"]
    for name in METHODS:
        assert make_method(name).name == name


def test_ssftt_shapes_and_tokenizer():
    torch.manual_seed(0)
    model = SSFTT(in_bands=10, patch_size=7, n_classes=5).eval()
    x = torch.randn(4, 10, 7, 7)
    assert model(x).shape == (4, 5)
    assert model.features(x).shape == (4, 64)
    tokens = model.tokenizer(torch.randn(2, 9, 64))
    assert tokens.shape == (2, 4, 64)  # four semantic tokens
    with pytest.raises(ValueError):
        SSFTT(10, 3, 5)


def test_mat_scene_loader(tmp_path):
    from scipy.io import savemat

    from contrastdm.errors import InputError
    from contrastdm_bench.data import load_scene

    cube = np.random.default_rng(0).integers(0, 4000, size=(6, 5, 103)).astype(np.uint16)
    gt = np.zeros((6, 5), dtype=np.uint8)
    gt[1:3, 1:4] = 2
    savemat(tmp_path / "PaviaU.mat", {"paviaU": cube})
    savemat(tmp_path / "PaviaU_gt.mat", {"paviaU_gt": gt})
    scene = load_scene("pavia-university", tmp_path)
    assert scene.cube.shape == (6, 5, 103) and scene.gt.shape == (6, 5) and len(scene.class_names) == 9
    with pytest.raises(InputError, match="Salinas_corrected.mat"):
        load_scene("salinas", tmp_path)
    with pytest.raises(InputError, match="data-dir"):
        load_scene("salinas")
