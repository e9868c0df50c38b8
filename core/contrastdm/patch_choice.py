"""The patch size chosen on held-out polygons, before the network trains.

A patch that is wide for the scene's objects (1-4 px buildings and roads at 30 m) mixes their neighbours into
every sample and memorises the training polygons' surroundings; a narrow one wastes the context of large
fields. Which wins depends on the scene, so with ``choose_patch_size`` the training polygons decide: the
patches are read once at the largest candidate size, and for each candidate a short supervised run of the same
encoder and head (:data:`PROBE_EPOCHS` epochs at most, no pre-training, no diffusion model) trains on the centre
crops of the training side of a grouped split (:func:`~contrastdm.sampling.grouped_split`, whole polygons and the
largest patch's halo held out) and is scored on the held-out polygons, for each of :data:`FOLDS` splits drawn
with different seeds. A candidate replaces the configured size only when, summed over the splits, it classifies
clearly more held-out pixels correctly (the margin of :mod:`contrastdm.heldout`); then the full training runs
once, at the chosen size. One split is not enough: on Indian Pines' blocks (seed 2) a single split ranked 5 px
first, 11 px first and 7 px first depending on its seed, and the 5 px model it chose lost 3.2 OA points.

The choice is not made (the configured size is kept, and the report says why) where it cannot be fair or
cheap: with a validation vector (its pixels are the user's own check, not for tuning), under ``torchrun`` (every
rank must train the same shape), or where no polygon can be held out for a class. A warm start keeps the size of
the network it starts from, so the configuration refuses both at once.
"""

from __future__ import annotations

import time

import numpy as np

from .heldout import MARGIN

PATCH_SIZES = (5, 7, 11)
PROBE_EPOCHS = 20
FOLDS = 3
PROBE_PIXELS = 1000  # per class and side of the split: bounds the probes' cost where polygons are large


def candidates(configured: int) -> tuple[int, ...]:
    """The sizes tried: :data:`PATCH_SIZES` and the configured one."""
    return tuple(sorted(set(PATCH_SIZES) | {int(configured)}))


def skipped_because(config, validation_vector, ranks) -> str | None:
    """Why the choice is not made for this run, or None when it is."""
    if not config.choose_patch_size:
        return "off"
    if validation_vector is not None:
        return "a validation vector was given"
    if ranks.active:
        return "several processes: every rank trains the configured size"
    return None


def centre_crop(patches, size: int):
    """The central ``size`` x ``size`` window of patches ``[N, C, p, p]`` (None stays None)."""
    if patches is None or patches.shape[-1] == size:
        return patches
    start = (patches.shape[-1] - size) // 2
    return np.ascontiguousarray(patches[..., start:start + size, start:start + size])


def probe_config(config, size: int):
    """A short supervised run of the network at ``size``: no pre-training, diffusion, pseudo-labels or refit."""
    return config.replace(patch_size=int(size), contrastive_epochs=0, synthetic=False, refine=False,
                          refit_all=False, pseudo_label_per_class=0,
                          finetune_epochs=min(PROBE_EPOCHS, config.finetune_epochs),
                          validation_split="polygons", choose_on_held_out=False, choose_patch_size=False,
                          warm_start=False, budget="fixed")


def score(patches, y, n_classes: int, split, config, device, is_cancelled) -> tuple[int, float]:
    """(held-out pixels classified correctly at the best epoch, seconds) of the probe on ``patches`` (cropped to
    the size tried)."""
    from .training import fit

    started = time.monotonic()
    result = fit(None, patches, y, n_classes=n_classes, config=probe_config(config, patches.shape[-1]),
                 device=device, is_cancelled=is_cancelled, split=split)
    correct = int(round(max(result.history.get("val_oa") or [0.0]) * len(split[1])))
    return correct, time.monotonic() - started


def thin_per_class(index: np.ndarray, labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """``index`` with at most ``limit`` entries of each class (``labels[index]``), drawn at random, sorted."""
    rng = np.random.default_rng(seed)
    kept = [members if members.size <= limit else rng.choice(members, limit, replace=False)
            for members in (index[labels[index] == k] for k in np.unique(labels[index]))]
    return np.sort(np.concatenate(kept)) if kept else index


def choose(correct: dict, configured: int, n: int) -> tuple[int, bool]:
    """(size, changed): the size with the most correct held-out pixels when it beats ``configured`` by the
    margin; ties go to the configured size, then the smaller one (cheaper to train and to apply)."""
    best = min(correct, key=lambda s: (-correct[s], s != configured, s))
    better = correct[best] - correct[configured] > max(MARGIN[0], MARGIN[1] * n)
    return (best, True) if better else (configured, False)


def probe_splits(y, pixels, config, halo: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """:data:`FOLDS` grouped splits ``(training, held out)``, thinned to :data:`PROBE_PIXELS` a class and side;
    empty when a split leaves a class without training pixels or holds nothing out."""
    from .sampling import grouped_split

    splits = []
    for fold in range(FOLDS):
        seed = config.seed + 7919 * fold
        training, held = grouped_split(y, pixels.feature_ids, pixels.rows, pixels.cols,
                                       config.validation_fraction, seed, halo=halo)
        if held.size == 0 or np.unique(y[training]).size < np.unique(y).size:
            return []
        splits.append((thin_per_class(training, y, PROBE_PIXELS, seed),
                       thin_per_class(held, y, PROBE_PIXELS, seed + 1)))
    return splits


def choose_patch_size(x, y, pixels, n_classes: int, config, device, feedback) -> dict:
    """The choice (see the module) from training patches ``x`` read at the largest candidate size; the result
    records every candidate's held-out OA (over the splits) and probe time."""
    sizes = candidates(config.patch_size)
    splits = probe_splits(y, pixels, config, max(sizes) // 2)
    if not splits:
        return {"patch_size": int(config.patch_size), "changed": False,
                "skipped": "no polygon of every class could be held out"}
    held_out = sum(int(held.size) for _, held in splits)
    correct, seconds = dict.fromkeys(sizes, 0), dict.fromkeys(sizes, 0.0)
    for i, size in enumerate(sizes):
        patches = centre_crop(x, size)  # once per size, for every split
        for j, split in enumerate(splits):
            feedback.progress("patch", (i * len(splits) + j) / (len(sizes) * len(splits)),
                              f"trying a {size} x {size} px patch")
            right, took = score(patches, y, n_classes, split, config, device, feedback.cancelled)
            correct[size] += right
            seconds[size] += took
    chosen, changed = choose(correct, int(config.patch_size), held_out)
    feedback.progress("patch", 1.0, f"patch {chosen} x {chosen} px")
    feedback.message(f"on {held_out} held-out pixels of {len(splits)} splits: patch size {chosen} "
                     f"({'chosen' if changed else 'kept: no candidate was clearly better'}; "
                     + ", ".join(f"{s}: OA {100 * correct[s] / held_out:.1f}" for s in sizes) + ")")
    return {"patch_size": int(chosen), "changed": changed, "configured": int(config.patch_size),
            "held_out_pixels": held_out, "splits": len(splits),
            "probe_epochs": min(PROBE_EPOCHS, config.finetune_epochs),
            "candidates": [{"patch_size": int(s), "oa": round(correct[s] / held_out, 4),
                            "seconds": round(seconds[s], 1)} for s in sizes]}
