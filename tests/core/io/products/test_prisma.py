"""PRISMA L2D: VNIR+SWIR merged by wavelength, scaled to reflectance, georeferenced, bad files."""

import numpy as np
import pytest
import rasterio
from fixtures import (
    PRISMA_FIELDS,
    PRISMA_NAME,
    check_bands,
    check_refused,
    check_reused,
    write_prisma,
)

import contrastdm.io.products.prisma as prisma
from contrastdm.io.products import Product, convert, detect, materialize

pytest.importorskip("h5py")


@pytest.fixture
def product(tmp_path):
    return write_prisma(tmp_path / PRISMA_NAME)


def test_detect_by_name_and_by_content(product, tmp_path):
    assert detect(product.path) == Product(sensor="PRISMA L2D", path=str(product.path))
    renamed = product.path.rename(tmp_path / "scene.he5")
    assert detect(renamed).sensor == "PRISMA L2D"


def test_reflectance_bands_sorted_by_wavelength(product, tmp_path):
    out = materialize(product.path, tmp_path / "out")
    with rasterio.open(out) as src:
        check_bands(src, product)
        data = src.read()
        wavelengths = [float(src.tags(i)["wavelength"]) for i in range(1, src.count + 1)]
    assert src.count == 6 + 9  # unused (0 nm) bands dropped
    assert wavelengths == sorted(wavelengths)
    assert wavelengths[4:8] == [940.6, 950.5, 980.2, 1000.4]  # VNIR/SWIR overlap: both kept
    assert np.allclose(data, product.expected, rtol=1e-6, atol=1e-7)
    assert np.all(data[:, 0, 0] == -9999)  # DN 0 in every band: outside the acquisition
    assert data[:, 1, 1].min() > -9999  # one DN 0 is a value
    assert src.transform.c == 500000.0 and src.transform.f == 5000000.0 and src.res == (30.0, 30.0)


def test_blocks_of_rows_give_the_same_result(tmp_path, monkeypatch):
    fx = write_prisma(tmp_path / PRISMA_NAME, rows=40)
    monkeypatch.setattr(prisma, "BLOCK_BYTES", 1)
    out = materialize(fx.path, tmp_path / "out")
    with rasterio.open(out) as src:
        assert src.block_shapes[0] == (16, 256)
        assert np.allclose(src.read(), fx.expected, rtol=1e-6, atol=1e-7)


def test_reuse_does_not_rewrite(product, tmp_path):
    check_reused(product.path, tmp_path / "out")


def test_convert(product, tmp_path):
    out = convert(product.path, tmp_path / "prisma.tif")
    with rasterio.open(out) as src:
        check_bands(src, product)


def test_missing_cube(tmp_path):
    fx = write_prisma(tmp_path / PRISMA_NAME, skip_dataset="SWIR_Cube")
    check_refused(fx.path, tmp_path / "out", f"PRISMA L2D file has no {PRISMA_FIELDS}/SWIR_Cube")


def test_hdf5_without_any_cube(tmp_path):
    import h5py

    path = tmp_path / PRISMA_NAME
    with h5py.File(path, "w") as f:
        f.create_group("HDFEOS/SWATHS/PRS_L2D_HCO")
    check_refused(path, tmp_path / "out", "VNIR_Cube and no", "SWIR_Cube")


@pytest.mark.parametrize("attribute", ["List_Cw_Swir", "L2ScaleVnirMax", "Epsg_Code", "Product_ULcorner_easting"])
def test_missing_attribute(tmp_path, attribute):
    fx = write_prisma(tmp_path / PRISMA_NAME, skip_attribute=attribute)
    check_refused(fx.path, tmp_path / "out", f"PRISMA L2D file has no {attribute} attribute")


def test_other_prisma_levels_are_named_and_refused(tmp_path):
    path = tmp_path / "PRS_L1_STD_OFFL_20200116101454_20200116101458_0001.he5"
    path.write_bytes(b"")
    assert detect(path).sensor == "PRISMA L1"
    check_refused(path, tmp_path / "out", "PRISMA L1 products are not supported")
