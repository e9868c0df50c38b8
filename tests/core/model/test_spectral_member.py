"""The spectral member: the gate on the training pixels' layout, training, probabilities and fusion."""

import numpy as np
import pytest
import torch

from contrastdm.model.spectral import (
    AREA_NEIGHBOURS,
    fit_member,
    fuse,
    member_probabilities,
    neighbour_share,
    resolve,
)


def _block(row0, col0, size):
    rows, cols = np.mgrid[row0:row0 + size, col0:col0 + size]
    return rows.ravel(), cols.ravel()


def test_labels_drawn_as_areas_open_the_gate_and_scattered_points_do_not():
    rows, cols = _block(10, 20, 6)
    assert neighbour_share(rows, cols) == pytest.approx((4 * 3 + 16 * 5 + 16 * 8) / 36 / 8)  # corners, edges, inside
    assert resolve("auto", rows, cols)[0] == "on"
    rng = np.random.default_rng(0)
    flat = rng.choice(145 * 145, size=1000, replace=False)  # a 5 % random sample of a scene
    points = np.divmod(flat, 145)
    assert neighbour_share(*points) < 0.15
    chosen, evidence = resolve("auto", *points)
    assert chosen == "off" and evidence["requested"] == "auto" and evidence["area_threshold"] == AREA_NEIGHBOURS


def test_a_neighbour_never_wraps_onto_the_next_row_and_duplicates_count_once():
    # the last column of one row and the first of the next are not neighbours
    assert neighbour_share([0, 1], [9, 0]) == 0.0
    assert neighbour_share([0, 0, 0], [3, 3, 4]) == pytest.approx(1 / 8)
    assert neighbour_share([], []) == 0.0


def test_explicit_settings_win_over_the_layout_and_unknown_ones_are_refused():
    rows, cols = _block(0, 0, 5)
    assert resolve("off", rows, cols)[0] == "off"
    assert resolve("on", [3, 40], [7, 90])[0] == "on"
    with pytest.raises(ValueError):
        resolve("sometimes", rows, cols)


def test_the_member_learns_separable_spectra_and_gives_probabilities():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, size=(3, 20))
    y = np.repeat(np.arange(3), 30)
    x = (centres[y] + rng.normal(0, 0.2, size=(90, 20))).astype(np.float32)
    state = torch.random.get_rng_state()
    member, info = fit_member(x, y, 3, seed=4, device=torch.device("cpu"), epochs=30)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is left alone
    assert info["refit_samples"] == 90 and 1 <= info["best_epoch"] <= 30
    probs = member_probabilities(member, x, torch.device("cpu"), batch=16)
    assert probs.shape == (90, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (probs.argmax(1) == y).mean() > 0.95
    again, _ = fit_member(x, y, 3, seed=4, device=torch.device("cpu"), epochs=30)
    # seeded: the same computation gives the same bits; another batch size may move the last bit only
    assert np.array_equal(member_probabilities(again, x, torch.device("cpu"), batch=16), probs)
    np.testing.assert_allclose(member_probabilities(again, x, torch.device("cpu")), probs, rtol=0, atol=1e-6)


def test_fusion_is_the_weighted_mean():
    own, spectral = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
    assert np.allclose(fuse(own, spectral, 0.25), [[0.65, 0.35]])
    assert np.array_equal(fuse(own, spectral, 0.0), own)
