"""A list of rasters classified with one model: the list file, the output names, and maps equal to classify's."""

import numpy as np
import pytest
import rasterio
from scenes import write_scene

import contrastdm
from contrastdm.batch import classify_many, output_paths, read_raster_list
from contrastdm.errors import InputError


def test_the_list_skips_comments_and_takes_relative_paths_from_its_folder(tmp_path):
    (tmp_path / "scenes").mkdir()
    for name in ("a.tif", "b.tif"):
        (tmp_path / "scenes" / name).write_bytes(b"")
    listing = tmp_path / "scenes" / "list.txt"
    listing.write_text(f"# campaign\na.tif\n\n  {tmp_path / 'scenes' / 'b.tif'}  \n")
    assert read_raster_list(listing) == [str(tmp_path / "scenes" / "a.tif"), str(tmp_path / "scenes" / "b.tif")]


@pytest.mark.parametrize("text, message", [("# nothing\n", "names no raster"), ("a.tif\nmissing.tif\n", "not found")])
def test_a_bad_list_is_refused_in_one_line(tmp_path, text, message):
    (tmp_path / "a.tif").write_bytes(b"")
    (tmp_path / "list.txt").write_text(text)
    with pytest.raises(InputError, match=message):
        read_raster_list(tmp_path / "list.txt")


def test_two_rasters_of_one_name_are_refused_before_any_map(tmp_path):
    with pytest.raises(InputError, match="named 'scene'"):
        output_paths(["/x/scene.tif", "/y/scene.tif"], tmp_path)
    assert output_paths(["/x/a.tif"], tmp_path, confidence=False) == [
        {"raster": "/x/a.tif", "map": str(tmp_path / "a_classes.tif"), "confidence": None}]


def test_every_map_of_the_list_equals_classify_on_that_raster(trained, tmp_path):
    other = write_scene(tmp_path / "other.tif", seed=3).raster
    result = classify_many([trained.raster, other], trained.model, tmp_path / "maps", device="cpu", tile_size=16)
    assert [o["map"] for o in result.outputs] == [str(tmp_path / "maps" / "scene_classes.tif"),
                                                  str(tmp_path / "maps" / "other_classes.tif")]
    assert result.ranks == 1 and len(result.classified) == 2
    for out in result.outputs:
        alone = tmp_path / "alone.tif"
        contrastdm.classify(out["raster"], trained.model, alone, device="cpu", tile_size=16)
        with rasterio.open(alone) as a, rasterio.open(out["map"]) as b, rasterio.open(out["confidence"]) as c:
            assert np.array_equal(a.read(), b.read()) and c.count == 1
