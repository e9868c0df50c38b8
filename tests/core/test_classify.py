"""Tiled inference internals: tiles computed in parallel, the reduced-precision path, the spectral member's
fast path, the reading cache."""

import importlib

import numpy as np
import pytest
import rasterio
import torch
from scenes import write_scene

import contrastdm
from contrastdm.bundle import load_model
from contrastdm.errors import InputError

classify_module = importlib.import_module("contrastdm.classify")


def _read(path):
    with rasterio.open(path) as src:
        return src.read()


def _noisy_scene(folder):
    """Larger than the training scene and far noisier, so that many pixels are nearly tied between classes."""
    return write_scene(folder / "noisy.tif", height=96, width=120, noise=500.0, seed=5)


def test_tiles_computed_two_at_a_time_give_the_map_of_one_at_a_time(trained, tmp_path, monkeypatch):
    scene = _noisy_scene(tmp_path)
    outputs = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("CONTRASTDM_THREADS", threads)
        outputs[threads] = (tmp_path / f"map{threads}.tif", tmp_path / f"prob{threads}.tif")
        contrastdm.classify(scene.raster, trained.model, outputs[threads][0], probabilities=outputs[threads][1],
                            tile_size=32, device="cpu", precision="float32")
        assert torch.get_num_threads() == int(threads)  # the thread setting is given back
    np.testing.assert_array_equal(_read(outputs["1"][0]), _read(outputs["2"][0]))
    np.testing.assert_allclose(_read(outputs["1"][1]), _read(outputs["2"][1]), atol=1e-5)


def test_bfloat16_labels_agree_with_float32_on_at_least_999_pixels_in_1000(trained, tmp_path):
    scene = _noisy_scene(tmp_path)
    maps, probs = {}, {}
    for precision in ("float32", "bfloat16"):
        contrastdm.classify(scene.raster, trained.model, tmp_path / f"{precision}.tif",
                            probabilities=tmp_path / f"{precision}_p.tif", device="cpu", precision=precision)
        maps[precision], probs[precision] = _read(tmp_path / f"{precision}.tif"), _read(tmp_path / f"{precision}_p.tif")
    top2 = np.sort(probs["float32"], axis=0)[-2:]
    assert np.mean(top2[1] - top2[0] < 0.1) > 0.05  # the scene has pixels a small error could flip
    assert np.mean(maps["float32"] == maps["bfloat16"]) >= 0.999
    assert np.abs(probs["float32"] - probs["bfloat16"]).max() < 0.02


def test_the_member_fast_path_gives_the_member_probabilities(trained):
    from contrastdm.model.spectral import member_probabilities

    model = load_model(trained.model)
    bands = np.random.default_rng(0).standard_normal((model.preprocessor.in_bands, 9, 11)).astype(np.float32)
    expected = member_probabilities(model.spectral, bands.reshape(bands.shape[0], -1).T, torch.device("cpu"))
    fast = classify_module._Member(model.spectral, torch.float32, chunk=16)(bands)
    assert fast.shape == (expected.shape[1], 9, 11)
    np.testing.assert_allclose(fast.reshape(fast.shape[0], -1).T, expected, atol=1e-5)
    bf16 = classify_module._Member(model.spectral, torch.bfloat16)(bands)
    assert np.abs(bf16 - fast).max() < 0.02


def test_precision_choices(monkeypatch):
    choose = classify_module._compute_dtype
    with pytest.raises(InputError, match="precision"):
        choose(torch.device("cpu"), "half")
    assert choose(torch.device("cpu"), "float32") == torch.float32
    assert choose(torch.device("cpu"), "bfloat16") == torch.bfloat16
    assert choose(torch.device("cuda"), "auto") == torch.float32  # a GPU keeps float32
    for native in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        assert choose(torch.device("cpu"), "auto") == (torch.bfloat16 if native else torch.float32)


def test_the_reading_cache_grows_for_large_blocks_unless_the_user_chose_one(tmp_path, monkeypatch):
    from contrastdm.io.gdal_env import CACHE_MAX_BYTES, gdal_settings
    from contrastdm.io.raster import describe, open_raster

    path = tmp_path / "big_blocks.tif"
    profile = dict(driver="GTiff", width=512, height=512, count=200, dtype="uint16", tiled=True, blockxsize=256,
                   blockysize=256, crs="EPSG:32616", transform=rasterio.transform.from_origin(0, 512, 1, 1))
    with rasterio.open(path, "w", **profile):
        pass  # a 256 x 256 block of 200 bands is 26 MB: a few of them fill the engine's default cache
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    with open_raster(path) as ds, gdal_settings():
        info = describe(ds)
        with classify_module._reading_cache(ds, info, 256, 15):
            from rasterio.env import getenv

            assert getenv()["GDAL_CACHEMAX"] > CACHE_MAX_BYTES
        monkeypatch.setenv("GDAL_CACHEMAX", "64")
        assert classify_module._reading_cache(ds, info, 256, 15).__class__.__name__ == "nullcontext"


def test_tiles_with_nothing_valid_in_reach_skip_the_network_and_give_the_same_maps(trained, tmp_path, monkeypatch):
    """A scene that is mostly nodata (a swath's empty corners): tiles whose read, halo included, holds no valid
    pixel are not run through the network, and the maps equal those of running it everywhere."""
    classify_module = importlib.import_module("contrastdm.classify")
    scene = write_scene(tmp_path / "swath.tif", height=96, width=96, nodata=0, nodata_border=36)
    calls = []
    predict = classify_module._predict_split
    monkeypatch.setattr(classify_module, "_predict_split", lambda *a, **k: calls.append(1) or predict(*a, **k))
    maps = {}
    for name, skip in (("skipped", True), ("everywhere", False)):
        if not skip:
            monkeypatch.setattr(classify_module, "_nothing_valid", lambda valid: False)
        calls.clear()
        contrastdm.classify(scene.raster, trained.model, tmp_path / f"{name}.tif", confidence=tmp_path / f"{name}_c.tif",
                            device="cpu", tile_size=16)
        with rasterio.open(tmp_path / f"{name}.tif") as m, rasterio.open(tmp_path / f"{name}_c.tif") as c:
            maps[name] = (len(calls), m.read(1), c.read(1))
    assert maps["everywhere"][0] == 36 and 0 < maps["skipped"][0] < 36
    assert np.array_equal(maps["skipped"][1], maps["everywhere"][1])
    assert np.array_equal(maps["skipped"][2], maps["everywhere"][2])
    assert (maps["skipped"][1][:30] == 0).all() and (maps["skipped"][1][40:56, 40:56] > 0).all()
