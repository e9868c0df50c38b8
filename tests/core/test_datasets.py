import geopandas as gpd
import numpy as np
import pytest
import rasterio

from contrastdm.datasets import (
    INDIAN_PINES_CLASSES,
    load_indian_pines,
    prepare_indian_pines,
    training_rectangles,
    validation_mask,
)
from contrastdm.io.raster import describe, open_raster
from contrastdm.io.vectors import load_labels


@pytest.fixture(scope="module")
def indian_pines():
    return load_indian_pines()


def test_indian_pines_arrays_match_the_published_counts(indian_pines):
    cube, gt = indian_pines
    assert cube.shape == (145, 145, 200) and cube.dtype == np.uint16
    assert (cube.min(), cube.max()) == (955, 9604)
    counts = np.bincount(gt.ravel(), minlength=17)
    assert counts[0] == 10776 and counts[1:].sum() == 10249
    assert counts[9] == 20 and counts[11] == 2455


def test_training_rectangles_sit_inside_their_fields(indian_pines):
    _, gt = indian_pines
    rectangles = training_rectangles(gt, seed=0)
    per_class = np.zeros(17)
    for r0, c0, r1, c1, value in rectangles:
        assert np.all(gt[r0:r1, c0:c1] == value)
        per_class[value] += (r1 - r0) * (c1 - c0)
    share = per_class[1:] / np.bincount(gt.ravel(), minlength=17)[1:]
    assert np.all(per_class[1:] >= 3)
    assert 0.04 < per_class.sum() / (gt > 0).sum() < 0.10
    assert np.median(share) < 0.12


def test_validation_pixels_never_fall_inside_a_training_patch(indian_pines):
    _, gt = indian_pines
    rectangles = training_rectangles(gt, seed=0)
    valid = validation_mask(gt, rectangles, 11)
    rows, cols = np.nonzero(valid)
    for r0, c0, r1, c1, _ in rectangles:
        dr = np.maximum(np.maximum(r0 - rows, rows - (r1 - 1)), 0)
        dc = np.maximum(np.maximum(c0 - cols, cols - (c1 - 1)), 0)
        assert np.all(np.maximum(dr, dc) > 5)


def test_prepared_scene_is_georeferenced_and_polygons_round_trip(tmp_path, indian_pines):
    paths = prepare_indian_pines(tmp_path)
    with rasterio.open(paths["raster"]) as ds:
        assert (ds.count, ds.height, ds.width) == (200, 145, 145)
        assert ds.crs.to_epsg() == 32616 and ds.profile["tiled"]
        np.testing.assert_array_equal(ds.read(17), indian_pines[0][:, :, 16])
    training = gpd.read_file(paths["training"])
    assert training.crs.to_epsg() == 4326 and training["class_name"].dtype == object
    with open_raster(paths["raster"]) as ds:
        info = describe(ds)
    pixels = load_labels(paths["training"], "class_name", info)
    _, gt = indian_pines
    names = np.array([pixels.classes.names[pixels.classes.ids.index(c)] for c in pixels.class_ids])
    expected = np.array(INDIAN_PINES_CLASSES)[gt[pixels.rows, pixels.cols] - 1]
    assert np.array_equal(names, expected)
    validation = load_labels(paths["validation"], "class_name", info)
    assert not set(zip(pixels.rows, pixels.cols)) & set(zip(validation.rows, validation.cols))
