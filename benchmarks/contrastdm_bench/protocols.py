"""Seeded training/test splits of a scene's labelled pixels, stored as files so anyone can rerun them.

Every split is a pair of sorted flat pixel indices (``row * width + col``) into the scene. Test pixels
never influence training: methods carve their validation data from the training pixels only.

- ``ratio-10`` / ``ratio-5``: 10 % / 5 % of each class's pixels, stratified random; the rest is test.
- ``shot-10``: 10 pixels per class (a class with fewer than that gives half of its pixels).
- ``fields``: spatially disjoint by connected ground-truth fields (8-connected components per class):
  whole fields go to training until ~30-50 % of the class's pixels, the other fields are test. A class
  made of a single field has it cut in two blocks across its longer axis, separated by a gap of at least
  the patch radius (gap pixels are used by neither side), so no training pixel lies within the patch
  radius of a test pixel of that class.
- ``blocks``: the demo's user-style training rectangles (:func:`contrastdm.datasets.training_rectangles`);
  test pixels are the labelled pixels farther than the patch radius from every rectangle.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contrastdm.errors import InputError
from contrastdm.sampling import stratified_split

from .record import private_tmp

PROTOCOLS = ("ratio-10", "ratio-5", "shot-10", "fields", "blocks")
FIELDS_TARGET = (0.3, 0.5)  # share of a class's pixels drawn for training, by whole fields
EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class Split:
    protocol: str
    seed: int
    train: np.ndarray  # flat pixel indices, sorted
    test: np.ndarray
    notes: dict = field(default_factory=dict)

    def summary(self, gt: np.ndarray, class_names) -> dict:
        flat = gt.ravel()
        per_class = {}
        for cid, name in enumerate(class_names, start=1):
            per_class[name] = {"train": int(np.sum(flat[self.train] == cid)), "test": int(np.sum(flat[self.test] == cid)),
                               "total": int(np.sum(flat == cid))}
        return {"protocol": self.protocol, "seed": self.seed, "n_train": int(self.train.size),
                "n_test": int(self.test.size), "per_class": per_class, **self.notes}


def _labelled(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.flatnonzero(gt.ravel() > 0)
    return index, gt.ravel()[index]


def ratio_split(gt: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index, labels = _labelled(gt)
    selected, rest = stratified_split(labels, fraction=fraction, seed=seed)
    return np.sort(index[selected]), np.sort(index[rest])


def shot_split(gt: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    index, labels = _labelled(gt)
    selected, rest = stratified_split(labels, per_class=per_class, seed=seed)
    return np.sort(index[selected]), np.sort(index[rest])


def _choose_fields(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of whole fields for training: a random choice among the subsets holding 30-50 % of the
    class (at least one field always left for test); failing that, the subset closest to 40 %."""
    total = sizes.sum()
    n = len(sizes)
    if n <= 14:
        subsets = [np.array(s) for k in range(1, n) for s in itertools.combinations(range(n), k)]
    else:  # many fields: random orders, fields added while under target
        subsets = []
        for _ in range(2000):
            order, taken, chosen = rng.permutation(n), 0, []
            for f in order[:-1]:
                if taken >= FIELDS_TARGET[0] * total:
                    break
                chosen.append(f)
                taken += sizes[f]
            subsets.append(np.array(chosen))
    shares = np.array([sizes[s].sum() / total for s in subsets])
    inside = np.flatnonzero((shares >= FIELDS_TARGET[0]) & (shares <= FIELDS_TARGET[1]))
    if inside.size:
        return subsets[int(rng.choice(inside))]
    distance = np.abs(shares - np.mean(FIELDS_TARGET))
    best = np.flatnonzero(distance <= distance.min() + 1e-12)
    return subsets[int(rng.choice(best))]


def _split_single_field(mask: np.ndarray, radius: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cut one field across its longer axis: training block, a gap of ``radius`` lines, test block.

    Test pixels are the field's pixels farther than ``radius`` (Chebyshev) from every training pixel, so
    no training patch contains a test pixel. Returns boolean masks (train, test)."""
    from scipy import ndimage

    rows, cols = np.nonzero(mask)
    along = rows if np.ptp(rows) >= np.ptp(cols) else cols
    if rng.random() < 0.5:  # which end trains
        along = along.max() - along
    lines = np.arange(along.min(), along.max() + 1)
    total = mask.sum()
    square = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
    candidates = []
    for cut in lines[1:]:
        train = np.zeros_like(mask)
        keep = along < cut
        train[rows[keep], cols[keep]] = True
        test = mask & ~ndimage.binary_dilation(train, structure=square)
        n_train, n_test = int(train.sum()), int(test.sum())
        if n_train and n_test:
            candidates.append((n_test < n_train, abs(n_train / total - 0.4), cut, train, test))
    if not candidates:
        return mask.copy(), np.zeros_like(mask)  # too small for a gap: the class is only trained on
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    return candidates[0][3], candidates[0][4]


def fields_split(gt: np.ndarray, patch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    radius = patch_size // 2
    train = np.zeros(gt.shape, dtype=bool)
    test = np.zeros(gt.shape, dtype=bool)
    single, untested = [], []
    for cid in [int(v) for v in np.unique(gt) if v != 0]:
        fields, count = ndimage.label(gt == cid, structure=EIGHT)
        if count == 1:
            tr, te = _split_single_field(fields == 1, radius, rng)
            single.append(cid)
            if not te.any():
                untested.append(cid)
        else:
            sizes = np.bincount(fields.ravel())[1:]
            chosen = _choose_fields(sizes, rng) + 1
            tr = np.isin(fields, chosen)
            te = (fields > 0) & ~tr
        train |= tr
        test |= te
    notes = {"single_field_classes": single, "gap_lines": radius}
    if untested:
        notes["classes_without_test_pixels"] = untested
    return np.flatnonzero(train.ravel()), np.flatnonzero(test.ravel()), notes


def blocks_split(gt: np.ndarray, patch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from contrastdm.datasets import training_rectangles, validation_mask

    rectangles = training_rectangles(gt, seed=seed)
    train = np.zeros(gt.shape, dtype=bool)
    for r0, c0, r1, c1, _ in rectangles:
        train[r0:r1, c0:c1] = True
    test = validation_mask(gt, rectangles, patch_size)
    return np.flatnonzero(train.ravel()), np.flatnonzero(test.ravel()), {"rectangles": [list(r) for r in rectangles]}


def make_split(protocol: str, gt: np.ndarray, seed: int, patch_size: int) -> Split:
    if protocol == "ratio-10":
        train, test, notes = *ratio_split(gt, 0.10, seed), {}
    elif protocol == "ratio-5":
        train, test, notes = *ratio_split(gt, 0.05, seed), {}
    elif protocol == "shot-10":
        train, test, notes = *shot_split(gt, 10, seed), {}
    elif protocol == "fields":
        train, test, notes = fields_split(gt, patch_size, seed)
    elif protocol == "blocks":
        train, test, notes = blocks_split(gt, patch_size, seed)
    else:
        raise InputError(f"unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}")
    if np.intersect1d(train, test).size:
        raise AssertionError(f"{protocol}: training and test pixels overlap")
    return Split(protocol, int(seed), train.astype(np.int64), test.astype(np.int64), notes)


def split_path(output_dir, dataset: str, protocol: str, seed: int, patch_size: int) -> Path:
    return Path(output_dir) / "splits" / f"{dataset}_{protocol}_p{patch_size}_seed{seed}.npz"


def load_or_make_split(output_dir, dataset: str, protocol: str, gt: np.ndarray, seed: int, patch_size: int) -> Split:
    """The stored split when it exists (so a rerun uses exactly the same pixels), else a new one, saved."""
    path = split_path(output_dir, dataset, protocol, seed, patch_size)
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            if tuple(data["shape"]) != tuple(gt.shape):
                raise InputError(f"{path} was made for a scene of shape {tuple(data['shape'])}")
            notes = json.loads(str(data["notes"]))
            return Split(protocol, seed, data["train"].astype(np.int64), data["test"].astype(np.int64), notes)
    split = make_split(protocol, gt, seed, patch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(path, ".npz")
    np.savez_compressed(tmp, train=split.train.astype(np.int32), test=split.test.astype(np.int32),
                        shape=np.array(gt.shape), notes=json.dumps(split.notes))
    tmp.replace(path)
    return split
