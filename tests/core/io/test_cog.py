from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.crs import CRS
from rasterio.transform import from_origin

from contrastdm.io.cog import cog_options, validate_cog, write_cog
from contrastdm.io.raster import iter_tiles
from contrastdm.io.writer import (
    CONFIDENCE_NODATA,
    ClassificationWriter,
    ClassInfo,
    read_class_map_info,
)

H, W = 600, 1100  # above the 512-pixel block in both directions: GDAL builds overviews on its own
CRS_ = CRS.from_epsg(32616)
TRANSFORM = from_origin(500000.0, 4000000.0, 20.0, 20.0)
CLASSES = [ClassInfo(1, "Corn", "#ff0000"), ClassInfo(3, "Wheat & oats", (0, 128, 0)), ClassInfo(5, "Grass", "#0000ff")]
IDS = (0, 1, 3, 5)


def _data(height=H, width=W):
    rng = np.random.default_rng(0)
    coarse = rng.choice(IDS, size=(height // 8 + 1, width // 8 + 1))  # patches, as a real map has
    class_ids = np.kron(coarse, np.ones((8, 8), int))[:height, :width]
    noise = rng.random((height, width)) < 0.1
    class_ids[noise] = rng.choice(IDS, size=int(noise.sum()))
    confidence = rng.random((height, width), dtype=np.float32)
    probabilities = rng.random((len(CLASSES), height, width), dtype=np.float32)
    return class_ids.astype(np.uint8), confidence, probabilities


def _write(directory, data, height=H, width=W, **kwargs):
    class_ids, confidence, probabilities = data
    paths = {name: directory / f"{name}.tif" for name in ("map", "conf", "probs")}
    with ClassificationWriter(paths["map"], width=width, height=height, crs=CRS_, transform=TRANSFORM,
                              classes=CLASSES, confidence_path=paths["conf"], probabilities_path=paths["probs"],
                              tile_size=256, tags={"RUN": "test"}, **kwargs) as writer:
        for win in iter_tiles(width, height, 256):
            r, c, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
            writer.write(win, class_ids[r:r + h, c:c + w], confidence[r:r + h, c:c + w],
                         probabilities[:, r:r + h, c:c + w])
    return paths


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cog")
    data = _data()
    return _write(directory, data), data


def _gdal_band(path, band=1):
    dataset = gdal.Open(str(path))
    dataset.GetFileList()  # GDAL 3.6 GTiff loads the .aux.xml sidecar lazily; this makes it load
    return dataset, dataset.GetRasterBand(band)


def _overview(path, level=0, band=1):
    dataset, gband = _gdal_band(path, band)
    return gband.GetOverview(level).ReadAsArray()


def _same_raster(a, b):
    with rasterio.open(a) as src, rasterio.open(b) as cog:
        assert (cog.crs, cog.transform, cog.nodata, cog.dtypes) == (src.crs, src.transform, src.nodata, src.dtypes)
        assert cog.descriptions == src.descriptions
        assert {k: v for k, v in cog.tags().items() if k != "AREA_OR_POINT"} == \
            {k: v for k, v in src.tags().items() if k != "AREA_OR_POINT"}
        for band in range(1, src.count + 1):
            assert cog.tags(band) == src.tags(band)
        np.testing.assert_array_equal(cog.read(), src.read())
        assert cog.block_shapes[0] == (512, 512) and cog.compression.value.upper() == "DEFLATE"


def test_tiled_geotiff_is_not_a_cog(written):
    paths, _ = written
    errors = validate_cog(paths["map"])  # tiled and compressed, but IFDs after the data, no overviews
    assert errors and any("offset" in e.lower() for e in errors)


def test_class_map_cog_keeps_pixels_colours_and_tags(written, tmp_path):
    paths, (class_ids, _, _) = written
    cog = tmp_path / "map_cog.tif"
    write_cog(paths["map"], cog, resampling="nearest")
    assert validate_cog(cog) == []
    _same_raster(paths["map"], cog)
    with rasterio.open(cog) as src:
        assert src.overviews(1) == [2, 4]
        colormap = src.colormap(1)
        assert colormap[0][3] == 0 and colormap[1] == (255, 0, 0, 255) and colormap[3] == (0, 128, 0, 255)
        assert json.loads(src.tags()["CONTRASTDM_CLASSES"])[1]["name"] == "Wheat & oats"
        assert src.tags()["RUN"] == "test"
    dataset, band = _gdal_band(cog)
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    assert band.GetCategoryNames() == ["unclassified", "Corn", "", "Wheat & oats", "", "Grass"]
    assert dataset.GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE") in (None, "1")
    assert dataset.GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    dataset = None
    assert (tmp_path / "map_cog.tif.aux.xml").exists()  # category names: TIFF cannot hold them
    assert read_class_map_info(cog) == CLASSES
    overview = _overview(cog)
    assert overview.shape == (H // 2, W // 2)
    assert set(np.unique(overview).tolist()) <= set(IDS)  # nearest: only real class ids
    np.testing.assert_array_equal(overview, class_ids[::2, ::2])  # exact halving: the top-left pixel


def test_class_map_mode_overviews_hold_only_class_ids(written, tmp_path):
    paths, (class_ids, _, _) = written
    cog = tmp_path / "map_mode.tif"
    write_cog(paths["map"], cog, resampling="mode")
    assert validate_cog(cog) == []
    overview = _overview(cog)
    assert set(np.unique(overview).tolist()) <= set(IDS)
    blocks = class_ids.reshape(H // 2, 2, W // 2, 2).transpose(0, 2, 1, 3).reshape(H // 2, W // 2, 4)
    uniform = (blocks == blocks[..., :1]).all(axis=2)  # where a 2x2 block is one class, so is its mode
    np.testing.assert_array_equal(overview[uniform], blocks[..., 0][uniform])


def test_confidence_cog_averages_valid_pixels(written, tmp_path):
    paths, (class_ids, confidence, _) = written
    cog = tmp_path / "conf_cog.tif"
    write_cog(paths["conf"], cog, resampling="average")
    assert validate_cog(cog) == []
    _same_raster(paths["conf"], cog)
    dataset, band = _gdal_band(cog)
    assert band.GetOverviewCount() == 2
    assert dataset.GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE") == "3"  # floating-point predictor
    dataset = None
    valid = (class_ids != 0).reshape(H // 2, 2, W // 2, 2).sum(axis=(1, 3))
    total = np.where(class_ids != 0, confidence, 0.0).reshape(H // 2, 2, W // 2, 2).sum(axis=(1, 3))
    # nodata (-1) left out of the mean; a block with no classified pixel stays nodata
    expected = np.where(valid > 0, total / np.maximum(valid, 1), CONFIDENCE_NODATA)
    np.testing.assert_allclose(_overview(cog), expected, atol=1e-6)


def test_probabilities_cog_keeps_band_names_and_tags(written, tmp_path):
    paths, _ = written
    cog = tmp_path / "probs_cog.tif"
    write_cog(paths["probs"], cog, resampling="average")
    assert validate_cog(cog) == []
    _same_raster(paths["probs"], cog)
    with rasterio.open(cog) as src:
        assert src.descriptions == tuple(c.name for c in CLASSES)
        assert src.tags(2)["CLASS_ID"] == "3"
        assert all(src.overviews(band) == [2, 4] for band in (1, 2, 3))


def test_small_raster_overviews(tmp_path):
    paths = _write(tmp_path, _data(45, 70), height=45, width=70)
    automatic, explicit, counted = tmp_path / "auto.tif", tmp_path / "levels.tif", tmp_path / "count.tif"
    write_cog(paths["map"], automatic)  # one block: GDAL's rule builds none, and none is needed
    write_cog(paths["map"], explicit, overview_levels=[2, 4])
    write_cog(paths["map"], counted, overview_levels=1)
    for path, levels in ((automatic, []), (explicit, [2, 4]), (counted, [2])):
        assert validate_cog(path) == []
        with rasterio.open(path) as src:
            assert len(src.overviews(1)) == len(levels)
        _same_raster(paths["map"], path)


def test_writer_cog_option(tmp_path):
    paths = _write(tmp_path, _data(), cog=True)
    for name in ("map", "conf", "probs"):
        assert validate_cog(paths[name]) == []
    with rasterio.open(paths["map"]) as src:
        assert src.overviews(1) == [2, 4]
    assert read_class_map_info(paths["map"]) == CLASSES
    _dataset, band = _gdal_band(paths["map"])  # the dataset kept alive while its band is used
    assert band.GetCategoryNames()[5] == "Grass"


def test_bad_arguments_and_unreadable_files(written, tmp_path):
    paths, _ = written
    with pytest.raises(ValueError):
        write_cog(paths["map"], tmp_path / "x.tif", resampling="median")
    with pytest.raises(ValueError):
        write_cog(paths["map"], tmp_path / "x.tif", overview_levels=[2, 3])
    with pytest.raises(ValueError):
        write_cog(paths["map"], paths["map"])
    assert not (tmp_path / "x.tif").exists()
    not_a_tiff = tmp_path / "notes.txt"
    not_a_tiff.write_text("hello")
    assert validate_cog(not_a_tiff)
    assert validate_cog(tmp_path / "missing.tif")
    assert cog_options("uint8")["PREDICTOR"] == "NO" and cog_options("float32")["PREDICTOR"] == "YES"
