import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from scenes import write_scene

from contrastdm.errors import InputError
from contrastdm.io.raster import (
    describe,
    halo_cache_bytes,
    iter_tiles,
    open_raster,
    read_padded,
    read_window,
    read_with_halo,
    reflect_pad,
    values_at,
)


def test_describe_reads_grid_and_bands(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=20, width=30, bands=7)
    with open_raster(scene.raster) as ds:
        info = describe(ds)
    assert (info.height, info.width, info.count) == (20, 30, 7)
    assert info.crs.to_epsg() == 32616
    assert info.transform == scene.transform


def test_missing_and_non_raster_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="not found"):
        open_raster(tmp_path / "nope.tif")
    bogus = tmp_path / "bogus.tif"
    bogus.write_text("hello")
    with pytest.raises(InputError, match="not a raster"):
        open_raster(bogus)


def test_single_band_raster_is_refused(tmp_path):
    scene = write_scene(tmp_path / "s.tif", bands=1)
    with open_raster(scene.raster) as ds, pytest.raises(InputError, match="1 band"):
        describe(ds)


def test_nodata_and_nan_pixels_are_invalid(tmp_path):
    scene = write_scene(tmp_path / "s.tif", dtype="float32", nodata=-9999.0, nodata_border=2)
    with rasterio.open(scene.raster, "r+") as ds:
        block = ds.read(3, window=Window(10, 10, 1, 1))
        block[:] = np.nan
        ds.write(block, 3, window=Window(10, 10, 1, 1))
    with open_raster(scene.raster) as ds:
        data, valid = read_window(ds, Window(0, 0, ds.width, ds.height))
    assert not valid[:2].any() and not valid[:, -2:].any()
    assert not valid[10, 10]
    assert valid[2:-2, 2:-2].sum() == (valid.shape[0] - 4) * (valid.shape[1] - 4) - 1


def test_padded_window_reflects_like_the_whole_scene(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=17, width=23, bands=3, dtype="float32")
    halo = 4
    with open_raster(scene.raster) as ds:
        full = ds.read(out_dtype="float32")
        reference = np.pad(full, ((0, 0), (halo, halo), (halo, halo)), mode="reflect")
        for window in iter_tiles(ds.width, ds.height, 6):
            data, valid = read_padded(ds, window, halo)
            r, c = int(window.row_off), int(window.col_off)
            expected = reference[:, r: r + int(window.height) + 2 * halo, c: c + int(window.width) + 2 * halo]
            np.testing.assert_array_equal(data, expected)
            assert valid.all()


def test_tiles_cover_the_scene_once_and_split_between_ranks():
    all_tiles = list(iter_tiles(100, 70, 32))
    covered = np.zeros((70, 100), dtype=int)
    for w in all_tiles:
        covered[int(w.row_off): int(w.row_off + w.height), int(w.col_off): int(w.col_off + w.width)] += 1
    assert (covered == 1).all()
    shares = [list(iter_tiles(100, 70, 32, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(shares, []), key=lambda w: (w.row_off, w.col_off)) == all_tiles


def test_values_at_matches_full_read(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=30, width=40, bands=2)
    rng = np.random.default_rng(1)
    rows, cols = rng.integers(0, 30, 50), rng.integers(0, 40, 50)
    with open_raster(scene.raster) as ds:
        band = ds.read(2)
        np.testing.assert_array_equal(values_at(ds, rows, cols, band=2, block=8), band[rows, cols])


def test_padding_after_reading_equals_reading_padded_into_a_reused_buffer(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=17, width=23, bands=3, dtype="float32")
    halo = 4
    buffer = np.full(3 * 14 * 14, np.nan, dtype=np.float32)
    with open_raster(scene.raster) as ds:
        for window in iter_tiles(ds.width, ds.height, 6):
            expected, expected_valid = read_padded(ds, window, halo)
            data, valid, pads = read_with_halo(ds, window, halo, out=buffer)
            assert np.shares_memory(data, buffer)
            np.testing.assert_array_equal(reflect_pad(data, pads), expected)
            np.testing.assert_array_equal(reflect_pad(valid, pads), expected_valid)
            pixel_major = reflect_pad(np.ascontiguousarray(data.transpose(1, 2, 0)), pads, axes=(0, 1))
            np.testing.assert_array_equal(pixel_major.transpose(2, 0, 1), expected)


@pytest.mark.parametrize("per_band", [False, True])
def test_integer_rasters_take_the_short_validity_test_with_the_same_result(tmp_path, per_band):
    integer = write_scene(tmp_path / "i.tif", dtype="uint16", nodata=0, nodata_border=2)
    with rasterio.open(integer.raster) as src:
        cube, profile = src.read(), src.profile
    cube[1, 10, 10] = 0  # one band's nodata: the pixel is invalid, the other bands at it are not
    with rasterio.open(integer.raster, "w", **profile) as dst:
        dst.write(cube)
    profile.update(dtype="float32")
    with rasterio.open(tmp_path / "f.tif", "w", **profile) as dst:
        dst.write(cube.astype(np.float32))
    window = Window(0, 0, profile["width"], profile["height"])
    with open_raster(integer.raster) as a, open_raster(tmp_path / "f.tif") as b:
        (data_a, valid_a), (data_b, valid_b) = (read_window(ds, window, per_band=per_band) for ds in (a, b))
    np.testing.assert_array_equal(data_a, data_b)
    np.testing.assert_array_equal(valid_a, valid_b)
    assert not (valid_a[1, 10, 10] if per_band else valid_a[10, 10])


def test_the_halo_cache_holds_the_block_rows_a_row_of_padded_tiles_spans(tmp_path):
    path = tmp_path / "tiled.tif"
    profile = dict(driver="GTiff", width=100, height=80, count=4, dtype="uint16", tiled=True, blockxsize=16,
                   blockysize=32, crs="EPSG:32616", transform=rasterio.transform.from_origin(0, 80, 1, 1))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ones((4, 80, 100), np.uint16))
    with open_raster(path) as ds:
        info = describe(ds)
        block = 32 * 16 * 4 * 2
        # tiles of 40 rows with a halo of 5 span 50 rows: at most 3 block rows; 7 block columns plus one
        assert halo_cache_bytes(ds, info, 40, 5) == 3 * 8 * block
        assert halo_cache_bytes(ds, info, 1000, 5) == 3 * 8 * block  # never more block rows than the scene has
