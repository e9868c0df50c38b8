"""Scenes as imaging spectrometers deliver them: flagged bad bands filled with nodata, integer values with a
scale factor, wavelengths in the metadata; a model reused on a scene whose bands are ordered or cut otherwise."""

import json

import numpy as np
import pytest
import rasterio
from scenes import TINY, training_boxes, write_polygons, write_sensor_scene

import contrastdm
from contrastdm.bundle import load_model
from contrastdm.errors import ModelFileError
from contrastdm.io.raster import describe, open_raster, read_window


@pytest.fixture(scope="module")
def sensor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sensor")
    scene = write_sensor_scene(folder / "scene.tif")
    scene.training = write_polygons(folder / "training.gpkg", scene, training_boxes(scene))
    scene.model = folder / "model.safetensors"
    scene.report = folder / "report.html"
    contrastdm.train(scene.raster, scene.training, "class_name", scene.model, report=scene.report, device="cpu",
                     **TINY)
    return scene


def _map(raster, model, path, **options):
    contrastdm.classify(raster, model, path, device="cpu", **options)
    with rasterio.open(path) as ds:
        return ds.read(1), ds.tags()


def test_flagged_bad_bands_filled_with_nodata_are_dropped_and_the_scene_classifies(sensor, tmp_path):
    model = load_model(sensor.model)
    bands = model.metadata["bands"]
    assert bands["indices"] == [i for i in range(14) if i not in (4, 9)]
    assert model.in_bands == 12
    assert {int(k) for k in bands["selection"]["reasons"]} == {4, 9}
    assert bands["wavelengths"] == pytest.approx(list(sensor.wavelengths[~sensor.bad]), abs=0.01)  # tags hold 2 decimals
    labels, tags = _map(sensor.raster, sensor.model, tmp_path / "map.tif")
    assert np.all(labels > 0)  # every pixel is valid in the kept bands
    assert np.mean(labels == sensor.truth) > 0.9
    recorded = json.loads(tags["CONTRASTDM_BANDS"])
    assert recorded["bands"] == [i + 1 for i in bands["indices"]]


def test_the_report_lists_the_dropped_bands_with_the_class_spectra(sensor):
    page = sensor.report.read_text()
    assert "12 of 14 bands used; 2 dropped" in page and "flagged bad in the metadata" in page
    data = json.loads(sensor.report.with_suffix(".json").read_text())
    assert data["spectra"]["dropped"] == [4, 9] and set(data["spectra"]["means"]) == {"Corn", "Soybean", "Woods"}


def test_scale_factors_are_applied_after_the_nodata_test(sensor):
    with open_raster(sensor.raster) as ds:
        info = describe(ds)
        raw = ds.read(1)
        data, valid = read_window(ds, rasterio.windows.Window(0, 0, info.width, info.height), info, per_band=True)
    assert info.wavelengths is not None and info.spectral.bad_bands[4]
    np.testing.assert_allclose(data[0], raw * 1e-4, rtol=1e-6)
    assert not valid[4].any() and valid[0].all()


def test_a_model_finds_its_bands_by_wavelength_in_another_order(sensor, tmp_path):
    order = list(range(14))[::-1]
    shuffled = write_sensor_scene(tmp_path / "reversed.tif", band_order=order)
    same, _ = _map(sensor.raster, sensor.model, tmp_path / "a.tif")
    reordered, _ = _map(shuffled.raster, sensor.model, tmp_path / "b.tif")
    np.testing.assert_array_equal(same, reordered)  # the same values reach the same computation


def test_a_scene_missing_some_of_the_models_bands_is_refused_by_name(sensor, tmp_path):
    missing = sensor.wavelengths[[0, 1]]
    cut = write_sensor_scene(tmp_path / "cut.tif", drop_wavelengths=missing)
    with pytest.raises(ModelFileError, match=r"no band within 5 nm of 2 of the model's bands: 450\.0, 492\.3 nm"):
        contrastdm.classify(cut.raster, sensor.model, tmp_path / "map.tif", device="cpu")
    assert not (tmp_path / "map.tif").exists()
