"""The generated benchmark scenes: fixed, every class present, small urban objects, mixed pixels, and water
bands that the engine's own bad-band selection finds without help."""

import numpy as np
import pytest
from scipy import ndimage

from contrastdm_bench.data import DATASETS, load_scene, make_features
from contrastdm_bench.protocols import make_split
from contrastdm_bench.synthetic import PURE_SHARE, SCENES, WAVELENGTHS, fields_scene, urban_scene


@pytest.fixture(scope="module")
def urban():
    return urban_scene(size=48)


def test_a_scene_is_the_same_every_time_and_has_every_class(urban):
    cube, gt = urban
    again, gt_again = urban_scene(size=48)
    assert np.array_equal(cube, again) and np.array_equal(gt, gt_again)
    assert cube.shape == (48, 48, WAVELENGTHS.size) and cube.dtype == np.int16
    assert set(np.unique(gt)) == set(range(len(SCENES["urban-sim"]) + 1))


def test_urban_objects_are_small_and_their_edges_leave_mixed_pixels(urban):
    _, gt = urban
    roofs, count = ndimage.label(gt == 1)
    assert count > 10 and np.median(np.bincount(roofs.ravel())[1:]) <= 16
    assert 0.01 < (gt == 0).mean() < 0.5  # pixels that no class covers to PURE_SHARE


def test_fields_scene_has_large_and_small_fields_of_every_class():
    cube, gt = fields_scene()
    assert set(np.unique(gt)) == set(range(len(SCENES["fields-sim"]) + 1))
    sizes = np.bincount(ndimage.label(gt > 0)[0].ravel())[1:]
    assert sizes.max() > 2000 and np.sum(sizes < 200) > 20


@pytest.mark.parametrize("name", SCENES)
def test_harness_loads_the_scene_and_finds_the_water_bands_itself(name):
    assert name in DATASETS
    scene = load_scene(name)
    assert scene.wavelengths is not None and len(scene.wavelengths) == scene.cube.shape[2]
    dropped = {int(WAVELENGTHS[i]) for i in make_features(scene, patch_size=5).dropped_bands}
    assert {1380, 1870} <= dropped
    assert not dropped & {550, 850, 1650, 2200}
    split = make_split("blocks", scene.gt, seed=0, patch_size=11)
    assert split.train.size > 300 and split.test.size > 3 * split.train.size
    assert 0 < PURE_SHARE <= 1
