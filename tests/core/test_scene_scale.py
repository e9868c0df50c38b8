"""The smoothing radius from the scene's spatial scale: the correlation by distance, the rule, and training."""

import numpy as np
import pytest
from scenes import TINY, training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import read_metadata
from contrastdm.scene_scale import radius_for_scene, smoothing_correlation


def cell_patches(cell: int, count: int = 1024, patch: int = 11, size: int = 400, seed: int = 0) -> np.ndarray:
    """Patches [N, 3, p, p] of an image of square cells ``cell`` px wide, each with its own random value:
    pixels ``dx`` and ``dy`` apart are in the same cell with probability ``(1 - |dx|/cell)+ (1 - |dy|/cell)+``."""
    rng = np.random.default_rng(seed)
    cells = rng.standard_normal((3, size // cell + 2, size // cell + 2))
    image = np.repeat(np.repeat(cells, cell, axis=1), cell, axis=2)[:, :size, :size]
    rows, cols = rng.integers(0, size - patch, count), rng.integers(0, size - patch, count)
    return np.stack([image[:, r:r + patch, c:c + patch] for r, c in zip(rows, cols)]).astype(np.float32)


def pyramid_share(radius: int, cell: int) -> float:
    """The share of the guided filter's weight on pixels of the same cell, for the image of ``cell_patches``."""
    side = 2 * radius + 1
    axis = sum((side - abs(d)) * max(0.0, 1 - abs(d) / cell) for d in range(-2 * radius, 2 * radius + 1))
    return (axis / side ** 2) ** 2


@pytest.mark.parametrize("cell", [1, 3, 24])
def test_the_share_of_alike_pixels_falls_with_the_radius_as_the_objects_size_says(cell):
    measured = smoothing_correlation(cell_patches(cell), 5)
    np.testing.assert_allclose(measured, [pyramid_share(r, cell) for r in range(1, 6)], atol=0.05)


def test_the_measure_spreads_over_the_whole_sample():
    # The scene's label-free sample is sorted by position: a first part of the scene alone would not do.
    top, bottom = cell_patches(1, count=1500), cell_patches(24, count=1500)
    share = smoothing_correlation(np.concatenate([top, bottom]), 1)[0]
    assert abs(share - (pyramid_share(1, 1) + pyramid_share(1, 24)) / 2) < 0.05


def test_any_reduction_gives_the_correlation_of_the_bands_it_keeps():
    bands = np.concatenate([cell_patches(cell)[:, :1] for cell in (1, 3, 24)], axis=1)  # alike to 0, 2, 23 px
    components = np.diag([0.2, 1.0, 5.0]) + 0.3  # not orthonormal, as MNF's are not
    reduced = np.einsum("nbhw,bk->nkhw", bands, components)
    np.testing.assert_allclose(smoothing_correlation(reduced, 5, components), smoothing_correlation(bands, 5),
                               atol=1e-9)
    assert abs(smoothing_correlation(reduced, 1)[0] - smoothing_correlation(bands, 1)[0]) > 0.05  # unmapped


def test_the_radius_is_the_widest_whose_smoothing_falls_mostly_on_alike_pixels():
    assert pyramid_share(1, 1) < pyramid_share(1, 3) < 0.5 < pyramid_share(5, 24)
    assert radius_for_scene(cell_patches(1), 5)["radius"] == 0
    assert radius_for_scene(cell_patches(3), 5)["radius"] == 0
    wide = radius_for_scene(cell_patches(24), 5)
    assert wide["radius"] == 5 and wide["configured"] == 5 and len(wide["correlation"]) == 5
    assert radius_for_scene(cell_patches(24), 3)["radius"] == 3  # never above the configured radius
    # Patches 5 px wide reach radius 2: alike that far, the configured radius stays.
    narrow = radius_for_scene(cell_patches(24, patch=5), 5)
    assert narrow["radius"] == 5 and len(narrow["correlation"]) == 2
    assert radius_for_scene(cell_patches(1), 0)["radius"] == 0
    assert radius_for_scene(cell_patches(1)[:0], 4)["radius"] == 4  # nothing to measure: as configured
    assert pyramid_share(1, 5) > 0.6 and pyramid_share(2, 5) < 0.47  # cells of 5 px: radius 1
    assert radius_for_scene(cell_patches(5), 5)["radius"] == 1


def test_the_member_leads_only_where_the_radius_had_to_come_down():
    from contrastdm.scene_scale import SMALL_OBJECT_WEIGHT, describe, member_weight

    assert member_weight({"radius": 0, "configured": 5}, 0.5) == SMALL_OBJECT_WEIGHT
    assert member_weight({"radius": 4, "configured": 5}, 0.5) == SMALL_OBJECT_WEIGHT
    assert member_weight({"radius": 5, "configured": 5}, 0.5) == 0.5
    assert member_weight({"radius": 0, "configured": 0}, 0.3) == 0.3  # smoothing off: nothing measured
    assert member_weight({"radius": 1, "configured": 5}, 0.9) == 0.9  # never lowered
    line = describe({"radius": 1, "configured": 5, "correlation": [0.6, 0.4], "applied": False, "member_weight": 0.75,
                     "patch_shift": 0})
    assert "smoothing radius 5 as configured (the scale gives 1)" in line and "member weight 0.75" in line
    assert "patch shift 0 px" in line


def test_the_patch_shift_stops_only_where_the_radius_had_to_come_down():
    from contrastdm.scene_scale import patch_shift

    assert patch_shift({"radius": 0, "configured": 5}, 1) == 0
    assert patch_shift({"radius": 4, "configured": 5}, 2) == 0
    assert patch_shift({"radius": 5, "configured": 5}, 1) == 1
    assert patch_shift({"radius": 0, "configured": 0}, 1) == 1  # smoothing off: nothing measured


def _trained_on_one_pixel_objects(tmp_path, **settings) -> dict:
    """The model file's metadata after training on a scene where every pixel is its own object."""
    truth = np.random.default_rng(0).integers(1, 4, (40, 48))
    scene = write_scene(tmp_path / "scene.tif", truth=truth)
    training = write_polygons(tmp_path / "training.gpkg", scene, training_boxes(scene))
    contrastdm.train(scene.raster, training, "class_name", tmp_path / "m.safetensors", device="cpu", cache=None,
                     **{**TINY, **settings})
    return read_metadata(tmp_path / "m.safetensors")


def test_the_weight_follows_the_scale_with_the_smoothing_fixed(tmp_path):
    metadata = _trained_on_one_pixel_objects(tmp_path, smoothing_radius=2, smoothing_from_scene=False)
    choice = metadata["training"]["smoothing_scale"]
    assert metadata["config"]["smoothing_radius"] == 2 and choice["applied"] is False and choice["radius"] == 0
    assert metadata["config"]["spectral_weight"] == choice["member_weight"] == 0.75


@pytest.mark.parametrize("grain, radius", [("fields", 5), ("pixels", 0)])
def test_training_lowers_the_radius_on_a_fine_grained_scene_only(tmp_path, grain, radius):
    truth = None
    if grain == "pixels":  # every pixel its own object
        truth = np.random.default_rng(0).integers(1, 4, (40, 48))
    scene = write_scene(tmp_path / "scene.tif", truth=truth)
    training = write_polygons(tmp_path / "training.gpkg", scene, training_boxes(scene))
    model_path, report = tmp_path / "model.safetensors", tmp_path / "train.html"
    contrastdm.train(scene.raster, training, "class_name", model_path, device="cpu", cache=None, report=report,
                     **{**TINY, "smoothing_radius": 5, "smoothing_from_scene": True,
                        "choose_patch_size": grain == "fields"})
    metadata = read_metadata(model_path)
    choice = metadata["training"]["smoothing_scale"]
    # Measured on the patches as read: 11 px when the patch size is chosen (5 radii), else the 5 px set (2).
    assert len(choice["correlation"]) == (5 if grain == "fields" else 2)
    assert choice["radius"] == radius == metadata["config"]["smoothing_radius"]
    assert choice["configured"] == 5 and metadata["config"]["smoothing_from_scene"] is True
    # The member leads where the objects are smaller than the window.
    assert choice["member_weight"] == metadata["config"]["spectral_weight"] == (0.5 if grain == "fields" else 0.75)
    assert choice["patch_shift"] == metadata["config"]["aug_shift"] == (1 if grain == "fields" else 0)
    assert metadata["training"]["stage_seconds"]["scene_scale"] >= 0
    assert "Smoothing radius from the scene" in report.read_text()


def test_with_the_settings_off_the_radius_is_as_configured(tmp_path):
    metadata = _trained_on_one_pixel_objects(tmp_path, smoothing_radius=5, smoothing_from_scene=False,
                                             member_from_scene=False, shift_from_scene=False)
    assert metadata["config"]["smoothing_radius"] == 5 and "smoothing_scale" not in metadata["training"]
    assert "scene_scale" not in metadata["training"]["stage_seconds"]
