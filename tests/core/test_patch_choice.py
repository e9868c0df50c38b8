"""The patch size chosen on held-out polygons: the rule, the crops, and a training run that makes the choice."""

import numpy as np
import pytest
from scenes import TINY, training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import load_model
from contrastdm.errors import InputError
from contrastdm.io.raster import describe, open_raster
from contrastdm.patch_choice import candidates, centre_crop, choose, thin_per_class
from contrastdm.preprocess import fit_preprocessor, sample_pixels
from contrastdm.sampling import extract_patches


def test_the_configured_size_stays_unless_a_candidate_wins_clearly():
    assert candidates(11) == (5, 7, 11) and candidates(9) == (5, 7, 9, 11)
    n = 400  # the margin: more than max(2 pixels, 1% = 4 pixels)
    assert choose({5: 304, 7: 300, 11: 300}, 11, n) == (11, False)
    assert choose({5: 305, 7: 300, 11: 300}, 11, n) == (5, True)
    assert choose({5: 310, 7: 310, 11: 300}, 11, n) == (5, True)  # a tie goes to the smaller size
    assert choose({5: 310, 7: 300, 11: 310}, 11, n) == (11, False)  # and never away from the configured one
    assert choose({5: 290, 7: 300, 11: 320}, 5, n) == (11, True)


def test_probes_see_at_most_a_bounded_number_of_pixels_per_class():
    labels = np.repeat([0, 1, 2], [50, 5, 20])
    index = np.arange(3, 75)  # the first three pixels of class 0 are not in this side of the split
    thinned = thin_per_class(index, labels, 10, seed=0)
    assert np.all(np.diff(thinned) > 0) and set(thinned) <= set(index)
    assert np.bincount(labels[thinned]).tolist() == [10, 5, 10]
    assert np.array_equal(thin_per_class(index, labels, 100, seed=0), index)


def test_a_centre_crop_is_the_patch_read_at_that_size(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=21, width=19, bands=6, dtype="float32")
    rows, cols = np.array([0, 20, 10, 3, 1]), np.array([0, 18, 9, 17, 2])  # corners: reflected halos
    with open_raster(scene.raster) as ds:
        info = describe(ds)
        pre = fit_preprocessor(sample_pixels(ds, info, 1000, 0).complete(slice(None))[0], 3)
        wide, _ = extract_patches(ds, info, rows, cols, 11, pre, block=8)
        narrow, _ = extract_patches(ds, info, rows, cols, 5, pre, block=8)
    assert centre_crop(wide, 5).shape == narrow.shape and centre_crop(wide, 11) is wide
    np.testing.assert_allclose(centre_crop(wide, 5), narrow, rtol=1e-6, atol=1e-6)
    assert centre_crop(None, 5) is None


@pytest.fixture(scope="module")
def polygons_scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("patch")
    scene = write_scene(folder / "scene.tif", height=40, width=48)
    scene.training = write_polygons(folder / "training.gpkg", scene, training_boxes(scene))
    return scene


def test_training_chooses_the_patch_size_and_trains_at_it(polygons_scene, tmp_path):
    scene = polygons_scene
    model_path, report = tmp_path / "model.safetensors", tmp_path / "train.html"
    contrastdm.train(scene.raster, scene.training, "class_name", model_path, device="cpu", cache=None, report=report,
                     **{**TINY, "patch_size": 7, "choose_patch_size": True, "validation_fraction": 0.3})
    model = load_model(model_path)
    choice = model.metadata["training"]["patch_choice"]
    assert [c["patch_size"] for c in choice["candidates"]] == [5, 7, 11]
    assert all(0.0 <= c["oa"] <= 1.0 and c["seconds"] > 0 for c in choice["candidates"])
    assert choice["configured"] == 7 and choice["held_out_pixels"] > 0 and choice["probe_epochs"] == 4
    assert choice["splits"] == 3
    assert model.patch_size == choice["patch_size"] == model.metadata["config"]["patch_size"]
    assert choice["changed"] == (choice["patch_size"] != 7)
    assert "Patch size chosen on held-out polygons" in report.read_text()
    result = contrastdm.classify(scene.raster, model_path, tmp_path / "map.tif", device="cpu")
    assert result.pixels == 40 * 48 and sum(result.class_counts.values()) == 40 * 48


def test_no_choice_with_a_validation_vector_or_a_warm_start(polygons_scene, tmp_path):
    scene = polygons_scene
    model_path = tmp_path / "model.safetensors"
    contrastdm.train(scene.raster, scene.training, "class_name", model_path, device="cpu", cache=None,
                     validation_vector=scene.training, **{**TINY, "choose_patch_size": True})
    choice = load_model(model_path).metadata["training"]["patch_choice"]
    assert choice == {"patch_size": 5, "changed": False, "skipped": "a validation vector was given"}
    with pytest.raises(InputError, match="choose_patch_size"):
        contrastdm.train(scene.raster, scene.training, "class_name", tmp_path / "w.safetensors", device="cpu",
                         cache=None, **{**TINY, "choose_patch_size": True, "warm_start": True})
    assert not (tmp_path / "w.safetensors").exists()


def test_probe_splits_hold_out_whole_polygons_differently_each_time():
    from types import SimpleNamespace

    from contrastdm.patch_choice import FOLDS, probe_splits
    from contrastdm.train import make_config

    # Six 3 x 3 polygons of each of two classes, 10 px apart.
    rows, cols, ids, y = [], [], [], []
    for polygon in range(12):
        r0, c0 = 10 * (polygon // 6), 10 * (polygon % 6)
        for r in range(r0, r0 + 3):
            for c in range(c0, c0 + 3):
                rows.append(r), cols.append(c), ids.append(polygon), y.append(polygon % 2)
    pixels = SimpleNamespace(rows=np.array(rows), cols=np.array(cols), feature_ids=np.array(ids))
    y = np.array(y)
    splits = probe_splits(y, pixels, make_config("balanced", validation_fraction=0.3), halo=2)
    assert len(splits) == FOLDS
    for training, held in splits:
        assert held.size and not set(pixels.feature_ids[training]) & set(pixels.feature_ids[held])
        assert set(y[training]) == {0, 1}
    assert len({tuple(held) for _, held in splits}) > 1  # drawn with different seeds
