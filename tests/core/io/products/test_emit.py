"""EMIT L2A reflectance: orthorectification through the GLT in bounded row blocks, reuse, bad files."""

import numpy as np
import pytest
import rasterio
from fixtures import EMIT_NAME, check_bands, check_refused, check_reused, emit_glt, write_emit

import contrastdm.io.products.emit as emit
from contrastdm.io.products import Product, convert, detect, materialize

pytest.importorskip("h5py")


@pytest.fixture
def product(tmp_path):
    return write_emit(tmp_path / EMIT_NAME)


def test_detect_by_name_and_by_content(product, tmp_path):
    assert detect(product.path) == Product(sensor="EMIT L2A reflectance", path=str(product.path))
    renamed = product.path.rename(tmp_path / "granule.nc")
    assert detect(renamed).sensor == "EMIT L2A reflectance"
    (tmp_path / "other.nc").write_bytes(b"CDF\x01 not hdf5")
    assert detect(tmp_path / "other.nc") is None
    import h5py

    with h5py.File(tmp_path / "climate.nc", "w") as f:
        f.create_dataset("tas", data=np.zeros((2, 3, 4), np.float32))
    assert detect(tmp_path / "climate.nc") is None


def test_pixels_land_where_the_glt_says(product, tmp_path):
    out = materialize(product.path, tmp_path / "out")
    assert out.suffix == ".tif"
    with rasterio.open(out) as src:
        check_bands(src, product)
        assert src.dtypes[0] == "float32" and src.scales == (1.0,) * src.count
        assert src.profile["tiled"] and src.compression is not None
        data = src.read()
    assert np.array_equal(data, product.expected)
    glt_x, glt_y = emit_glt(36, 12, 24, 10)
    holes = (glt_x == 0) | (glt_y == 0)
    assert holes.any() and np.all(data[:, holes] == -9999)
    r, c = np.argwhere(~holes)[5]
    assert np.array_equal(data[:, r, c], product.extra["refl"][glt_y[r, c] - 1, glt_x[r, c] - 1])


def test_memory_stays_bounded_with_small_blocks(product, tmp_path, monkeypatch):
    monkeypatch.setattr(emit, "BLOCK_BYTES", 1)  # 16 map rows per block: 3 blocks
    monkeypatch.setattr(emit, "READ_BYTES", 1)  # one raw row per read
    reads = []
    original = emit._read

    def spy(dataset, selection, path):
        result = original(dataset, selection, path)
        if dataset.name == "/reflectance":
            reads.append(result.shape)
        return result

    monkeypatch.setattr(emit, "_read", spy)
    out = materialize(product.path, tmp_path / "out")
    with rasterio.open(out) as src:
        assert src.block_shapes[0] == (16, 256)
        assert np.array_equal(src.read(), product.expected)
    assert reads and max(shape[0] for shape in reads) == 1
    assert min(shape[1] for shape in reads) < 10  # only the columns a block needs


def test_reuse_does_not_rewrite(product, tmp_path):
    check_reused(product.path, tmp_path / "out")


def test_convert(product, tmp_path):
    out = convert(product.path, tmp_path / "emit.tif")
    with rasterio.open(out) as src:
        check_bands(src, product)
        assert np.array_equal(src.read(), product.expected)


def test_no_location_group(tmp_path):
    fx = write_emit(tmp_path / EMIT_NAME, location=False)
    check_refused(fx.path, tmp_path / "out", "EMIT file has no geometry lookup table (location/glt_x, glt_y): ")


def test_no_wavelengths(tmp_path):
    fx = write_emit(tmp_path / EMIT_NAME, wavelengths=False)
    check_refused(fx.path, tmp_path / "out", "EMIT file has no band wavelengths (sensor_band_parameters/wavelengths)")


def test_hdf5_without_reflectance(tmp_path):
    import h5py

    path = tmp_path / EMIT_NAME
    with h5py.File(path, "w") as f:
        f.create_group("sensor_band_parameters")
    check_refused(path, tmp_path / "out", "EMIT file has no reflectance cube (reflectance)")


def test_glt_pointing_outside_the_cube(tmp_path):
    glt_x, glt_y = emit_glt(36, 12, 24, 10)
    glt_y[30, 5] = 99
    fx = write_emit(tmp_path / EMIT_NAME, glt=(glt_x, glt_y))
    check_refused(fx.path, tmp_path / "out", "points outside the 24 x 10 reflectance cube")


def test_not_hdf5(tmp_path):
    path = tmp_path / EMIT_NAME
    path.write_bytes(b"\x89HDF truncated")
    check_refused(path, tmp_path / "out", "EMIT file cannot be read as HDF5")


def test_other_emit_products_are_named_and_refused(tmp_path):
    path = tmp_path / "EMIT_L1B_RAD_001_20220815T042838_2222703_003.nc"
    path.write_bytes(b"")
    assert detect(path).sensor == "EMIT L1B radiance"
    check_refused(path, tmp_path / "out", "EMIT L1B radiance products are not supported", "EMIT_L2A_RFL_")
