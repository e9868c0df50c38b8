import importlib
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from contrastdm.errors import Cancelled, OutputError
from contrastdm.io.raster import iter_tiles
from contrastdm.io.styles import (
    class_map_qml,
    color_to_hex,
    confidence_qml,
    default_palette,
    parse_color,
)
from contrastdm.io.writer import (
    CONFIDENCE_NODATA,
    ClassificationWriter,
    ClassInfo,
    read_class_map_info,
)

H, W = 45, 70
CRS_ = CRS.from_epsg(32616)
TRANSFORM = from_origin(500000.0, 4000000.0, 20.0, 20.0)
CLASSES = [
    ClassInfo(1, "Corn <no-till>", "#ff0000"),
    ClassInfo(3, "Wheat & \"oats\"", (0, 128, 0)),
    ClassInfo(5, "Grass/trees", "#0000ff"),
]


def _data(seed=0, ids=(0, 1, 3, 5), k=3):
    rng = np.random.default_rng(seed)
    class_ids = rng.choice(list(ids), size=(H, W)).astype(np.uint16)
    confidence = rng.random((H, W), dtype=np.float32)
    probabilities = rng.random((k, H, W), dtype=np.float32)
    return class_ids, confidence, probabilities


def _write(directory, windows, data, classes=CLASSES, tile_size=32, **kwargs):
    class_ids, confidence, probabilities = data
    paths = dict(confidence_path=directory / "conf.tif", probabilities_path=directory / "probs.tif")
    paths.update(kwargs)
    with ClassificationWriter(directory / "map.tif", width=W, height=H, crs=CRS_, transform=TRANSFORM,
                              classes=classes, tile_size=tile_size, **paths) as writer:
        for win in windows:
            r, c, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
            writer.write(win, class_ids[r:r + h, c:c + w], confidence[r:r + h, c:c + w],
                         probabilities[:, r:r + h, c:c + w])


def _categories(path):
    dataset = gdal.Open(str(path))  # keep the dataset alive while its band is used (GDAL bindings)
    dataset.GetFileList()  # GDAL 3.6 GTiff loads the .aux.xml lazily (as gdalinfo does, trigger it)
    names = dataset.GetRasterBand(1).GetCategoryNames()
    dataset = None
    return names


def _pixels(path):
    with rasterio.open(path) as src:
        return src.read()


def test_round_trip(tmp_path):
    data = _data()
    _write(tmp_path, iter_tiles(W, H, 32), data)
    assert sorted(os.listdir(tmp_path)) == ["conf.qml", "conf.tif", "map.qml", "map.tif", "map.tif.aux.xml",
                                            "probs.tif"]
    class_ids, confidence, probabilities = data
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.crs == CRS_ and src.transform == TRANSFORM
        assert (src.width, src.height, src.count) == (W, H, 1)
        assert src.dtypes[0] == "uint8" and src.nodata == 0
        assert src.block_shapes[0] == (32, 32)
        assert src.compression.value.upper() == "DEFLATE"
        assert src.descriptions == ("class",)
        np.testing.assert_array_equal(src.read(1), class_ids)
        colormap = src.colormap(1)
        assert colormap[0][3] == 0
        assert colormap[1][:3] == (255, 0, 0) and colormap[3][:3] == (0, 128, 0) and colormap[5][:3] == (0, 0, 255)
        tagged = json.loads(src.tags()["CONTRASTDM_CLASSES"])
        assert tagged[1] == {"id": 3, "name": "Wheat & \"oats\"", "color": "#008000"}
    assert _categories(tmp_path / "map.tif") == [
        "unclassified", "Corn <no-till>", "", "Wheat & \"oats\"", "", "Grass/trees"]
    ds = gdal.Open(str(tmp_path / "map.tif"))
    band = ds.GetRasterBand(1)
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    assert band.GetColorTable().GetColorEntry(5)[:3] == (0, 0, 255)
    ds = None

    with rasterio.open(tmp_path / "conf.tif") as src:
        assert src.dtypes[0] == "float32" and src.nodata == CONFIDENCE_NODATA
        assert src.crs == CRS_ and src.transform == TRANSFORM
        conf = src.read(1)
    expected = np.where(class_ids == 0, CONFIDENCE_NODATA, confidence)
    np.testing.assert_array_equal(conf, expected)
    with rasterio.open(tmp_path / "probs.tif") as src:
        assert src.count == 3 and src.dtypes == ("float32",) * 3
        assert src.descriptions == tuple(c.name for c in CLASSES)
        assert src.tags(2)["CLASS_ID"] == "3"
        probs = src.read()
    np.testing.assert_array_equal(probs, np.where(class_ids == 0, -1.0, probabilities).astype(np.float32))

    assert read_class_map_info(tmp_path / "map.tif") == CLASSES


@pytest.mark.parametrize("cog", [False, True])
def test_without_gdal_bindings_the_map_reads_the_same(tmp_path, monkeypatch, cog):
    """A pip-only environment has rasterio but not osgeo: colour table and category names still reach GDAL."""
    from contrastdm.io import writer as writer_module

    data = _data()
    _write(tmp_path, iter_tiles(W, H, 32), data, cog=cog)
    monkeypatch.setattr(writer_module, "_gdal", lambda: None)
    (tmp_path / "bare").mkdir()
    _write(tmp_path / "bare", iter_tiles(W, H, 32), data, cog=cog)
    assert sorted(os.listdir(tmp_path / "bare")) == ["conf.qml", "conf.tif", "map.qml", "map.tif",
                                                     "map.tif.aux.xml", "probs.tif"]
    assert _categories(tmp_path / "bare" / "map.tif") == _categories(tmp_path / "map.tif")
    with rasterio.open(tmp_path / "bare" / "map.tif") as bare, rasterio.open(tmp_path / "map.tif") as full:
        assert bare.colormap(1) == full.colormap(1)
        np.testing.assert_array_equal(bare.read(), full.read())
    assert gdal.Open(str(tmp_path / "bare" / "map.tif")).GetRasterBand(1).GetColorInterpretation() == \
        gdal.GCI_PaletteIndex
    assert writer_module._read_category_names(str(tmp_path / "bare" / "map.tif"))[:2] == ["unclassified",
                                                                                         "Corn <no-till>"]
    assert read_class_map_info(tmp_path / "bare" / "map.tif") == CLASSES


def test_classification_fills_confidence_with_the_writers_nodata():
    # The package attribute `classify` is the API function; the module is what fills the confidence tiles.
    module = importlib.import_module("contrastdm.classify")
    assert getattr(module, "CONFIDENCE_NODATA", CONFIDENCE_NODATA) == CONFIDENCE_NODATA


def test_qml_sidecars_parse(tmp_path):
    _write(tmp_path, iter_tiles(W, H, 32), _data())
    root = ET.parse(tmp_path / "map.qml").getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("label"), e.get("color")) for e in entries] == [
        (str(c.id), c.name, color_to_hex(c.color)) for c in CLASSES]
    conf = ET.parse(tmp_path / "conf.qml").getroot().find("pipe/rasterrenderer")
    assert conf.get("type") == "singlebandpseudocolor"
    assert (conf.get("classificationMin"), conf.get("classificationMax")) == ("0", "1")


def test_tile_order_and_size_do_not_change_content(tmp_path):
    data = _data(seed=1)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a", [Window(0, 0, W, H)], data)
    windows = list(iter_tiles(W, H, 20))  # not aligned with the 32-pixel blocks
    np.random.default_rng(3).shuffle(windows)
    _write(tmp_path / "b", windows, data)
    for name in ("map.tif", "conf.tif", "probs.tif"):
        np.testing.assert_array_equal(_pixels(tmp_path / "a" / name), _pixels(tmp_path / "b" / name))
    for name in ("map.qml", "conf.qml", "map.tif.aux.xml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_uint16_when_ids_reach_256(tmp_path):
    classes = [ClassInfo(1, "low", "#102030"), ClassInfo(300, "high", "#abcdef")]
    class_ids, confidence, _ = _data(ids=(0, 1, 300), k=2)
    _write(tmp_path, [Window(0, 0, W, H)], (class_ids, confidence, np.zeros((2, H, W), np.float32)),
           classes=classes, probabilities_path=None)
    with rasterio.open(tmp_path / "map.tif") as src:
        assert src.dtypes[0] == "uint16"
        np.testing.assert_array_equal(src.read(1), class_ids)
        assert src.colormap(1)[300][:3] == (0xab, 0xcd, 0xef)
    names = _categories(tmp_path / "map.tif")
    assert len(names) == 301 and names[300] == "high" and names[0] == "unclassified"
    assert not (tmp_path / "probs.tif").exists()


@pytest.mark.parametrize("error", [RuntimeError("model failed"), Cancelled("stop")])
def test_exception_leaves_no_output_and_keeps_old_files(tmp_path, error):
    old = {name: f"old {name}".encode() for name in ("map.tif", "conf.tif", "map.qml", "map.tif.aux.xml")}
    for name, content in old.items():
        (tmp_path / name).write_bytes(content)
    class_ids, confidence, probabilities = _data()
    with pytest.raises(type(error)):
        with ClassificationWriter(tmp_path / "map.tif", width=W, height=H, crs=CRS_, transform=TRANSFORM,
                                  classes=CLASSES, confidence_path=tmp_path / "conf.tif",
                                  probabilities_path=tmp_path / "probs.tif") as writer:
            writer.write(Window(0, 0, W, 10), class_ids[:10], confidence[:10], probabilities[:, :10])
            raise error
    assert sorted(os.listdir(tmp_path)) == sorted(old)
    for name, content in old.items():
        assert (tmp_path / name).read_bytes() == content


def test_success_replaces_old_outputs(tmp_path):
    (tmp_path / "map.tif").write_bytes(b"old")
    (tmp_path / "map.tif.aux.xml").write_text("<PAMDataset>stale</PAMDataset>")
    _write(tmp_path, iter_tiles(W, H, 32), _data(), probabilities_path=None)
    assert _categories(tmp_path / "map.tif")[1] == "Corn <no-till>"
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))


def test_bad_write_arguments_abort_cleanly(tmp_path):
    class_ids, confidence, probabilities = _data()
    with pytest.raises(ValueError, match="not in the class list"):
        with ClassificationWriter(tmp_path / "map.tif", width=W, height=H, crs=CRS_, transform=TRANSFORM,
                                  classes=CLASSES) as writer:
            writer.write(Window(0, 0, W, H), np.full((H, W), 2, np.uint8))
    with pytest.raises(ValueError, match="shape"):
        with ClassificationWriter(tmp_path / "map.tif", width=W, height=H, crs=CRS_, transform=TRANSFORM,
                                  classes=CLASSES) as writer:
            writer.write(Window(0, 0, W, H), class_ids[:10])
    with pytest.raises(ValueError, match="confidence is required"):
        with ClassificationWriter(tmp_path / "map.tif", width=W, height=H, crs=CRS_, transform=TRANSFORM,
                                  classes=CLASSES, confidence_path=tmp_path / "c.tif") as writer:
            writer.write(Window(0, 0, W, H), class_ids)
    assert os.listdir(tmp_path) == []


def test_output_errors_before_anything_is_written(tmp_path):
    raster = tmp_path / "input.tif"
    raster.write_bytes(b"input")
    kwargs = dict(width=W, height=H, crs=CRS_, transform=TRANSFORM, classes=CLASSES)
    with pytest.raises(OutputError, match="does not exist"):
        with ClassificationWriter(tmp_path / "missing" / "map.tif", **kwargs):
            pass
    with pytest.raises(OutputError, match="input"):
        with ClassificationWriter(tmp_path / "map.tif", confidence_path=raster, inputs=[raster], **kwargs):
            pass
    with pytest.raises(OutputError, match="not a folder"):
        with ClassificationWriter(raster / "map.tif", **kwargs):
            pass
    assert os.listdir(tmp_path) == ["input.tif"] and raster.read_bytes() == b"input"


def test_read_class_map_info_without_tags(tmp_path):
    path = tmp_path / "foreign.tif"
    data = np.array([[0, 2, 2], [7, 7, 0]], dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=3, height=2, count=1, dtype="uint8", nodata=0,
                       crs=CRS_, transform=TRANSFORM) as dst:
        dst.write(data, 1)
    assert [(c.id, c.name) for c in read_class_map_info(path)] == [(2, "class 2"), (7, "class 7")]
    ds = gdal.Open(str(path))
    ds.GetRasterBand(1).SetCategoryNames(["", "", "Water", "", "", "", "", "Forest"])
    ds = None
    assert [(c.id, c.name) for c in read_class_map_info(path)] == [(2, "Water"), (7, "Forest")]


def test_styles():
    assert parse_color("#FF8000") == (255, 128, 0) and parse_color("#0f0") == (0, 255, 0)
    assert parse_color([1, 2, 3]) == (1, 2, 3)
    with pytest.raises(Exception, match="#rrggbb"):
        parse_color("orange")
    palette = default_palette(256)
    assert len(set(palette)) == 256 and palette == default_palette(256)
    assert all(0 <= v <= 255 for color in palette for v in color)
    qml = class_map_qml([(2, "a & <b>", "#010203")])
    entry = ET.fromstring(qml.split("\n", 1)[1]).find("pipe/rasterrenderer/colorPalette/paletteEntry")
    assert entry.attrib == {"value": "2", "color": "#010203", "alpha": "255", "label": "a & <b>"}
    items = ET.fromstring(confidence_qml(0, 2).split("\n", 1)[1]).findall(".//colorrampshader/item")
    assert items[0].get("value") == "0" and items[-1].get("value") == "2"
