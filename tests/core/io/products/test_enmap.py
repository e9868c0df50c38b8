"""EnMAP L2A products: detection, a VRT with band metadata and scale/offset, reuse, bad products."""

import os

import numpy as np
import pytest
import rasterio
from fixtures import (
    ENMAP_NAME,
    check_bands,
    check_error,
    check_refused,
    physical,
    write_enmap,
    write_geotiff,
)

from contrastdm.errors import InputError
from contrastdm.io.products import Product, convert, detect, materialize


@pytest.fixture
def enmap(tmp_path):
    return write_enmap(tmp_path / "products")


def test_detect_image_xml_and_folder(enmap):
    for given in (enmap.path, enmap.extra["xml"], enmap.extra["folder"]):
        assert detect(given) == Product(sensor="EnMAP L2A", path=str(given))


def test_ordinary_rasters_are_not_products(tmp_path):
    assert detect(write_geotiff(tmp_path / "scene.tif")) is None
    assert detect(tmp_path / "missing.tif") is None
    assert detect(tmp_path) is None
    with pytest.raises(InputError) as excinfo:
        materialize(tmp_path / "scene.tif", tmp_path / "out")
    check_error(excinfo, "not a supported sensor product")


def test_materialize_writes_a_vrt_with_band_metadata_and_scaling(enmap, tmp_path):
    out = materialize(enmap.path, tmp_path / "out")
    assert out.suffix == ".vrt" and out.parent == tmp_path / "out"
    assert os.path.getsize(out) < 50_000  # no copy of the pixels
    with rasterio.open(out) as src:
        check_bands(src, enmap)
        assert src.dtypes[0] == "int16"
        assert np.allclose(src.scales, enmap.extra["gains"]) and np.allclose(src.offsets, enmap.extra["offsets"])
        assert np.array_equal(src.read(), enmap.extra["dn"])
        assert np.allclose(physical(src), enmap.expected)
        assert src.tags()["sensor"] == "EnMAP L2A"
    assert list((tmp_path / "out").iterdir()) == [out]


def test_materialize_reuses_the_file_however_the_product_is_given(enmap, tmp_path):
    first = materialize(enmap.path, tmp_path / "out")
    stamp = first.stat().st_mtime_ns
    for given in (enmap.path, enmap.extra["xml"], enmap.extra["folder"]):
        assert materialize(given, tmp_path / "out") == first
    assert first.stat().st_mtime_ns == stamp
    assert len(list((tmp_path / "out").iterdir())) == 1


def test_a_changed_product_gets_a_new_file(enmap, tmp_path):
    first = materialize(enmap.path, tmp_path / "out")
    later = first.stat().st_mtime_ns + 5_000_000_000
    os.utime(enmap.extra["xml"], ns=(later, later))
    second = materialize(enmap.path, tmp_path / "out")
    assert second != first and second.exists()


def test_convert_writes_a_geotiff_keeping_scale_and_metadata(enmap, tmp_path):
    out = convert(enmap.extra["folder"], tmp_path / "enmap.tif")
    assert out == tmp_path / "enmap.tif"
    with rasterio.open(out) as src:
        assert src.driver == "GTiff"
        check_bands(src, enmap)
        assert np.allclose(physical(src), enmap.expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enmap.tif", "products"]


def test_truncated_xml(enmap, tmp_path):
    xml = enmap.extra["xml"]
    xml.write_text(xml.read_text()[:400])
    check_refused(enmap.path, tmp_path / "out", "EnMAP L2A metadata file is not complete XML", xml.name)


def test_xml_with_fewer_bands_than_the_image(tmp_path):
    fx = write_enmap(tmp_path / "products", bands=16, xml_bands=15)
    check_refused(fx.path, tmp_path / "out", "describes 15 bands but the spectral image has 16")


def test_missing_xml(enmap, tmp_path):
    enmap.extra["xml"].unlink()
    check_refused(enmap.path, tmp_path / "out", "EnMAP L2A metadata file is missing", f"{ENMAP_NAME}-METADATA.XML")


def test_missing_image(enmap, tmp_path):
    enmap.path.unlink()
    check_refused(enmap.extra["xml"], tmp_path / "out", "EnMAP L2A spectral image is missing")


def test_missing_wavelength(tmp_path):
    fx = write_enmap(tmp_path / "products", omit=(3, "wavelengthCenterOfBand"))
    check_refused(fx.path, tmp_path / "out", "no wavelengthCenterOfBand for band 3")


def test_xml_without_band_characterisation(enmap, tmp_path):
    enmap.extra["xml"].write_text("<level_X><specific/></level_X>")
    check_refused(enmap.path, tmp_path / "out", "no band characterisation")
