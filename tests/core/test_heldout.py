"""Settings chosen on held-out polygons: the rule, the windows, and a scene where a fixed setting fails."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from scenes import CRS, TINY, pixel_box, write_scene

import contrastdm
from contrastdm.bundle import load_model
from contrastdm.heldout import HeldOut, _windows, choose
from contrastdm.model.config import LearnerConfig


def test_the_configured_setting_stays_unless_a_candidate_wins_clearly():
    radii, weights = (0, 5), (0.0, 0.5)
    counts = np.array([[90, 91], [92, 90]])  # (5, 0.5) configured: 90 of 100
    kept = choose(counts, radii, weights, current=(5, 0.5), n=100)
    assert (kept["radius"], kept["weight"], kept["changed"]) == (5, 0.5, False)  # +2 is within the margin
    counts[0, 0] = 93
    taken = choose(counts, radii, weights, current=(5, 0.5), n=100)
    assert (taken["radius"], taken["weight"], taken["changed"]) == (0, 0.0, True)
    assert taken["configured"]["oa"] == 0.9 and len(taken["candidates"]) == 4
    counts[1, 0] = 93  # a tie goes to the smaller radius
    assert choose(counts, radii, weights, current=(5, 0.5), n=100)["radius"] == 0


def test_windows_hold_every_held_out_pixel_once_inside_them():
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 150, 300), rng.integers(0, 130, 300)
    seen = np.zeros(300, dtype=int)
    for window, index in _windows(HeldOut(rows, cols, np.zeros(300, int)), width=130):
        seen[index] += 1
        assert np.all((rows[index] >= window.row_off) & (rows[index] < window.row_off + window.height))
        assert np.all((cols[index] >= window.col_off) & (cols[index] < window.col_off + window.width))
        assert window.col_off + window.width <= 130 and window.row_off + window.height <= 150
    assert np.all(seen == 1)


def _small_objects(folder):
    """One-pixel objects of class 2 every 6 px on class 1; polygons on half of them and on the background."""
    truth = np.ones((48, 48), np.int64)
    objects = [(r, c) for r in range(3, 45, 6) for c in range(3, 45, 6)]
    for r, c in objects:
        truth[r, c] = 2
    scene = write_scene(folder / "scene.tif", height=48, width=48, classes=2, truth=truth)
    boxes = [(pixel_box(scene.transform, r, c, r + 1, c + 1), "Soybean") for r, c in objects[::2]]
    boxes += [(pixel_box(scene.transform, r + 2, c + 2, r + 4, c + 4), "Corn") for r, c in objects[1::3]]
    gpd.GeoDataFrame({"class_name": [n for _, n in boxes]}, geometry=[b for b, _ in boxes], crs=CRS).to_file(
        folder / "training.gpkg")
    return scene


@pytest.mark.parametrize("settings", ["radius,weight", "radius"])
def test_a_radius_chosen_on_held_out_polygons_keeps_objects_a_fixed_wide_one_erases(tmp_path, settings):
    scene = _small_objects(tmp_path)
    model = tmp_path / "model.safetensors"
    # A wide, nearly edge-blind smoothing erases one-pixel objects; the held-out polygons show it.
    contrastdm.train(scene.raster, tmp_path / "training.gpkg", "class_name", model, device="cpu", cache=None,
                     report=tmp_path / "train.html", **{**TINY, "validation_split": "polygons", "choose_on_held_out": True, "validation_fraction": 0.3, "smoothing_radius": 5, "smoothing_from_scene": False, "member_from_scene": False,
                        "smoothing_eps": 10.0, "spectral_epochs": 20, "held_out_settings": settings})
    saved = load_model(model)
    choice = saved.metadata["training"]["held_out_choice"]
    assert choice["changed"] and choice["radius"] < 5
    if settings == "radius":  # the member and its weight stay as the neighbour rule set them
        assert {c["weight"] for c in choice["candidates"]} == {choice["weight"]}
        assert "decided_by" not in saved.metadata["training"]["spectral_member"]
        assert saved.network.config.spectral_weight == LearnerConfig().spectral_weight
    assert choice["configured"]["radius"] == 5 and choice["held_out_pixels"] > 0
    assert max(c["oa"] for c in choice["candidates"]) > choice["configured"]["oa"]
    assert "Settings chosen on held-out polygons" in (tmp_path / "train.html").read_text()
    accuracy = {}
    for name, radius in (("chosen", None), ("fixed", 5)):
        contrastdm.classify(scene.raster, model, tmp_path / f"{name}.tif", device="cpu", smoothing_radius=radius)
        with rasterio.open(tmp_path / f"{name}.tif") as src:
            labels = src.read(1)
        accuracy[name] = float(np.mean(labels[scene.truth == 2] == 2))
    assert accuracy["chosen"] > accuracy["fixed"] + 0.2


def test_no_choice_unless_asked_and_never_without_held_out_polygons(trained):
    from contrastdm.errors import InputError
    from contrastdm.train import make_config

    assert "held_out_choice" not in load_model(trained.model).metadata["training"]
    assert not make_config("balanced", validation_split="polygons").choose_on_held_out
    with pytest.raises(InputError, match="needs validation_split='polygons'"):
        make_config("balanced", choose_on_held_out=True)


def test_the_spectral_member_comes_in_on_evidence_where_the_neighbour_rule_left_it_out(tmp_path):
    """Scattered one-pixel labels on a scene with no spatial structure: the old neighbour rule turned the member
    off; on held-out polygons the network alone is worse than with the member, so it is kept."""
    rng = np.random.default_rng(1)
    truth = rng.integers(1, 4, size=(48, 48))
    scene = write_scene(tmp_path / "scene.tif", height=48, width=48, classes=3, truth=truth, noise=60)
    picks = rng.choice(48 * 48, 240, replace=False)
    names = ["Corn", "Soybean", "Woods"]
    boxes = [pixel_box(scene.transform, p // 48, p % 48, p // 48 + 1, p % 48 + 1) for p in picks]
    gpd.GeoDataFrame({"class_name": [names[truth.ravel()[p] - 1] for p in picks]}, geometry=boxes, crs=CRS).to_file(
        tmp_path / "training.gpkg")
    model_path = tmp_path / "model.safetensors"
    contrastdm.train(scene.raster, tmp_path / "training.gpkg", "class_name", model_path, device="cpu", cache=None,
                     **{**TINY, "validation_split": "polygons", "choose_on_held_out": True, "validation_fraction": 0.3, "smoothing_radius": 0,
                        "spectral_epochs": 20})
    model = load_model(model_path)
    gate, choice = model.metadata["training"]["spectral_member"], model.metadata["training"]["held_out_choice"]
    assert gate["neighbour_share"] < gate["area_threshold"]  # the rule alone would have left the member out
    assert gate["decided_by"] == "held-out polygons" and gate["member"] == "on" and model.spectral is not None
    assert choice["weight"] > 0 and model.network.config.spectral_weight == choice["weight"]
    oa = {(c["radius"], c["weight"]): c["oa"] for c in choice["candidates"]}
    assert oa[(choice["radius"], 0.0)] < oa[(choice["radius"], choice["weight"])]


def test_held_out_scores_come_from_the_map_classification_would_write(trained, tmp_path):
    """Across several windows, the label each candidate gives a held-out pixel is the label of that pixel in
    the map classify() writes with the same radius and weight."""
    import torch

    from contrastdm.heldout import correct_counts
    from contrastdm.io.raster import describe, open_raster

    scene = write_scene(tmp_path / "wide.tif", height=150, width=130, seed=4)
    model = load_model(trained.model)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 150, 200), rng.integers(0, 130, 200)
    with open_raster(scene.raster) as ds:
        info = describe(ds)
    weight = model.network.config.spectral_weight if model.spectral is not None else 0.0
    for radius in (0, 2):
        contrastdm.classify(scene.raster, model, tmp_path / f"map{radius}.tif", device="cpu", smoothing_radius=radius,
                            spectral_weight=weight)
        with rasterio.open(tmp_path / f"map{radius}.tif") as src:
            ids = src.read(1)[rows, cols]
        labels = np.searchsorted(model.class_ids, ids)  # class ids -> class indices
        counts = correct_counts(model, scene.raster, info, HeldOut(rows, cols, labels), torch.device("cpu"),
                                (radius,), (weight,))
        assert counts[0, 0] == 200, radius
