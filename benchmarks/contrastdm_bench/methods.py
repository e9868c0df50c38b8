"""The compared methods behind one interface: ``fit(task) -> info``, ``predict(task) -> labels of every pixel``.

Every method sees only the training pixels' labels (``task.train`` / ``task.y_train``); whatever needs
validation data (hyper-parameters, best epoch) carves it from those pixels. Label-free inputs (the
standardised spectra, the PCA patches, unlabelled patches of the scene) are shared by all methods.

ContrastDM and its ablations are settings of :class:`contrastdm.model.LearnerConfig` relative to the engine's
default preset, trained with :func:`contrastdm.train` and applied with :func:`contrastdm.classify` on the
scene's GeoTIFF and the training pixels written as polygons (:mod:`.files`): the figures are the product's.

- ``cnn``: the same encoder trained purely supervised (``contrastive_epochs=0, synthetic=False, refine=False``);
- ``cdm-head``: contrastive pre-training, then the head with a minimal encoder fine-tune
  (``synthetic=False, refine=False, encoder_lr_scale=0.1``), no diffusion model;
- ``cdm-nosynth``: contrastive pre-training and a full fine-tune, no diffusion model (``synthetic=False``): the
  default minus its diffusion stage;
- ``cdm-early``: the diffusion model fitted on the pre-trained features and its synthetic features mixed into
  fine-tuning (``diffusion_stage="pretrained"``), instead of fitted on the fine-tuned features;
- ``cdm-refine``: the default + diffusion refinement of features at inference (``refine=True``); refinement is
  judged on the validation slice, so this variant keeps the slice out of training (``refit_all=False``);
- ``cdm-centre``: the default + the encoder's centre-pixel spectral branch (``centre_branch=True``);
- ``cdm-spectral``: the default with the engine's spectral member always on (``spectral_member="on"``),
  whatever the layout of the training pixels;
- ``contrastdm``: the default configuration, unchanged (its spectral member is on only where the training pixels
  form areas, :mod:`contrastdm.model.spectral`);
- ``cdm-budget``: the default with schedules fitted to the data (``budget="data"``,
  :mod:`contrastdm.training.budget`);
- ``cdm-scene``: ``cdm-budget`` with label-free pre-training (``supcon_weight=0``), which the scene cache keeps
  (:mod:`contrastdm.training.module_cache`);
- ``cdm-mnf``: the default with the minimum noise fraction instead of PCA (``train(reduction="mnf")``);
- ``cdm-scale``: the smoothing radius lowered to the scene's spatial scale (``smoothing_from_scene``,
  :mod:`contrastdm.scene_scale`), measured as a variant before it became the default, so now the same
  configuration as ``contrastdm``; ``cdm-auto``: that and ``cdm-patch`` together.

The other ablation variants (``cnn`` to ``cdm-centre``) leave the spectral member out (``spectral_member="off"``): each isolates one step
of the network, and the ladder compares them with the default's map without its member (``contrastdm:unfused``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from contrastdm.spatial import smooth_probabilities

from .data import Features

# Quick mode: reduced epochs for a smoke run of the whole harness in minutes on a small CPU.
QUICK_LEARNER = dict(contrastive_samples_per_epoch=4096, diffusion_steps=300, diffusion_views=2,
                     diffusion_unlabeled=2048, synthetic_per_class=64, ddim_steps=10, finetune_epochs=20,
                     pseudo_label_pool=4096, spectral_epochs=60)


@dataclass
class Task:
    """What a method may use: label-free features of the whole scene and the training pixels' labels."""

    features: Features
    train: np.ndarray  # flat pixel indices
    y_train: np.ndarray  # 0..K-1
    n_classes: int
    seed: int
    device: object  # torch.device
    quick: bool = False
    unlabelled: Optional[np.ndarray] = None  # flat pixel indices for label-free learning (no labels attached)
    progress: Callable = field(default=lambda stage, fraction, message="": None)
    is_cancelled: Callable = field(default=lambda: False)
    threads: int = 1
    files: Optional[object] = None  # files.SceneFiles: the scene as a GeoTIFF, for the engine's methods
    pca_components: int = 30


class Method:
    name = ""
    description = ""
    uses_patches = False

    def fit(self, task: Task) -> dict:
        raise NotImplementedError

    def predict(self, task: Task) -> np.ndarray:
        """Class indices 0..K-1 for every pixel of the scene, ``[H * W]``."""
        raise NotImplementedError

    def embed(self, task: Task, index: np.ndarray):
        """(features before, after diffusion refinement, strength) for the given pixels, or None."""
        return None

    def variants(self, task: Task, labels: np.ndarray) -> dict:
        """Other maps scored beside the method's own: here its map after the engine's edge-preserving
        smoothing, applied to the map's one-hot probabilities (as Kang et al. did for SVM maps)."""
        cfg = default_learner_config()
        if not cfg.smoothing_radius or task.features.guide is None:
            return {}
        h, w = task.features.shape
        one_hot = np.eye(task.n_classes, dtype=np.float32)[labels].T.reshape(task.n_classes, h, w)
        smoothed = smooth_probabilities(one_hot, task.features.guide, cfg.smoothing_radius, cfg.smoothing_eps)
        return {"smoothed": smoothed.argmax(0).ravel()}


def _predict_in_batches(fn, n: int, batch: int = 4096) -> np.ndarray:
    return np.concatenate([fn(np.arange(i, min(n, i + batch))) for i in range(0, n, batch)])


class SVM(Method):
    name = "svm"
    description = "SVM-RBF on standardised spectra; C and gamma by stratified cross-validation on the training pixels"

    def fit(self, task):
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        x, y = task.features.spectra[task.train], task.y_train
        bands = x.shape[1]
        if task.quick:
            grid = {"C": [10.0, 100.0, 1000.0], "gamma": [g / bands for g in (1.0, 4.0)]}
            folds = 3
        else:
            grid = {"C": [1.0, 10.0, 100.0, 1000.0, 10000.0], "gamma": [g / bands for g in (0.25, 1.0, 4.0, 16.0)]}
            folds = 5
        folds = int(max(2, min(folds, np.bincount(y).max())))
        search = GridSearchCV(SVC(kernel="rbf"), grid, cv=StratifiedKFold(folds, shuffle=True, random_state=task.seed),
                              n_jobs=1, refit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # classes with fewer pixels than folds (ratio-5, tiny classes)
            search.fit(x, y)
        self.model = search.best_estimator_
        return {"C": search.best_params_["C"], "gamma": search.best_params_["gamma"], "cv_folds": folds,
                "cv_accuracy": float(search.best_score_), "grid": grid}

    def predict(self, task):
        spectra = task.features.spectra
        return _predict_in_batches(lambda i: self.model.predict(spectra[i]), len(spectra))


class RandomForest(Method):
    name = "rf"
    description = "Random Forest on standardised spectra (sqrt(bands) features per split)"

    def fit(self, task):
        from sklearn.ensemble import RandomForestClassifier

        trees = 200 if task.quick else 500
        self.model = RandomForestClassifier(n_estimators=trees, max_features="sqrt", n_jobs=max(1, task.threads),
                                            random_state=task.seed)
        self.model.fit(task.features.spectra[task.train], task.y_train)
        return {"trees": trees, "max_features": "sqrt"}

    def predict(self, task):
        spectra = task.features.spectra
        return _predict_in_batches(lambda i: self.model.predict(spectra[i]), len(spectra))


class _TorchMethod(Method):
    """Shared prediction for the torch baselines trained with :func:`trainer.train_supervised`."""

    def _inputs(self, task, index):
        raise NotImplementedError

    def predict(self, task):
        return self.probabilities(task).argmax(1)

    def probabilities(self, task) -> np.ndarray:
        """Softmax class probabilities of every pixel, ``[H * W, K]``."""
        import torch

        self.model.eval()
        n = task.features.shape[0] * task.features.shape[1]

        @torch.no_grad()
        def batch(i):
            x = torch.as_tensor(self._inputs(task, i)).to(task.device)
            return torch.softmax(self.model(x).float(), dim=1).cpu().numpy()

        return _predict_in_batches(batch, n, 2048)


class MLP1D(_TorchMethod):
    name = "mlp1d"
    description = "spectral MLP (two hidden layers, BatchNorm, dropout) on standardised spectra, torch"

    def _inputs(self, task, index):
        return task.features.spectra[index]

    def fit(self, task):
        """The engine's spectral member, trained alone (:func:`contrastdm.model.spectral.fit_member`)."""
        from contrastdm.model.spectral import fit_member

        self.model, info = fit_member(
            task.features.spectra[task.train], task.y_train, task.n_classes, task.seed, task.device,
            epochs=60 if task.quick else 200, progress=lambda f, m: task.progress("train", f, m),
            is_cancelled=task.is_cancelled)
        return info


class SSFTTMethod(_TorchMethod):
    name = "ssftt"
    description = ("SSFTT-style tokenizer transformer (3D+2D conv, Gaussian-weighted tokenizer, one encoder "
                   "block), Adam 1e-3, batch 64, written from Sun et al. 2022")
    uses_patches = True

    def _inputs(self, task, index):
        return task.features.patches(index)

    def fit(self, task):
        import torch

        from contrastdm.model.supervised import train_supervised

        from .ssftt import SSFTT

        torch.manual_seed(task.seed)
        self.model = SSFTT(task.features.n_components, task.features.patch_size, task.n_classes)
        epochs = 30 if task.quick else 100
        info = train_supervised(
            self.model, task.features.patches(task.train), task.y_train, epochs=epochs, batch_size=64,
            learning_rate=1e-3, weight_decay=0.0, optimizer="adam", device=task.device, seed=task.seed,
            progress=lambda f, m: task.progress("train", f, m), is_cancelled=task.is_cancelled)
        return {**info, "parameters": int(sum(p.numel() for p in self.model.parameters()))}


def default_learner_config():
    from contrastdm.model.config import as_config

    return as_config(None)


class _TaskFeedback:
    """The engine's feedback protocol over a task's progress and cancellation (its messages stay out of the
    benchmark's log)."""

    def __init__(self, task: Task) -> None:
        self.task = task

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        self.task.progress(stage, fraction, message)

    def message(self, text: str, level: str = "info") -> None:
        pass

    def cancelled(self) -> bool:
        return bool(self.task.is_cancelled())


# The same model with the spectral member's weight set otherwise: left out, at the two weights the scene's scale
# chooses between (0.5, 0.75), and alone.
MEMBER_WEIGHT_VARIANTS = {"unfused": 0.0, "weight0.5": 0.5, "weight0.75": 0.75, "member": 1.0}


class Learner(Method):
    """A ContrastDM configuration, trained and applied as a user does: :func:`contrastdm.train` on the scene's
    GeoTIFF and the training pixels written as polygons, then :func:`contrastdm.classify`. Everything between
    (band selection, reduction, patches, the spectral member and its gate, fusion, smoothing) is the engine's."""

    uses_patches = True

    def __init__(self, name: str, description: str, overrides: Callable, **train_options) -> None:
        self.name = name
        self.description = description
        self.overrides = overrides
        self.train_options = train_options  # train()'s own arguments besides the learner's (e.g. the reduction)
        self.model_path = None

    def config(self, task):
        return self.config_for(task.features.patch_size, task.seed, task.quick)

    def config_for(self, patch_size: int, seed: int, quick: bool):
        """The configuration this method trains with, from the current default preset."""
        base = default_learner_config()
        changes = dict(self.overrides(base))
        if quick:
            shorter = {k: v for k, v in QUICK_LEARNER.items() if hasattr(base, k)}
            if changes.get("contrastive_epochs", base.contrastive_epochs) > 0:
                shorter["contrastive_epochs"] = 1
            changes = {**changes, **shorter}  # quick settings shorten stages, never switch them on or off
        return base.replace(**changes, patch_size=int(patch_size), seed=int(seed))

    def fit(self, task):
        from contrastdm import train  # the public API, as a user calls it
        from contrastdm.model.config import DEFAULT_PRESET

        from .files import CLASS_FIELD

        files = task.files
        vector = files.write_training(task.train, task.y_train + 1, files.workdir / "training.gpkg")
        self.model_path = files.workdir / "model.safetensors"
        result = train(files.raster, vector, CLASS_FIELD, self.model_path, preset=DEFAULT_PRESET,
                       pca_components=task.pca_components, device=str(task.device), feedback=_TaskFeedback(task),
                       cache=None, **self.train_options,
                       **self.config(task).to_dict())  # no scene cache: every run is a cold start
        training = result.model.metadata["training"]
        return {"config": result.config, "validation": result.validation,
                "history_lengths": {k: len(v) for k, v in result.history.items()},
                "val_oa_curve": [round(v, 4) for v in result.history.get("val_oa", [])],
                "spectral_gate": training["spectral_member"], "pixels_per_class": training["pixels_per_class"],
                "held_out_choice": training.get("held_out_choice"), "patch_choice": training.get("patch_choice"),
                "smoothing_scale": training.get("smoothing_scale"),
                "fit_seconds": round(result.seconds, 2),
                "reduction": result.model.metadata.get("reduction")}

    def _classify(self, task, model=None, **options) -> np.ndarray:
        """Class indices 0..K-1 (-1 where unclassified) of every pixel, from the engine's map."""
        from contrastdm import classify

        from .files import read_class_map

        output = task.files.workdir / "map.tif"
        classify(task.files.raster, model if model is not None else self.model_path, output,
                 device=str(task.device), feedback=_TaskFeedback(task), **options)
        return read_class_map(output) - 1

    def predict(self, task):
        return self._classify(task)

    def variants(self, task, labels):
        """The same trained model without its smoothing, with its spectral member's weight set otherwise
        (:data:`MEMBER_WEIGHT_VARIANTS`), and (where refinement was kept) without refinement: each classified by
        the engine with that one step changed."""
        from contrastdm.bundle import load_model

        model = load_model(self.model_path)
        cfg = model.network.config
        out = {}
        if cfg.smoothing_radius:
            out["unsmoothed"] = self._classify(task, smoothing_radius=0)
        elif task.features.guide is not None:
            out.update(super().variants(task, labels))
        if cfg.refine:
            cfg.refine_strength = 0.0
            out["unrefined"] = self._classify(task, model=model) if model.network.refine_active else labels
        if model.spectral is not None:
            for name, weight in MEMBER_WEIGHT_VARIANTS.items():
                if weight != cfg.spectral_weight:
                    out[name] = self._classify(task, spectral_weight=weight)
        return out

    def embed(self, task, index):
        """Features of the given pixels before and after diffusion refinement, from the model file."""
        import torch

        from contrastdm.bundle import load_model, match_bands
        from contrastdm.io.raster import describe, open_raster
        from contrastdm.sampling import extract_patches

        model = load_model(self.model_path)
        net = model.network.eval()
        if net.diffusion is None:
            return None
        strength = net.config.refine_strength or default_learner_config().refine_strength or 0.2
        rows, cols = np.divmod(np.asarray(index, dtype=np.int64), task.features.shape[1])
        with open_raster(task.files.raster) as ds:
            info = describe(ds)
            info = info.with_bands(match_bands(model, info))
            patches, _ = extract_patches(ds, info, rows, cols, model.patch_size, model.preprocessor)
        with torch.no_grad():
            before, after = [], []
            for i in range(0, len(patches), 1024):
                f = net.encoder(torch.as_tensor(patches[i:i + 1024]))
                before.append(f.float().numpy())
                after.append(net.refine_features(f, strength).float().numpy())
        return np.concatenate(before), np.concatenate(after), float(strength)


def _cnn(base):
    return dict(contrastive_epochs=0, synthetic=False, refine=False, pseudo_label_per_class=0, spectral_member="off")


def _head(base):
    return dict(contrastive_epochs=max(1, base.contrastive_epochs), synthetic=False, refine=False,
                encoder_lr_scale=min(0.1, base.encoder_lr_scale), spectral_member="off")


def _nosynth(base):
    return dict(contrastive_epochs=max(1, base.contrastive_epochs), synthetic=False, refine=False,
                spectral_member="off")


def _early(base):
    return dict(contrastive_epochs=max(1, base.contrastive_epochs), synthetic=True, diffusion_stage="pretrained",
                spectral_member="off")


def _refine(base):
    return dict(contrastive_epochs=max(1, base.contrastive_epochs), synthetic=True, refine=True, refit_all=False,
                spectral_member="off")


def _centre(base):
    return dict(centre_branch=True, spectral_member="off")


def _member_on(base):
    return dict(spectral_member="on")


def _default(base):
    return {}


def _pretraining(factor: int):
    """``factor`` times the default's contrastive pre-training epochs."""
    return lambda base: {"contrastive_epochs": factor * base.contrastive_epochs}


# What the engine's "best" preset set until it was measured (not more accurate than "balanced" on blocks).
FORMER_BEST = {"contrastive_epochs": 12, "diffusion_steps": 3000, "synthetic_per_class": 256, "finetune_epochs": 150}


def _preset(name: str):
    """The settings in which preset ``name`` differs from the default one."""
    def overrides(base):
        from contrastdm.model.config import PRESETS

        wanted = PRESETS[name].to_dict()
        return {k: v for k, v in wanted.items() if base.to_dict()[k] != v}

    return overrides


METHODS = {
    "svm": SVM,
    "rf": RandomForest,
    "mlp1d": MLP1D,
    "cnn": lambda: Learner("cnn", "ContrastDM's encoder + head trained purely supervised (no pre-training, "
                           "no diffusion)", _cnn),
    "ssftt": SSFTTMethod,
    "cdm-head": lambda: Learner("cdm-head", "contrastive pre-training, then head + minimal encoder fine-tune "
                                "(encoder lr x0.1), no diffusion", _head),
    "cdm-nosynth": lambda: Learner("cdm-nosynth", "contrastive pre-training + full fine-tune, no diffusion "
                                   "model", _nosynth),
    "cdm-early": lambda: Learner("cdm-early", "diffusion fitted on the pre-trained features, synthetic features "
                                 "mixed into fine-tuning", _early),
    "cdm-refine": lambda: Learner("cdm-refine", "the default + diffusion refinement at inference (kept when "
                                  "validation says it helps; no refit)", _refine),
    "cdm-centre": lambda: Learner("cdm-centre", "the default + a centre-pixel spectral branch fused into the "
                                  "encoder", _centre),
    "cdm-spectral": lambda: Learner("cdm-spectral", "the default with the engine's spectral member always on "
                                    "(spectral_member='on'), whatever the training layout", _member_on),
    "contrastdm": lambda: Learner("contrastdm", "ContrastDM, the engine's default configuration", _default),
    "cdm-polygons": lambda: Learner("cdm-polygons", "the default with its epoch chosen on held-out polygons and "
                                    "their patch halo (validation_split='polygons'), then the refit",
                                    lambda base: {"validation_split": "polygons"}),
    "cdm-choice": lambda: Learner("cdm-choice", "cdm-polygons, with the smoothing radius and the spectral member's "
                                  "weight chosen on the held-out polygons too (choose_on_held_out)",
                                  lambda base: {"validation_split": "polygons", "choose_on_held_out": True}),
    "cdm-radius": lambda: Learner("cdm-radius", "cdm-polygons, with the smoothing radius alone chosen on the "
                                  "held-out polygons (the member as the neighbour rule sets it)",
                                  lambda base: {"validation_split": "polygons", "choose_on_held_out": True,
                                                "held_out_settings": "radius"}),
    "cdm-patch": lambda: Learner("cdm-patch", "the default with its patch size chosen (5, 7 or 11, by short "
                                 "supervised probes on held-out polygons: choose_patch_size)",
                                 lambda base: {"choose_patch_size": True}),
    "cdm-scale": lambda: Learner("cdm-scale", "the default with its smoothing radius lowered to the scene's "
                                 "spatial scale (smoothing_from_scene, contrastdm.scene_scale)",
                                 lambda base: {"smoothing_from_scene": True}),
    "cdm-auto": lambda: Learner("cdm-auto", "the default with both scene-dependent choices: the smoothing radius "
                                "from the scene's scale and the patch size on held-out polygons",
                                lambda base: {"smoothing_from_scene": True, "choose_patch_size": True}),
    "cdm-pre4x": lambda: Learner("cdm-pre4x", "the default with 4 x its contrastive pre-training (epochs x 4): "
                                 "the budget a scene cache pays once", _pretraining(4)),
    "cdm-pre16x": lambda: Learner("cdm-pre16x", "the default with 16 x its contrastive pre-training (epochs x 16)",
                                  _pretraining(16)),
    "cdm-budget": lambda: Learner("cdm-budget", "the default with schedules fitted to the data (budget='data'): "
                                  "pre-training sees each label-free patch about once, one fine-tuning run on "
                                  "every label", lambda base: {"budget": "data"}),
    "cdm-scene": lambda: Learner("cdm-scene", "cdm-budget with label-free pre-training (supcon_weight=0: SimCLR "
                                 "on the scene's patches, no SupCon), which the scene cache keeps between runs",
                                 lambda base: {"budget": "data", "supcon_weight": 0.0}),
    "cdm-mnf": lambda: Learner("cdm-mnf", "the default with the minimum noise fraction instead of PCA "
                               "(reduction='mnf')", _default, reduction="mnf"),
    "cdm-noshift": lambda: Learner("cdm-noshift", "the default without the augmentation that shifts a training patch "
                                   "by a pixel on any scene (aug_shift=0; the default drops it only where the "
                                   "scene's scale lowers the smoothing radius)", lambda base: {"aug_shift": 0}),
    "cdm-bf16": lambda: Learner("cdm-bf16", "the default trained in bfloat16 mixed precision on the CPU "
                                "(cpu_precision='bfloat16'; native on processors with AVX512-BF16 or AMX)",
                                lambda base: {"cpu_precision": "bfloat16"}),
    "preset-fast": lambda: Learner("preset-fast", "ContrastDM with the 'fast' preset", _preset("fast")),
    "preset-best": lambda: Learner("preset-best", "the former 'best' preset, measured and then dropped: 3 x the "
                                   "pre-training and diffusion steps, 1.5 x the fine-tuning, twice the synthetic "
                                   "features", lambda base: dict(FORMER_BEST)),
}
BASELINES = ("svm", "rf", "mlp1d", "cnn", "ssftt")
# The ablation ladder, one step at a time: (what the step adds, the run without it, the run with it).
ABLATION_STEPS = (
    ("contrastive pre-training", "cnn", "cdm-nosynth"),
    ("full fine-tune after pre-training (vs head + encoder lr x0.1)", "cdm-head", "cdm-nosynth"),
    ("diffusion: synthetic features, head retrained on real + synthetic", "cdm-nosynth", "contrastdm:unfused"),
    ("diffusion fitted on fine-tuned (vs pre-trained) features", "cdm-early", "contrastdm:unfused"),
    ("centre-pixel spectral branch in the encoder", "contrastdm:unfused", "cdm-centre"),
    # Each spectral step is scored with and without its member on the same trained networks.
    ("spectral member always on (weighted mean of probabilities)", "cdm-spectral:unfused", "cdm-spectral"),
    ("spectral member where the training pixels form areas (the default)", "contrastdm:unfused", "contrastdm"),
    ("edge-preserving smoothing of the probabilities", "contrastdm:unsmoothed", "contrastdm"),
    # Refinement is scored on one network, with and without it (a variant of the same run).
    ("diffusion refinement at inference (kept where validation says it helps)", "cdm-refine:unrefined", "cdm-refine"),
)


# Set by fit() from what validation says (the requested value is not what the record keeps).
CHOSEN_BY_FIT = ("refine_strength",)
CHOSEN_ON_HELD_OUT = {"radius": ("smoothing_radius",),
                      "radius,weight": ("smoothing_radius", "spectral_weight", "spectral_member")}
# From this harness version on, the ContrastDM methods run through train() and classify(); earlier records
# come from the harness's own copy of those steps.
ENGINE_PATH_VERSION = 2


def stale_reason(record: dict, output_dir=None) -> Optional[str]:
    """Why a run record no longer stands for its method (None when it does): a ContrastDM variant whose recorded
    configuration differs from what the method trains with now, e.g. after the default preset changed.

    A spectral member left to ``"auto"`` is recorded as decided ("on" or "off"); the decision is checked
    against the gate on the run's training pixels (``method_info["spectral_gate"]``, or its split file under
    ``output_dir`` for runs recorded before the gate existed)."""
    from contrastdm.model.config import LearnerConfig

    method = METHODS.get(record.get("method", ""))
    method = method() if method is not None else None
    if not isinstance(method, Learner):
        return None
    if record.get("harness_version", 1) < ENGINE_PATH_VERSION:
        return "made by the harness's own training path, not by train() and classify()"
    try:
        recorded = LearnerConfig.from_dict(record["method_info"]["config"]).to_dict()
    except (KeyError, TypeError, ValueError) as exc:
        return f"no readable configuration ({exc})"
    wanted = method.config_for(record.get("patch_size", recorded["patch_size"]), record.get("seed", 0),
                               bool(record.get("quick"))).to_dict()
    chosen = CHOSEN_BY_FIT
    if wanted.get("choose_on_held_out"):  # the held-out choice decides these; the record holds its outcome
        chosen += CHOSEN_ON_HELD_OUT[wanted.get("held_out_settings", "radius,weight")]
        if "spectral_member" in chosen:
            wanted.pop("spectral_member")
    if wanted.get("choose_patch_size"):
        chosen += ("patch_size",)
    if wanted.get("smoothing_from_scene"):
        chosen += ("smoothing_radius",)
    scale = (record.get("method_info") or {}).get("smoothing_scale")
    if not scale and wanted.get("smoothing_from_scene") and not wanted.get("choose_on_held_out"):
        # runs made before the record kept the scale: their radius is the one the scale allowed
        scale = {"radius": recorded["smoothing_radius"], "configured": wanted["smoothing_radius"]}
    if wanted.get("shift_from_scene"):  # the shift follows from the radius the scale allowed: compare that
        from contrastdm.scene_scale import patch_shift

        chosen += ("shift_from_scene",)
        if scale:
            wanted["aug_shift"] = patch_shift(scale, wanted["aug_shift"])
        elif recorded["aug_shift"] in (wanted["aug_shift"], 0):
            chosen += ("aug_shift",)  # the held-out choice moved the radius after the scale: either shift
    if wanted.get("member_from_scene"):  # the weight follows from the radius the scale allowed: compare that
        from contrastdm.scene_scale import SMALL_OBJECT_WEIGHT, member_weight

        chosen += ("member_from_scene",)
        if scale:
            wanted["spectral_weight"] = member_weight(scale, wanted["spectral_weight"])
        elif recorded["spectral_weight"] in (wanted["spectral_weight"], max(wanted["spectral_weight"],
                                                                            SMALL_OBJECT_WEIGHT)):
            chosen += ("spectral_weight",)  # the held-out choice moved the radius after the scale: either weight
    if wanted.get("spectral_member") == "auto":
        decided = _gate_decision(record, output_dir)
        if decided is None:
            return "no record of the spectral member's gate and no split file to decide it from"
        wanted["spectral_member"] = decided
    if wanted.get("spectral_member") == "off" and recorded.get("spectral_member") == "off":
        chosen += ("spectral_weight",)  # no member, nothing to weigh: the map does not depend on it
    changed = sorted(k for k in wanted if k not in chosen and recorded.get(k) != wanted[k])
    if not changed:
        return None
    return "configuration changed: " + ", ".join(f"{k} {recorded.get(k)!r} -> {wanted[k]!r}" for k in changed)


def _gate_decision(record: dict, output_dir) -> Optional[str]:
    """What the spectral member's "auto" decides on the run's training pixels (None when it cannot be told)."""
    from pathlib import Path

    from contrastdm.model.spectral import resolve

    split = record.get("split_file")
    if output_dir is not None and split and (Path(output_dir) / split).is_file():
        with np.load(Path(output_dir) / split) as data:
            train, width = data["train"], int(data["shape"][1])
        return resolve("auto", *np.divmod(train.astype(np.int64), width))[0]
    gate = (record.get("method_info") or {}).get("spectral_gate") or {}
    return gate.get("member") if gate.get("requested") == "auto" else None


def make_method(name: str) -> Method:
    from contrastdm.errors import InputError

    if name not in METHODS:
        raise InputError(f"unknown method '{name}'; use one of {', '.join(METHODS)}")
    return METHODS[name]()
