"""The smoothing radius from the scene's spatial scale: the correlation by distance, the rule, and training."""

import numpy as np
import pytest
from scenes import TINY, training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import read_metadata
from contrastdm.scene_scale import correlation_by_lag, radius_for_scene


def cell_patches(cell: int, count: int = 3000, patch: int = 11, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Patches [N, 3, p, p] of an image of square cells ``cell`` px wide, each with its own random value:
    pixels ``h`` apart along a row are in the same cell with probability ``max(0, 1 - h / cell)``."""
    rng = np.random.default_rng(seed)
    size = 200
    cells = rng.standard_normal((3, size // cell + 2, size // cell + 2))
    image = np.repeat(np.repeat(cells, cell, axis=1), cell, axis=2)[:, :size, :size]
    image = image + noise * rng.standard_normal(image.shape)
    rows, cols = rng.integers(0, size - patch, count), rng.integers(0, size - patch, count)
    return np.stack([image[:, r:r + patch, c:c + patch] for r, c in zip(rows, cols)]).astype(np.float32)


@pytest.mark.parametrize("cell", [1, 3, 12])
def test_the_correlation_falls_with_distance_as_the_objects_size_says(cell):
    measured = correlation_by_lag(cell_patches(cell), 5)
    expected = [max(0.0, 1 - lag / cell) for lag in range(1, 6)]
    np.testing.assert_allclose(measured, expected, atol=0.06)


def test_noise_lowers_the_correlation_by_the_signal_share():
    clean, noisy = correlation_by_lag(cell_patches(12), 3), correlation_by_lag(cell_patches(12, noise=1.0), 3)
    np.testing.assert_allclose(noisy, np.array(clean) / 2, atol=0.06)  # signal and noise of equal variance


def test_any_reduction_gives_the_correlation_of_the_bands_it_keeps():
    bands = np.concatenate([cell_patches(cell)[:, :1] for cell in (1, 3, 12)], axis=1)  # alike to 0, 2, 11 px
    components = np.diag([0.2, 1.0, 5.0]) + 0.3  # not orthonormal, as MNF's are not
    reduced = np.einsum("nbhw,bk->nkhw", bands, components)
    np.testing.assert_allclose(correlation_by_lag(reduced, 4, components), correlation_by_lag(bands, 4), atol=1e-9)
    assert abs(correlation_by_lag(reduced, 1)[0] - correlation_by_lag(bands, 1)[0]) > 0.05  # unmapped: it differs


def test_the_radius_is_the_distance_up_to_which_pixels_stay_alike():
    assert radius_for_scene(cell_patches(1), 5)["radius"] == 0
    assert radius_for_scene(cell_patches(3), 5)["radius"] == 1  # 0.67 at 1 px, 0.33 at 2 px
    wide = radius_for_scene(cell_patches(12), 5)
    assert wide["radius"] == 5 and wide["configured"] == 5 and len(wide["correlation"]) == 5
    assert radius_for_scene(cell_patches(12), 3)["radius"] == 3  # never above the configured radius
    # Patches 3 px wide reach 2 px: alike that far, the configured radius stays.
    assert radius_for_scene(cell_patches(12, patch=3), 5) == {"radius": 5, "configured": 5,
                                                               "correlation": pytest.approx([0.92, 0.83], abs=0.06)}
    assert radius_for_scene(cell_patches(1), 0)["radius"] == 0
    assert radius_for_scene(cell_patches(1)[:0], 4)["radius"] == 4  # nothing to measure: as configured


@pytest.mark.parametrize("grain, radius", [("fields", 5), ("pixels", 0)])
def test_training_lowers_the_radius_on_a_fine_grained_scene_only(tmp_path, grain, radius):
    truth = None
    if grain == "pixels":  # every pixel its own object
        truth = np.random.default_rng(0).integers(1, 4, (40, 48))
    scene = write_scene(tmp_path / "scene.tif", truth=truth)
    training = write_polygons(tmp_path / "training.gpkg", scene, training_boxes(scene))
    model_path, report = tmp_path / "model.safetensors", tmp_path / "train.html"
    contrastdm.train(scene.raster, training, "class_name", model_path, device="cpu", cache=None, report=report,
                     **{**TINY, "smoothing_radius": 5, "smoothing_from_scene": True})
    metadata = read_metadata(model_path)
    choice = metadata["training"]["smoothing_scale"]
    assert choice["radius"] == radius == metadata["config"]["smoothing_radius"]
    assert choice["configured"] == 5 and metadata["config"]["smoothing_from_scene"] is True
    assert "Smoothing radius from the scene" in report.read_text()


def test_without_the_setting_the_radius_is_as_configured(tmp_path):
    truth = np.random.default_rng(0).integers(1, 4, (40, 48))
    scene = write_scene(tmp_path / "scene.tif", truth=truth)
    training = write_polygons(tmp_path / "training.gpkg", scene, training_boxes(scene))
    contrastdm.train(scene.raster, training, "class_name", tmp_path / "m.safetensors", device="cpu", cache=None,
                     **{**TINY, "smoothing_radius": 5})
    metadata = read_metadata(tmp_path / "m.safetensors")
    assert metadata["config"]["smoothing_radius"] == 5 and "smoothing_scale" not in metadata["training"]
