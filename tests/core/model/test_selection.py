import math

import pytest

from contrastdm.model.selection import EpochSelector, choose_epoch, tolerance


def test_tolerance_is_one_standard_error_and_at_least_one_pixel():
    assert tolerance(0.75, 32) == pytest.approx(math.sqrt(0.75 * 0.25 / 32))
    assert tolerance(1.0, 32) == pytest.approx(1 / 32)
    assert tolerance(0.5, 10_000) == pytest.approx(0.005)
    assert tolerance(0.9, 0) == 0.0


def test_an_early_lucky_epoch_loses_to_a_later_one_within_noise():
    # 32 validation pixels: epoch 2 leads by one pixel, epochs 5 and 6 are as good within one SE.
    n = 32
    curve = [20 / n, 25 / n, 23 / n, 22 / n, 24 / n, 24 / n, 18 / n]
    assert choose_epoch(curve, n) == 6


def test_a_clear_winner_is_kept():
    n = 1000
    curve = [0.60, 0.90, 0.80, 0.81, 0.79]
    assert choose_epoch(curve, n) == 2


def test_streaming_choice_equals_the_whole_curve_rule():
    """The kept epoch is the latest whose OA reaches max(oa - tolerance(oa)) over the whole curve."""
    import random

    rng = random.Random(3)
    for _ in range(300):
        n = rng.choice([5, 16, 32, 200])
        curve = [rng.randint(0, n) / n for _ in range(rng.randint(1, 30))]
        threshold = max(oa - tolerance(oa, n) for oa in curve)
        expected = max(i + 1 for i, oa in enumerate(curve) if oa >= threshold)
        selector = EpochSelector(n)
        kept = [i + 1 for i, oa in enumerate(curve) if selector.update(i + 1, oa)]
        assert selector.epoch == expected == kept[-1]
        assert selector.best_oa == max(curve) and selector.oa == curve[expected - 1]
