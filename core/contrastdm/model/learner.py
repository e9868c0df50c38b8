"""Training pipeline: contrastive pre-training -> feature diffusion -> supervised fine-tuning.

``fit`` is the only entry point the rest of the engine needs.  Model selection (best epoch,
whether refinement helps) uses only the validation split; when none is given, a stratified slice
is carved from the training samples.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from .. import distributed
from ..device import resolve_device
from ..errors import Cancelled, InputError
from .amp import amp_context, autocast_for, backward_step, grad_scaler, warmup_cosine
from .augment import HyperspectralAugment
from .config import DEFAULT_PRESET, PRESETS, LearnerConfig, as_config
from .contrastive import ProjectionHead, pretrain_contrastive
from .network import ContrastDMNet
from .selection import EpochSelector

__all__ = ["LearnerConfig", "PRESETS", "DEFAULT_PRESET", "FitResult", "fit", "resolve_device", "stratified_split"]

ProgressFn = Callable[[str, float, str], None]


@dataclass
class FitResult:
    network: ContrastDMNet  # in eval mode, on the training device; network.config is the effective config
    history: dict = field(default_factory=dict)  # per-stage loss lists (+ "val_oa" per fine-tuning epoch)
    validation: dict = field(default_factory=dict)  # split source/size, best epoch, OA, refinement choice

    @property
    def config(self) -> LearnerConfig:
        return self.network.config


def on_device(tensor: torch.Tensor, device: torch.device, limit_bytes: int = 1 << 30) -> torch.Tensor:
    """``tensor`` moved to a GPU once when it fits in ``limit_bytes`` (no copy per batch), else left where it is."""
    if device.type != "cuda" or tensor.numel() * tensor.element_size() > limit_bytes:
        return tensor
    return tensor.to(device)


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): about ``fraction`` of each class goes to validation, never a class's last sample."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_val = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def _to_tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.to(dtype).contiguous()


@dataclass
class _Random:
    """Where a training run's random numbers come from: ``batches`` draws which samples form each global
    batch and must be the same stream on every rank; ``views`` draws the augmentations of this rank's slice."""

    batches: torch.Generator
    views: torch.Generator


def _random_streams(seed: int, dev: torch.device) -> _Random:
    """One shared CPU stream on a single CPU process (runs stay reproducible on any machine); on a GPU the
    augmentations draw on the GPU, and under torchrun each rank draws its own."""
    batches = torch.Generator().manual_seed(seed)
    views = distributed.augment_generator(batches, seed)
    if dev.type == "cuda":
        rank = distributed.current().rank
        views = torch.Generator(device=dev).manual_seed(int(seed) + 1_000_003 * (rank + 1))
    return _Random(batches, views)


class _Classifier(torch.nn.Module):
    """Encoder and head as one module (the unit DistributedDataParallel synchronises): features and
    logits of a batch, plus the head's logits for extra (synthetic) features."""

    def __init__(self, encoder, head) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor, extra: Optional[torch.Tensor] = None):
        feats = self.encoder(x)
        return feats, self.head(feats).float(), None if extra is None else self.head(extra).float()


class _Stopper:
    def __init__(self, is_cancelled: Optional[Callable[[], bool]]) -> None:
        self.is_cancelled = is_cancelled

    def __call__(self) -> bool:
        return bool(self.is_cancelled is not None and self.is_cancelled())

    def check(self) -> None:
        if self():
            raise Cancelled()


@torch.no_grad()
def _encode(encoder, x: torch.Tensor, device, batch: int = 1024, augment=None, generator=None, autocast=None,
            stop: Optional[_Stopper] = None) -> torch.Tensor:
    encoder.eval()
    out = []
    for i in range(0, len(x), batch):
        if stop is not None:
            stop.check()
        xb = x[i:i + batch].to(device)
        if augment is not None:
            xb = augment(xb, generator)
        with amp_context(autocast):
            out.append(encoder(xb).float())
    return torch.cat(out) if out else torch.empty(0, encoder.feature_dim, device=device)


@torch.no_grad()
def _accuracy(net: ContrastDMNet, x: torch.Tensor, y: torch.Tensor, device, refine_strength: float = 0.0,
              batch: int = 1024) -> tuple[float, float]:
    """(overall accuracy, mean cross-entropy) in eval mode; refinement only when strength > 0."""
    net.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch):
        f = net.encoder(x[i:i + batch].to(device))
        if refine_strength > 0:
            f = net.refine_features(f, refine_strength)
        logits = net.head(f).float()
        yb = y[i:i + batch].to(device)
        correct += int((logits.argmax(1) == yb).sum())
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
    n = max(len(x), 1)
    return correct / n, loss / n


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
) -> FitResult:
    """Train a ContrastDM network.

    unlabeled: [M, C, p, p] float patches (may be None or empty); x_train: [N, C, p, p]; y_train: [N]
    int labels in 0..K-1; x_val/y_val: optional validation patches (None: carve a stratified slice of
    the training samples).  progress(stage, fraction, message) with stages "contrastive",
    "diffusion", "finetune"; is_cancelled() is polled every batch and raises Cancelled.
    """
    cfg = as_config(config)
    dev = distributed.setup(resolve_device(device))
    progress = progress or (lambda stage, fraction, message="": None)
    stop = _Stopper(is_cancelled)

    x_tr = _to_tensor(x_train, torch.float32)
    y_tr = _to_tensor(y_train, torch.long)
    if x_tr.dim() != 4 or x_tr.shape[-1] != x_tr.shape[-2]:
        raise InputError(f"training patches must be [N, C, p, p], got {list(x_tr.shape)}")
    if x_tr.shape[-1] != cfg.patch_size:
        raise InputError(f"training patches are {x_tr.shape[-1]}x{x_tr.shape[-1]} but patch_size is {cfg.patch_size}")
    if len(y_tr) != len(x_tr) or len(y_tr) == 0:
        raise InputError("training patches and labels must be non-empty and of equal length")
    n_bands = x_tr.shape[1]
    k = int(n_classes) if n_classes is not None else int(y_tr.max()) + 1
    if int(y_tr.min()) < 0 or int(y_tr.max()) >= k:
        raise InputError(f"training labels must lie in 0..{k - 1}")
    unl = None if unlabeled is None else _to_tensor(unlabeled, torch.float32)
    if unl is not None and len(unl) == 0:
        unl = None
    if unl is not None and tuple(unl.shape[1:]) != tuple(x_tr.shape[1:]):
        raise InputError(f"unlabelled patches {list(unl.shape[1:])} differ from training patches {list(x_tr.shape[1:])}")

    if cfg.diffusion_stage not in ("finetuned", "pretrained"):
        raise InputError(f"diffusion_stage must be 'finetuned' or 'pretrained', not {cfg.diffusion_stage!r}")
    history: dict[str, list[float]] = {"contrastive": [], "diffusion": [], "finetune": [], "val_oa": []}
    validation: dict[str, Any] = {}
    x_all, y_all = x_tr, y_tr
    if x_val is not None and y_val is not None and len(y_val) > 0:
        x_va, y_va = _to_tensor(x_val, torch.float32), _to_tensor(y_val, torch.long)
        validation.update(source="given", n=int(len(y_va)))
    else:
        tr_idx, va_idx = stratified_split(y_tr.numpy(), cfg.validation_fraction, cfg.seed)
        x_va, y_va = x_tr[va_idx], y_tr[va_idx]
        x_tr, y_tr = x_tr[tr_idx], y_tr[tr_idx]
        validation.update(source="carved" if len(va_idx) else "none", n=int(len(va_idx)))

    autocast = autocast_for(dev)
    cuda_devices = [torch.cuda.current_device() if dev.index is None else dev.index] if dev.type == "cuda" else []
    # fork_rng: seeding must not disturb the caller's global random state.
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(cfg.seed)
        rnd = _random_streams(cfg.seed, dev)
        gen = rnd.batches
        net = ContrastDMNet(n_bands, k, cfg).to(dev)
        augment = HyperspectralAugment(
            noise_std=cfg.aug_noise, scale_std=cfg.aug_scale, band_drop=cfg.aug_band_drop, shift=cfg.aug_shift,
        )

        # 1. Contrastive pre-training ------------------------------------------------------------
        pretrained = False
        if cfg.contrastive_epochs > 0:
            projector = ProjectionHead(cfg.feature_dim).to(dev)
            history["contrastive"] = pretrain_contrastive(
                net.encoder, projector, unl if unl is not None else x_tr, x_tr, y_tr,
                epochs=cfg.contrastive_epochs, samples_per_epoch=cfg.contrastive_samples_per_epoch,
                batch_size=cfg.batch_size * 2, learning_rate=cfg.contrastive_learning_rate,
                weight_decay=cfg.weight_decay, temperature=cfg.temperature, supcon_weight=cfg.supcon_weight,
                augment=augment, generator=gen, device=dev, autocast=autocast, progress=progress,
                is_cancelled=stop, view_generator=rnd.views,
            )
            pretrained = True

        # 2. Feature diffusion on the pre-trained features (diffusion_stage "pretrained") ----------------
        synthetic = None
        late_diffusion = net.diffusion is not None and cfg.diffusion_stage == "finetuned"
        if net.diffusion is not None and not late_diffusion:
            synthetic, _ = _fit_diffusion(net, cfg, x_tr, y_tr, unl, dev, rnd, autocast, progress, stop, history)

        # 3. Fine-tuning ----------------------------------------------------------------------------
        semi_supervised = cfg.contrastive_epochs > 0 or cfg.synthetic or cfg.refine
        pool = None
        if semi_supervised and unl is not None and cfg.pseudo_label_per_class > 0:
            pool = unl[torch.randperm(len(unl), generator=gen)[: cfg.pseudo_label_pool]]
        refit = cfg.refit_all and validation["source"] == "carved" and len(y_va) > 0
        start_state = copy.deepcopy(net.state_dict()) if refit else None
        select_progress = (lambda s, f, m="": progress(s, 0.5 * f, m)) if refit else progress
        best_epoch, chosen_oa, best_oa = _finetune(
            net, cfg, x_tr, y_tr, x_va, y_va, synthetic, pretrained, dev, rnd, autocast, select_progress, stop,
            history, pool,
        )
        validation.update(best_epoch=best_epoch, oa=chosen_oa, max_oa=best_oa, selection="latest within 1 SE")

        # 4. Refinement is kept only where validation says it helps ------------------------------
        if cfg.refine and net.diffusion is not None and not late_diffusion:
            validation["refine"] = _choose_refinement(net, cfg, x_va, y_va, dev)

        # 5. Same schedule on every label, stopped at the selected epoch ----------------------------
        if refit:
            strength = net.config.refine_strength
            net.load_state_dict(start_state)
            refit_history: dict[str, list] = {"finetune": []}
            _finetune(net, cfg, x_all, y_all, x_all[:0], y_all[:0], synthetic, pretrained, dev, rnd, autocast,
                      lambda s, f, m="": progress(s, 0.5 + 0.5 * f, m), stop, refit_history, pool,
                      stop_after=best_epoch)
            history["finetune_refit"] = refit_history["finetune"]
            net.config.refine_strength = strength
            validation.update(refit_samples=int(len(y_all)), refit_epochs=best_epoch)

        # 6. Feature diffusion on the fine-tuned features (diffusion_stage "finetuned") -----------------
        if late_diffusion:
            x_fit, y_fit = (x_all, y_all) if refit else (x_tr, y_tr)
            retrain = cfg.synthetic and cfg.synthetic_weight > 0 and cfg.head_epochs > 0
            share = 0.9 if retrain else 1.0  # the head's retraining reports the last tenth of the stage
            synthetic, real = _fit_diffusion(net, cfg, x_fit, y_fit, unl, dev, rnd, autocast,
                                             lambda s, f, m="": progress(s, share * f, m), stop, history)
            if retrain:
                validation["head"] = _retrain_head(
                    net, cfg, real, synthetic, None if refit else (x_va, y_va), dev, rnd.batches, stop, history,
                    lambda f: progress("diffusion", share + (1 - share) * f,
                                       "retraining the classifier on real and synthetic features"))
            if cfg.refine:
                validation["refine"] = (_choose_refinement(net, cfg, x_va, y_va, dev) if not refit else
                                        _refinement_unchecked(net, cfg))
        net.eval()
    return FitResult(network=net, history=history, validation=validation)


def _fit_diffusion(net, cfg, x_tr, y_tr, unl, dev, rnd, autocast, progress, stop, history):
    """Fit the diffusion model on current encoder features; return the synthetic pool (or None).

    Every rank encodes the same features with the shared stream, so the synthetic pool is the same
    everywhere; only the denoiser's training batches are split across ranks."""
    gen = rnd.batches
    progress("diffusion", 0.0, "encoding features")
    views = [_encode(net.encoder, x_tr, dev, stop=stop)]
    for _ in range(max(0, cfg.diffusion_views - 1)):  # augmented views widen the few labelled features
        views.append(_encode(net.encoder, x_tr, dev, augment=HyperspectralAugment(
            noise_std=cfg.aug_noise, scale_std=cfg.aug_scale, band_drop=cfg.aug_band_drop, shift=cfg.aug_shift,
        ), generator=gen, stop=stop))
    feats = torch.cat(views)
    labels = y_tr.to(dev).repeat(len(views))
    unl_feats = None
    if unl is not None and cfg.diffusion_unlabeled > 0:
        sel = torch.randperm(len(unl), generator=gen)[: cfg.diffusion_unlabeled]
        unl_feats = _encode(net.encoder, unl[sel], dev, stop=stop)
    n_sample = cfg.synthetic_per_class * len(torch.unique(y_tr)) if cfg.synthetic else 0
    # Progress: training ~85% of the stage, sampling the rest.
    train_share = 0.85 if n_sample else 1.0
    history["diffusion"] = net.diffusion.fit(
        feats, labels, cfg.diffusion_steps, unlabeled_features=unl_feats, batch_size=256,
        learning_rate=1e-3, weight_decay=cfg.weight_decay, generator=gen, autocast=autocast,
        progress=lambda s, f, m: progress("diffusion", train_share * f, m), is_cancelled=stop,
        noise_generator=rnd.views,
    )
    net.diffusion.requires_grad_(False)
    if not n_sample:
        return None, (feats, labels)
    classes = torch.unique(y_tr)
    y_syn = classes.repeat_interleave(cfg.synthetic_per_class)
    out = []
    chunk = 1024
    for i in range(0, len(y_syn), chunk):
        stop.check()
        out.append(net.diffusion.sample(y_syn[i:i + chunk].to(dev), cfg.ddim_steps, cfg.guidance, generator=gen))
        progress("diffusion", train_share + (1 - train_share) * min(1.0, (i + chunk) / len(y_syn)), "sampling synthetic features")
    return (distributed.broadcast_tensor(torch.cat(out)), y_syn.to(dev)), (feats, labels)


def _balance_weights(labels: torch.Tensor, n_classes: int, power: float) -> Optional[torch.Tensor]:
    """Sampling weight n_class ** -power per sample (None when power is 0: uniform sampling)."""
    if power <= 0:
        return None
    counts = torch.bincount(labels.cpu(), minlength=n_classes).double()
    return counts[labels.cpu()].pow(-power)


def _retrain_head(net, cfg, real, synthetic, validation, dev, gen, stop, history, progress) -> dict:
    """Retrain the head, encoder frozen, on real feature views plus synthetic features of the same space.

    Scarce classes get as many synthetic features as any other, so the head sees them as often as the
    others. With an untouched validation split the retrained head is kept only if it is not worse there.
    """
    feats, labels = real
    before = copy.deepcopy(net.head.state_dict())
    oa_before = _accuracy(net, *validation, dev)[0] if validation is not None and len(validation[1]) else None
    opt = torch.optim.AdamW(net.head.parameters(), lr=cfg.learning_rate * 0.25, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(labels))
    steps_per_epoch = max(cfg.min_steps_per_epoch, math.ceil(len(labels) / bs))
    total = steps_per_epoch * cfg.head_epochs
    sched = warmup_cosine(opt, total, 0.1)
    weights = _balance_weights(labels, net.n_classes, cfg.class_balance)
    losses = []
    net.head.train()
    for step in range(total):
        stop.check()
        idx = (torch.multinomial(weights, bs, replacement=True, generator=gen) if weights is not None
               else torch.randint(0, len(labels), (bs,), generator=gen)).to(dev)
        s_idx = torch.randint(0, len(synthetic[1]), (bs,), generator=gen).to(dev)
        loss = F.cross_entropy(net.head(feats[idx]).float(), labels[idx], label_smoothing=cfg.label_smoothing)
        loss = loss + cfg.synthetic_weight * F.cross_entropy(
            net.head(synthetic[0][s_idx]).float(), synthetic[1][s_idx], label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.detach())
        progress((step + 1) / total)
    net.head.eval()
    history["head"] = [float(v) for v in losses[steps_per_epoch - 1::steps_per_epoch]]
    if oa_before is None:
        return {"retrained": True, "note": "no untouched validation data"}
    oa_after = _accuracy(net, *validation, dev)[0]
    if distributed.same_everywhere(oa_after < oa_before):
        net.head.load_state_dict(before)
    distributed.broadcast_module(net.head)
    return {"retrained": oa_after >= oa_before, "oa_without": oa_before, "oa_with": oa_after}


@torch.no_grad()
def _pseudo_labels(net, cfg, pool, n_classes, dev, stop) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into ``pool`` and labels of the most confident predictions, at most k per class."""
    net.eval()
    probs = []
    for i in range(0, len(pool), 1024):
        stop.check()
        probs.append(torch.softmax(net.head(net.encoder(pool[i:i + 1024].to(dev))).float(), 1).cpu())
    conf, pred = torch.cat(probs).max(1)
    keep_idx, keep_lab = [], []
    for c in range(n_classes):
        cand = ((pred == c) & (conf >= cfg.pseudo_label_threshold)).nonzero(as_tuple=True)[0]
        top = cand[conf[cand].argsort(descending=True)[: cfg.pseudo_label_per_class]]
        keep_idx.append(top)
        keep_lab.append(torch.full((len(top),), c, dtype=torch.long))
    return torch.cat(keep_idx), torch.cat(keep_lab)


def _finetune(net, cfg, x_tr, y_tr, x_va, y_va, synthetic, pretrained, dev, rnd, autocast, progress, stop, history,
              pool=None, stop_after=None):
    """End-to-end supervised training with synthetic features mixed into the head's batches.

    The learning-rate schedule always spans ``finetune_epochs``; ``stop_after`` ends training early, at the
    same point of that schedule (a refit replaying a selected epoch). Under torchrun every rank draws the
    same global batch and trains on its slice of it."""
    gen = rnd.batches
    model = distributed.parallel(_Classifier(net.encoder, net.head), dev)
    x_src, y_src = on_device(x_tr, dev), on_device(y_tr, dev)
    enc_lr = cfg.learning_rate * (cfg.encoder_lr_scale if pretrained else 1.0)
    opt = torch.optim.AdamW(
        [{"params": net.encoder.parameters(), "lr": enc_lr}, {"params": net.head.parameters(), "lr": cfg.learning_rate}],
        weight_decay=cfg.weight_decay,
    )
    n = len(y_tr)
    bs = min(cfg.batch_size, n)
    steps_per_epoch = max(cfg.min_steps_per_epoch, math.ceil(n / bs))
    epochs = max(1, cfg.finetune_epochs)
    total = steps_per_epoch * epochs
    sched = warmup_cosine(opt, total, 0.1)
    scaler = grad_scaler(dev, autocast)
    augment = HyperspectralAugment(
        noise_std=cfg.aug_noise, scale_std=cfg.aug_scale, band_drop=cfg.aug_band_drop, shift=cfg.aug_shift,
    )
    # Needs a diffusion model that is fitted already, i.e. before fine-tuning.
    use_reg = cfg.diffusion_reg_weight > 0 and net.diffusion is not None and cfg.diffusion_stage == "pretrained"
    weights = _balance_weights(y_tr, net.n_classes, cfg.class_balance)
    selector = EpochSelector(len(y_va))
    best_state = None
    order = torch.empty(0, dtype=torch.long)
    step = 0
    pseudo = None
    rounds = set()
    if pool is not None and cfg.pseudo_label_rounds > 0:
        first = int(round(cfg.pseudo_label_start * epochs))
        span = max(1, epochs - first)
        rounds = {first + (r * span) // cfg.pseudo_label_rounds for r in range(cfg.pseudo_label_rounds)}
    history.setdefault("pseudo_labels", [])
    run_epochs = epochs if stop_after is None else max(1, min(epochs, int(stop_after)))
    for epoch in range(run_epochs):
        if epoch in rounds and epoch > 0:
            p_idx, p_lab = _pseudo_labels(net, cfg, pool, net.n_classes, dev, stop)
            history["pseudo_labels"].append(int(len(p_idx)))
            pseudo = (pool[p_idx], p_lab) if len(p_idx) else None
        net.train()
        if net.diffusion is not None:
            net.diffusion.eval()
        running = torch.zeros((), device=dev)
        for _ in range(steps_per_epoch):
            stop.check()
            if weights is not None:
                idx = torch.multinomial(weights, bs, replacement=True, generator=gen)
            else:
                if len(order) < bs:  # reshuffle when the current pass is used up
                    order = torch.cat([order, torch.randperm(n, generator=gen)])
                idx, order = order[:bs], order[bs:]
            idx = distributed.shard(idx)
            xb = augment(x_src[idx.to(x_src.device)].to(dev), rnd.views)
            yb = y_src[idx.to(y_src.device)].to(dev)
            n_p = 0
            if pseudo is not None:  # one forward pass for labelled + pseudo-labelled patches
                p_sel = distributed.shard(torch.randint(0, len(pseudo[1]), (max(1, bs // 2),), generator=gen))
                xb = torch.cat([xb, augment(pseudo[0][p_sel].to(dev), rnd.views)])
                yp, n_p = pseudo[1][p_sel].to(dev), len(p_sel)
            s_idx = None
            if synthetic is not None and cfg.synthetic_weight > 0:
                s_idx = distributed.shard(torch.randint(0, len(synthetic[1]), (bs,), generator=gen)).to(dev)
            with amp_context(autocast):
                all_feats, all_logits, s_logits = model(xb, None if s_idx is None else synthetic[0][s_idx])
                feats = all_feats[: len(yb)]
                loss = F.cross_entropy(all_logits[: len(yb)], yb, label_smoothing=cfg.label_smoothing)
                if n_p:
                    loss = loss + F.cross_entropy(all_logits[len(yb):], yp, label_smoothing=cfg.label_smoothing)
                if s_idx is not None:
                    loss = loss + cfg.synthetic_weight * F.cross_entropy(
                        s_logits, synthetic[1][s_idx], label_smoothing=cfg.label_smoothing)
                if use_reg:  # keep features where the class-conditional diffusion model puts them
                    loss = loss + cfg.diffusion_reg_weight * net.diffusion.denoising_loss(feats, yb, gen, cond_dropout=0.0)
            opt.zero_grad(set_to_none=True)
            backward_step(loss, opt, scaler)
            sched.step()
            running += loss.detach()
            step += 1
            progress("finetune", step / (steps_per_epoch * run_epochs), f"epoch {epoch + 1}/{run_epochs}")
        history["finetune"].append(float(running) / steps_per_epoch)
        if len(y_va):
            oa = distributed.same_everywhere(_accuracy(net, x_va, y_va, dev)[0])
            history["val_oa"].append(oa)
            if selector.update(epoch + 1, oa):  # the latest epoch within one standard error of the best
                best_state = copy.deepcopy(net.state_dict())
    if best_state is None:
        net.eval()
        return run_epochs, None, None
    net.load_state_dict(best_state)
    net.eval()
    return selector.epoch, selector.oa, selector.best_oa


def _refinement_unchecked(net, cfg) -> dict:
    """Every label went into the refit: nothing is left to show refinement helps, so it stays off."""
    net.config.refine_strength = 0.0
    return {"requested_strength": cfg.refine_strength, "strength": 0.0,
            "note": "no untouched validation data after the refit"}


def _choose_refinement(net, cfg, x_va, y_va, dev) -> dict:
    """Validation OA with and without refinement; keep the requested strength only if it is better."""
    base, _ = _accuracy(net, x_va, y_va, dev) if len(y_va) else (None, None)
    if not len(y_va):
        return {"requested_strength": cfg.refine_strength, "strength": cfg.refine_strength, "note": "no validation data"}
    refined, _ = _accuracy(net, x_va, y_va, dev, refine_strength=cfg.refine_strength)
    chosen = cfg.refine_strength if distributed.same_everywhere(refined > base) else 0.0
    net.config.refine_strength = chosen
    return {"requested_strength": cfg.refine_strength, "strength": chosen, "oa_without": base, "oa_with": refined}
