"""Accuracy assessment of a classification against reference labels.

Everything returned is plain JSON-serialisable Python (int, float, str, list, dict, None).
Accuracies are percentages (0..100); kappa is a ratio (-1..1). A value that is undefined (0/0, e.g.
the precision of a class that was never predicted) is ``None``.

Labels are raster class ids. Reference pixels with id 0 are ignored (no reference). A prediction of
0 (unclassified) -- or of an id that is not in ``class_ids`` -- counts as wrong: it lowers the recall
of the reference class and OA, it is kept out of the K x K confusion matrix and counted in
``unclassified`` per reference class instead, and it enters kappa as an extra "unclassified" column.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .errors import InputError


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) label indices in 0..n_classes-1; rows are true, columns predicted."""
    t = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in size: {t.size} != {p.size}")
    n = int(n_classes)
    if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= n or p.max() >= n):
        raise ValueError(f"labels must be in 0..{n - 1}")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def _ratio(num: float, den: float, scale: float = 100.0) -> Optional[float]:
    return None if den == 0 else float(scale * num / den)


def classification_metrics(
    y_true, y_pred, class_ids: Sequence[int], class_names: Sequence[str]
) -> dict:
    """OA, AA, kappa, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true``/``y_pred``: arrays of class ids of the same size. Returns::

        {"overall_accuracy": %, "average_accuracy": %, "kappa": float | None,
         "n_samples": int, "n_correct": int, "n_unclassified": int,
         "class_ids": [...], "class_names": [...],
         "per_class": [{"id", "name", "support", "predicted", "correct", "unclassified",
                        "precision": %|None, "recall": %|None, "f1": %|None}, ...],
         "confusion_matrix": [[int]] (rows = reference, columns = prediction, class-list order),
         "unclassified": [int] (reference pixels of each class predicted 0 or unknown)}

    AA is the mean recall over the classes present in ``y_true``.
    """
    ids = [int(i) for i in class_ids]
    names = [str(n) for n in class_names]
    if len(ids) != len(names):
        raise ValueError("class_ids and class_names differ in length")
    if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
        raise ValueError("class ids must be unique and > 0")
    t = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in size: {t.size} != {p.size}")
    keep = t != 0
    t, p = t[keep], p[keep]
    if t.size == 0:
        raise InputError("no reference pixels to evaluate against")

    k = len(ids)
    ti, pi = _class_indices(ids, t, p)
    full = confusion_matrix(ti, pi, k + 1)  # extra last row/column: unclassified
    cm = full[:k, :k]
    unclassified = full[:k, k]
    n = int(t.size)
    correct = int(np.trace(cm))
    support = full[:k].sum(axis=1)  # all reference pixels of each class
    predicted = cm.sum(axis=0)  # pixels predicted as each class

    per_class = _per_class(ids, names, cm, support, predicted, unclassified)
    recalls = [c["recall"] for c in per_class if c["recall"] is not None]

    p_o = correct / n
    rows = full.sum(axis=1).astype(np.float64)
    cols = full.sum(axis=0).astype(np.float64)
    p_e = float((rows * cols).sum()) / (n * n)
    kappa = None if p_e >= 1.0 else float((p_o - p_e) / (1.0 - p_e))

    return {
        "overall_accuracy": float(100.0 * p_o),
        "average_accuracy": float(np.mean(recalls)) if recalls else None,
        "kappa": kappa,
        "n_samples": n,
        "n_correct": correct,
        "n_unclassified": int(unclassified.sum()),
        "class_ids": ids,
        "class_names": names,
        "per_class": per_class,
        "confusion_matrix": cm.astype(int).tolist(),
        "unclassified": unclassified.astype(int).tolist(),
    }


def _class_indices(ids: list[int], t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference and predicted class ids as indices into ``ids``; len(ids) for unclassified or unknown
    predictions. An unknown reference id is an input error."""
    k = len(ids)
    lookup_size = max(max(ids), int(t.max()), int(p.max()), 0) + 1
    index = np.full(lookup_size, k, dtype=np.int64)  # k = unclassified / unknown
    index[ids] = np.arange(k)
    ti = index[np.clip(t, 0, None)]
    ti[t < 0] = k
    if (ti == k).any():
        unknown = sorted(set(t[ti == k].tolist()))
        raise InputError(f"reference labels hold class ids not in the class list: {unknown[:10]}")
    pi = index[np.clip(p, 0, None)]
    pi[p < 0] = k
    return ti, pi


def _per_class(ids, names, cm, support, predicted, unclassified) -> list[dict]:
    rows = []
    for j in range(len(ids)):
        precision = _ratio(cm[j, j], predicted[j])
        recall = _ratio(cm[j, j], support[j])
        f1 = None
        if precision is not None and recall is not None:
            f1 = 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))
        rows.append({
            "id": ids[j], "name": names[j], "support": int(support[j]), "predicted": int(predicted[j]),
            "correct": int(cm[j, j]), "unclassified": int(unclassified[j]),
            "precision": precision, "recall": recall, "f1": f1,
        })
    return rows
