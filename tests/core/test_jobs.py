"""Train, classify and evaluate through the Python API on generated scenes."""

import numpy as np
import pytest
import rasterio
from scenes import TINY, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import load_model
from contrastdm.errors import Cancelled, ModelFileError
from contrastdm.feedback import RecordingFeedback


def test_training_writes_a_model_with_its_classes_and_history(trained):
    model = load_model(trained.model)
    assert [c.name for c in model.classes] == ["Corn", "Soybean", "Woods"]
    assert model.in_bands == 12 and model.patch_size == 5
    history = model.metadata["history"]
    assert all(len(history[stage]) > 0 for stage in ("contrastive", "diffusion", "finetune"))
    assert model.metadata["training"]["pixels_per_class"] == {"Corn": 32, "Soybean": 32, "Woods": 32}
    assert "UTM zone 16N" in model.metadata["crs"]
    stages = model.metadata["training"]["stage_seconds"]
    assert {"read", "contrastive", "finetune", "spectral"} <= set(stages)
    assert sum(stages.values()) <= model.metadata["training"]["seconds"] + 0.1


def test_classification_keeps_the_grid_and_finds_the_classes(trained, tmp_path):
    out = tmp_path / "map.tif"
    conf = tmp_path / "conf.tif"
    result = contrastdm.classify(trained.raster, trained.model, out, confidence=conf, device="cpu")
    with rasterio.open(out) as m, rasterio.open(trained.raster) as src:
        assert m.crs == src.crs and m.transform == src.transform and m.shape == src.shape
        labels = m.read(1)
    with rasterio.open(conf) as c:
        confidence = c.read(1)
    assert np.all((confidence > 0) & (confidence <= 1))
    accuracy = np.mean(labels == trained.truth)
    assert accuracy > 0.9, accuracy
    assert result.pixels == labels.size


def test_tiled_classification_equals_one_tile(trained, tmp_path):
    contrastdm.classify(trained.raster, trained.model, tmp_path / "a.tif", confidence=tmp_path / "ca.tif",
                        tile_size=7, device="cpu")
    contrastdm.classify(trained.raster, trained.model, tmp_path / "b.tif", confidence=tmp_path / "cb.tif",
                        tile_size=512, device="cpu")
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    with rasterio.open(tmp_path / "ca.tif") as a, rasterio.open(tmp_path / "cb.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-5)


def test_saved_model_predicts_like_the_trained_one(trained, tmp_path):
    contrastdm.classify(trained.raster, trained.result.model, tmp_path / "mem.tif", device="cpu")
    contrastdm.classify(trained.raster, trained.model, tmp_path / "file.tif", device="cpu")
    with rasterio.open(tmp_path / "mem.tif") as a, rasterio.open(tmp_path / "file.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_nodata_pixels_stay_unclassified(trained, tmp_path):
    scene = write_scene(tmp_path / "holes.tif", nodata=0, nodata_border=3)
    contrastdm.classify(scene.raster, trained.model, tmp_path / "map.tif", device="cpu")
    with rasterio.open(tmp_path / "map.tif") as m:
        labels = m.read(1)
    assert np.all(labels[:3] == 0) and np.all(labels[:, -3:] == 0)
    assert np.all(labels[3:-3, 3:-3] > 0)


def test_nan_nodata_never_reaches_the_fused_and_smoothed_probabilities(trained, tmp_path):
    scene = write_scene(tmp_path / "nan.tif", dtype="float32", nodata=float("nan"), nodata_border=3)
    contrastdm.classify(scene.raster, trained.model, tmp_path / "map.tif", confidence=tmp_path / "conf.tif",
                        device="cpu")
    with rasterio.open(tmp_path / "map.tif") as m, rasterio.open(tmp_path / "conf.tif") as c:
        labels, confidence = m.read(1), c.read(1)
    assert np.all(labels[:3] == 0) and np.all(labels[3:-3, 3:-3] > 0)
    assert np.isfinite(confidence).all() and np.all(confidence[3:-3, 3:-3] > 0)


def test_band_count_mismatch_is_refused_and_writes_nothing(trained, tmp_path):
    other = write_scene(tmp_path / "other.tif", bands=10)
    with pytest.raises(ModelFileError, match="12 bands but the raster has 10"):
        contrastdm.classify(other.raster, trained.model, tmp_path / "map.tif", device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.tif"]


def test_evaluation_matches_the_truth(trained, tmp_path):
    contrastdm.classify(trained.raster, trained.model, tmp_path / "map.tif", device="cpu")
    everything = write_polygons(tmp_path / "all.gpkg", trained, [(0, 0, 40, 16, 1), (0, 16, 40, 32, 2), (0, 32, 40, 48, 3)])
    metrics = contrastdm.evaluate(tmp_path / "map.tif", everything, "class_name", tmp_path / "report.html")
    with rasterio.open(tmp_path / "map.tif") as m:
        expected = 100 * np.mean(m.read(1) == trained.truth)
    assert metrics["overall_accuracy"] == pytest.approx(expected)
    assert metrics["reference_pixels"] == 40 * 48
    assert (tmp_path / "report.html").exists() and (tmp_path / "report.json").exists()


@pytest.mark.parametrize("cancel_after", [3, 12, 40])
def test_cancellation_at_any_stage_leaves_no_file(scene, tmp_path, cancel_after):
    out = tmp_path / "out"
    out.mkdir()
    feedback = RecordingFeedback(cancel_after=cancel_after)
    with pytest.raises(Cancelled):
        contrastdm.run(scene.raster, scene.training, "class_name", out / "m.safetensors", out / "map.tif",
                       confidence=out / "conf.tif", report=out / "r.html", device="cpu", feedback=feedback, **TINY)
    assert list(out.iterdir()) == []


def test_same_seed_gives_the_same_map(scene, tmp_path):
    maps = []
    for name in ("a", "b"):
        contrastdm.run(scene.raster, scene.training, "class_name", tmp_path / f"{name}.safetensors",
                       tmp_path / f"{name}.tif", device="cpu", **TINY)
        with rasterio.open(tmp_path / f"{name}.tif") as m:
            maps.append(m.read(1))
    np.testing.assert_array_equal(*maps)


def _probabilities(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read().astype(np.float64)


def test_labels_drawn_as_areas_train_a_spectral_member_that_the_map_averages_in(trained, tmp_path):
    import dataclasses

    import torch

    from contrastdm.model.spectral import member_probabilities

    model = load_model(trained.model)
    gate = model.metadata["training"]["spectral_member"]
    assert gate["requested"] == "auto" and gate["member"] == "on" and gate["neighbour_share"] >= 0.5
    assert model.metadata["config"]["spectral_member"] == "on" and model.spectral is not None
    fused, own = tmp_path / "fused.tif", tmp_path / "own.tif"
    contrastdm.classify(trained.raster, model, tmp_path / "a.tif", probabilities=fused, smoothing_radius=0,
                        device="cpu")
    contrastdm.classify(trained.raster, dataclasses.replace(model, spectral=None), tmp_path / "b.tif",
                        probabilities=own, smoothing_radius=0, device="cpu")
    with rasterio.open(trained.raster) as src:
        bands = src.read().astype(np.float32)
    spectra = model.preprocessor.standardiser().transform(bands).reshape(bands.shape[0], -1).T
    spectral = member_probabilities(model.spectral, spectra, torch.device("cpu")).T.reshape(-1, *bands.shape[1:])
    expected = (1 - model.network.config.spectral_weight) * _probabilities(own) + \
        model.network.config.spectral_weight * spectral
    np.testing.assert_allclose(_probabilities(fused), expected, atol=1e-5)
    assert not np.allclose(_probabilities(own), expected, atol=1e-3)  # the member changes the probabilities


def test_scattered_point_labels_train_no_spectral_member(tmp_path):
    from safetensors import safe_open

    scene = write_scene(tmp_path / "scene.tif")
    rng = np.random.default_rng(3)
    height, width = scene.truth.shape
    flat = rng.choice(height * width, size=60, replace=False)
    points = [(int(r), int(c), int(r) + 1, int(c) + 1, int(scene.truth[r, c])) for r, c in zip(*np.divmod(flat, width))]
    vector = write_polygons(tmp_path / "points.gpkg", scene, points)
    result = contrastdm.train(scene.raster, vector, "class_name", tmp_path / "m.safetensors", device="cpu", **TINY)
    gate = result.model.metadata["training"]["spectral_member"]
    assert gate["member"] == "off" and gate["neighbour_share"] < 0.5 and result.model.spectral is None
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as handle:
        assert not [k for k in handle.keys() if k.startswith("spectral.")]
    assert load_model(tmp_path / "m.safetensors").spectral is None


def _rewrite(source, target, drop_member: bool, config_changes: dict):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), framework="pt") as handle:
        metadata = json.loads(handle.metadata()["contrastdm"])
        tensors = {k: handle.get_tensor(k) for k in handle.keys() if not (drop_member and k.startswith("spectral."))}
    for key, value in config_changes.items():
        if value is None:
            metadata["config"].pop(key)
        else:
            metadata["config"][key] = value
    save_file(tensors, str(target), metadata={"contrastdm": json.dumps(metadata)})


def test_a_model_file_from_before_the_spectral_member_still_loads_and_classifies(trained, tmp_path):
    old = tmp_path / "old.safetensors"
    _rewrite(trained.model, old, drop_member=True, config_changes={"spectral_member": None, "spectral_weight": None})
    model = load_model(old)
    assert model.spectral is None and model.network.config.spectral_member == "off"
    contrastdm.classify(trained.raster, old, tmp_path / "map.tif", device="cpu")
    with rasterio.open(tmp_path / "map.tif") as m:
        assert np.mean(m.read(1) == trained.truth) > 0.8


def test_a_model_file_whose_member_weights_are_missing_is_refused(trained, tmp_path):
    broken = tmp_path / "broken.safetensors"
    _rewrite(trained.model, broken, drop_member=True, config_changes={})
    with pytest.raises(ModelFileError, match="spectral member"):
        load_model(broken)
    stray = tmp_path / "stray.safetensors"
    _rewrite(trained.model, stray, drop_member=False, config_changes={"spectral_member": "off"})
    with pytest.raises(ModelFileError, match="spectral member"):
        load_model(stray)


def test_the_gate_reads_the_polygons_before_a_cap_thins_them_out(scene, tmp_path):
    result = contrastdm.train(scene.raster, scene.training, "class_name", tmp_path / "m.safetensors", device="cpu",
                              max_per_class=8, **TINY)
    assert result.model.metadata["training"]["pixels_per_class"] == {"Corn": 8, "Soybean": 8, "Woods": 8}
    gate = result.model.metadata["training"]["spectral_member"]
    assert gate["member"] == "on" and gate["neighbour_share"] > 0.5  # 8 random pixels of 32 would be ~0.2


def test_validation_on_held_out_polygons_chooses_the_epoch_then_refits_on_every_label(scene, tmp_path):
    options = {**TINY, "validation_split": "polygons", "refit_all": True}
    result = contrastdm.train(scene.raster, scene.training, "class_name", tmp_path / "m.safetensors", device="cpu",
                              **options)
    validation = result.validation
    assert validation["source"] == "polygons" and validation["n"] > 0
    total = sum(result.model.metadata["training"]["pixels_per_class"].values())
    assert validation["n"] == 3 * 16  # one whole 4 x 4 box of each class (two per class; far apart: no halo)
    assert validation["selection_training_n"] + validation["n"] == total
    assert validation["refit_samples"] == total  # the refit on every label
