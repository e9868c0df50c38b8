import json

import numpy as np
import pytest

from contrastdm.errors import InputError
from contrastdm.metrics import classification_metrics, confusion_matrix

IDS = [1, 2, 4]
NAMES = ["A", "B", "C"]
# The last pixel has no reference (0) and is ignored; the 4th is left unclassified (0) and is an error.
Y_TRUE = np.array([1, 1, 1, 1, 2, 2, 2, 4, 4, 4, 0])
Y_PRED = np.array([1, 1, 2, 0, 2, 2, 1, 4, 4, 2, 4])


def _plain(value):
    """Fails on anything that is not a plain JSON type."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (int, float, str, bool)


def test_confusion_matrix():
    cm = confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 0], 3)


def test_hand_computed_example():
    m = classification_metrics(Y_TRUE, Y_PRED, IDS, NAMES)
    assert m["n_samples"] == 10 and m["n_correct"] == 6 and m["n_unclassified"] == 1
    assert m["overall_accuracy"] == pytest.approx(60.0)
    assert m["average_accuracy"] == pytest.approx((50 + 200 / 3 + 200 / 3) / 3)
    # p_o = 0.6; p_e = (4*3 + 3*4 + 3*2 + 0*1) / 100 = 0.3 (the unclassified column has no reference row)
    assert m["kappa"] == pytest.approx(0.3 / 0.7)
    assert m["confusion_matrix"] == [[2, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert m["unclassified"] == [1, 0, 0]
    a, b, c = m["per_class"]
    assert (a["id"], a["name"], a["support"], a["predicted"]) == (1, "A", 4, 3)
    assert a["precision"] == pytest.approx(200 / 3) and a["recall"] == pytest.approx(50.0)
    assert a["f1"] == pytest.approx(2 * (200 / 3) * 50 / (200 / 3 + 50))
    assert b["precision"] == pytest.approx(50.0) and b["recall"] == pytest.approx(200 / 3)
    assert c["precision"] == pytest.approx(100.0) and c["f1"] == pytest.approx(80.0)
    assert _plain(m)
    assert json.loads(json.dumps(m)) == m


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_against_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.choice([1, 2, 4, 7], size=500)
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.choice([0, 1, 2, 4, 7], size=500))
    m = classification_metrics(y_true, y_pred, [1, 2, 4, 7], ["a", "b", "c", "d"])
    assert m["overall_accuracy"] == pytest.approx(100 * metrics.accuracy_score(y_true, y_pred))
    assert m["kappa"] == pytest.approx(metrics.cohen_kappa_score(y_true, y_pred))
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=[1, 2, 4, 7], zero_division=0)
    assert [row["precision"] for row in m["per_class"]] == pytest.approx(list(100 * p))
    assert [row["recall"] for row in m["per_class"]] == pytest.approx(list(100 * r))
    assert [row["f1"] for row in m["per_class"]] == pytest.approx(list(100 * f))
    assert [row["support"] for row in m["per_class"]] == list(s)
    assert m["average_accuracy"] == pytest.approx(100 * metrics.balanced_accuracy_score(y_true, y_pred))
    cm = metrics.confusion_matrix(y_true, y_pred, labels=[1, 2, 4, 7])
    assert m["confusion_matrix"] == cm.tolist()


def test_undefined_values_are_none_and_absent_classes_leave_aa():
    # class 3 never appears in the reference (recall undefined) and class 2 is never predicted.
    m = classification_metrics([1, 1, 2], [1, 3, 1], [1, 2, 3], ["a", "b", "c"])
    a, b, c = m["per_class"]
    assert b["precision"] is None and b["recall"] == 0.0 and b["f1"] is None
    assert c["recall"] is None and c["precision"] == 0.0 and c["f1"] is None
    assert m["average_accuracy"] == pytest.approx((50.0 + 0.0) / 2)


def test_perfect_single_class_kappa_is_undefined():
    m = classification_metrics([5, 5], [5, 5], [5], ["only"])
    assert m["overall_accuracy"] == 100.0 and m["kappa"] is None


def test_input_errors():
    with pytest.raises(InputError, match="not in the class list"):
        classification_metrics([1, 9], [1, 1], [1], ["a"])
    with pytest.raises(InputError, match="no reference"):
        classification_metrics([0, 0], [1, 1], [1], ["a"])
    with pytest.raises(ValueError):
        classification_metrics([1], [1, 1], [1], ["a"])
