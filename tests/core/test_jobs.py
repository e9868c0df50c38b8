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
