"""Benchmark splits on the real Indian Pines ground truth: disjoint, leakage-free, seeded, stored."""

import numpy as np
import pytest
from scipy import ndimage

from contrastdm_bench.protocols import EIGHT, PROTOCOLS, load_or_make_split, make_split, split_path

PATCH = 11
RADIUS = PATCH // 2
SQUARE = np.ones((2 * RADIUS + 1, 2 * RADIUS + 1), dtype=bool)


@pytest.fixture(scope="module")
def gt():
    from contrastdm.datasets import load_indian_pines

    return load_indian_pines()[1]


def _mask(index, shape):
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[index] = True
    return mask.reshape(shape)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_splits_are_disjoint_labelled_and_cover_every_class(gt, protocol):
    split = make_split(protocol, gt, seed=0, patch_size=PATCH)
    flat = gt.ravel()
    assert np.intersect1d(split.train, split.test).size == 0
    assert np.all(flat[split.train] > 0) and np.all(flat[split.test] > 0)
    assert np.all(np.diff(split.train) > 0) and np.all(np.diff(split.test) > 0)
    assert set(np.unique(flat[split.train])) == set(range(1, 17))  # every class is trained on
    assert split.test.size > 1000


def test_ratio_and_shot_sizes(gt):
    flat = gt.ravel()
    counts = np.bincount(flat, minlength=17)[1:]
    for protocol, fraction in (("ratio-10", 0.10), ("ratio-5", 0.05)):
        split = make_split(protocol, gt, seed=3, patch_size=PATCH)
        train = np.bincount(flat[split.train], minlength=17)[1:]
        assert np.all(np.abs(train - np.maximum(1, np.round(fraction * counts))) <= 1)
        assert split.train.size + split.test.size == counts.sum()
    split = make_split("shot-10", gt, seed=3, patch_size=PATCH)
    train = np.bincount(flat[split.train], minlength=17)[1:]
    assert np.all(train == np.where(counts > 10, 10, counts // 2))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_splits_are_seeded(gt, protocol):
    a = make_split(protocol, gt, seed=1, patch_size=PATCH)
    b = make_split(protocol, gt, seed=1, patch_size=PATCH)
    c = make_split(protocol, gt, seed=2, patch_size=PATCH)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not np.array_equal(a.train, c.train)


@pytest.mark.parametrize("seed", [0, 1])
def test_fields_split_whole_fields_or_a_gap(gt, seed):
    split = make_split("fields", gt, seed=seed, patch_size=PATCH)
    train, test = _mask(split.train, gt.shape), _mask(split.test, gt.shape)
    single = []
    for cid in range(1, 17):
        fields, count = ndimage.label(gt == cid, structure=EIGHT)
        share = (train & (gt == cid)).sum() / (gt == cid).sum()
        assert (test & (gt == cid)).any(), cid
        if count == 1:
            single.append(cid)
            # no training pixel of the class within the patch radius of one of its test pixels
            near_test = ndimage.binary_dilation(test & (gt == cid), structure=SQUARE)
            assert not (near_test & train & (gt == cid)).any(), cid
            assert 0.1 <= share <= 0.5, (cid, share)
        else:
            for f in range(1, count + 1):
                field = fields == f
                assert train[field].all() or test[field].all(), (cid, f)  # a field is never split
            assert 0.2 <= share <= 0.75, (cid, share)
    assert single == [1, 4, 7, 8, 9, 13, 16]  # Alfalfa, Corn, mowed, Hay, Oats, Wheat, Stone-Steel-Towers
    assert split.notes["single_field_classes"] == single


def test_blocks_test_pixels_are_beyond_the_patch_radius(gt):
    split = make_split("blocks", gt, seed=0, patch_size=PATCH)
    near_train = ndimage.binary_dilation(_mask(split.train, gt.shape), structure=SQUARE)
    assert not (near_train & _mask(split.test, gt.shape)).any()
    assert len(split.notes["rectangles"]) > 16


def test_splits_are_stored_and_reused(gt, tmp_path):
    first = load_or_make_split(tmp_path, "indian-pines", "fields", gt, 4, PATCH)
    path = split_path(tmp_path, "indian-pines", "fields", 4, PATCH)
    assert path.is_file()
    with np.load(path) as data:
        assert np.array_equal(data["train"], first.train) and np.array_equal(data["test"], first.test)
    again = load_or_make_split(tmp_path, "indian-pines", "fields", gt, 4, PATCH)
    assert np.array_equal(again.train, first.train) and again.notes == first.notes
