import json
import math
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from contrastdm.io.spectral import SpectralInfo, parse_wavelength, read_spectral_info


def _tif(path, count=3, dtype="float32", **profile):
    """A tiny GeoTIFF with ``count`` bands of zeros."""
    with rasterio.open(path, "w", driver="GTiff", width=4, height=3, count=count, dtype=dtype,
                       crs="EPSG:32616", transform=rasterio.transform.from_origin(0, 30, 10, 10), **profile) as ds:
        ds.write(np.zeros((count, 3, 4), dtype=dtype))
    return path


def _read(path) -> SpectralInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            return read_spectral_info(ds)


def _envi(tmp_path, extra: str, count=3, dtype="int16"):
    """A real ENVI file written by GDAL, with ``extra`` lines appended to its header."""
    path = tmp_path / "cube.img"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="ENVI", width=4, height=3, count=count, dtype=dtype) as ds:
            ds.write(np.ones((count, 3, 4), dtype=dtype))
    header = tmp_path / "cube.hdr"
    header.write_text(header.read_text() + extra)
    return path


def test_geotiff_band_tags_in_nanometres(tmp_path):
    path = _tif(tmp_path / "a.tif")
    with rasterio.open(path, "r+") as ds:
        for b, (wl, fw, bbl) in enumerate([(450.5, 10, 1), (550, 10.5, 0), (650, 11, 1)], start=1):
            ds.update_tags(b, wavelength=str(wl), wavelength_units="Nanometers", fwhm=str(fw), bbl=str(bbl))
    info = _read(path)
    assert info.wavelengths == (450.5, 550.0, 650.0)
    assert info.fwhm == (10.0, 10.5, 11.0)
    assert info.bad_bands == (False, True, False)
    assert info.gains is None and info.offsets is None and info.band_nodata is None
    assert info.source == "GDAL band metadata"


def test_micrometre_band_tags_are_converted(tmp_path):
    path = _tif(tmp_path / "um.tif")
    with rasterio.open(path, "r+") as ds:
        for b, wl in enumerate((0.45, 0.6, 2.2), start=1):
            ds.update_tags(b, WAVELENGTH=str(wl), WAVELENGTH_UNITS="µm", FWHM="0.01")
    info = _read(path)
    assert info.wavelengths == (450.0, 600.0, 2200.0)
    assert info.fwhm == (10.0, 10.0, 10.0)


def test_unitless_small_values_are_taken_as_micrometres(tmp_path):
    path = _tif(tmp_path / "guess.tif")
    with rasterio.open(path, "r+") as ds:
        for b, wl in enumerate((0.45, 0.6, 2.2), start=1):
            ds.update_tags(b, wavelength=str(wl))
    assert _read(path).wavelengths == (450.0, 600.0, 2200.0)


def test_imagery_domain(tmp_path):
    path = _tif(tmp_path / "imagery.tif")
    with rasterio.open(path, "r+") as ds:
        for b, wl in enumerate((0.443, 0.56, 0.865), start=1):
            ds.update_tags(b, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=str(wl), FWHM_UM="0.02")
    info = _read(path)
    assert info.wavelengths == (443.0, 560.0, 865.0)
    assert info.fwhm == (20.0, 20.0, 20.0)
    assert info.bad_bands is None
    assert info.source == "GDAL IMAGERY metadata"


def test_envi_header_through_gdal(tmp_path):
    path = _envi(tmp_path, "wavelength units = Micrometers\n"
                           "wavelength = { 0.45, 0.55,\n 0.65 }\n"
                           "fwhm = {0.01, 0.01, 0.012}\n"
                           "bbl = {1, 0, 1}\n"
                           "data ignore value = -9999\n"
                           "reflectance scale factor = 10000\n")
    info = _read(path)
    assert info.wavelengths == (450.0, 550.0, 650.0)
    assert info.fwhm == (10.0, 10.0, 12.0)
    assert info.bad_bands == (False, True, False)
    assert info.gains == pytest.approx((1e-4,) * 3)  # physical = raw / reflectance scale factor
    assert info.offsets is None
    assert info.band_nodata is None  # GDAL made the data ignore value the dataset's nodata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            assert ds.nodata == -9999
    assert "ENVI header" in info.source


def test_envi_gain_and_offset_values(tmp_path):
    path = _envi(tmp_path, "wavelength = {400, 500, 600}\n"
                           "data gain values = {2, 2, 0.5}\n"
                           "data offset values = {0, 1, 0}\n"
                           "reflectance scale factor = 10000\n")
    info = _read(path)
    assert info.wavelengths == (400.0, 500.0, 600.0)  # no unit and >= 100: nanometres
    assert info.gains == (2.0, 2.0, 0.5)  # the data gain values win over the reflectance scale factor
    assert info.offsets == (0.0, 1.0, 0.0)


def test_envi_domain_written_by_other_tools_with_spaces_in_keys(tmp_path):
    # EnMAP-Box-style: an ENVI domain on a GeoTIFF, keys spelled as in a .hdr ("wavelength units").
    path = _tif(tmp_path / "envi_domain.tif")
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(ns="ENVI", **{"wavelength": "{500, 600, 700}", "wavelength units": "nm",
                                     "bbl": "{1, 1, 0}", "data ignore value": "-1"})
    info = _read(path)
    assert info.wavelengths == (500.0, 600.0, 700.0)
    assert info.bad_bands == (False, False, True)
    assert info.band_nodata == (-1.0, -1.0, -1.0)  # GDAL did not apply it: the dataset has no nodata


def test_wavelengths_from_band_descriptions(tmp_path):
    path = _tif(tmp_path / "desc.tif")
    with rasterio.open(path, "r+") as ds:
        ds.descriptions = ("Band 1 (450.0 nm)", "Band 2 (550.0 nm)", "Band 3 (0.65 µm)")
    info = _read(path)
    assert info.wavelengths == (450.0, 550.0, 650.0)
    assert info.source == "band descriptions"


def test_band_numbers_in_descriptions_are_not_wavelengths(tmp_path):
    path = _tif(tmp_path / "names.tif")
    with rasterio.open(path, "r+") as ds:
        ds.descriptions = ("Band 1", "Band 2", "Band 3")
    assert _read(path).wavelengths is None


def test_no_spectral_metadata(tmp_path):
    info = _read(_tif(tmp_path / "plain.tif", nodata=0))
    assert info == SpectralInfo()
    assert info.source == ""


def test_incomplete_lists_are_ignored(tmp_path):
    path = _tif(tmp_path / "partial.tif")
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(1, wavelength="450", fwhm="10")
        ds.update_tags(2, wavelength="550", fwhm="10")  # band 3 has none
        ds.update_tags(ns="ENVI", wavelength="{450, 550}", bbl="{1, 0, 1, 1}", fwhm="{10, x, 10}")
        ds.descriptions = ("450 nm", "550 nm", "")
    assert _read(path) == SpectralInfo()


def test_envi_list_of_the_wrong_length_is_ignored(tmp_path):
    path = _envi(tmp_path, "wavelength units = Nanometers\nwavelength = {450, 550}\nbbl = {1, 0}\n")
    info = _read(path)
    assert info.wavelengths is None and info.bad_bands is None


def test_index_units_are_not_wavelengths(tmp_path):
    path = _envi(tmp_path, "wavelength units = Index\nwavelength = {1, 2, 3}\n")
    assert _read(path).wavelengths is None


def test_band_metadata_wins_over_the_envi_header(tmp_path):
    path = _tif(tmp_path / "both.tif")
    with rasterio.open(path, "r+") as ds:
        for b, wl in enumerate((451, 552, 653), start=1):
            ds.update_tags(b, wavelength=str(wl), wavelength_units="nm")
        ds.update_tags(ns="ENVI", wavelength="{400, 500, 600}", fwhm="{9, 9, 9}")
    info = _read(path)
    assert info.wavelengths == (451.0, 552.0, 653.0)
    assert info.fwhm == (9.0, 9.0, 9.0)  # band metadata has none: the header fills it
    assert info.source == "GDAL band metadata, ENVI header"


def test_gdal_scale_and_offset(tmp_path):
    path = _tif(tmp_path / "scaled.tif", dtype="int16")
    with rasterio.open(path, "r+") as ds:
        ds.scales = (0.0001, 0.0001, 0.0002)
        ds.offsets = (0.0, 0.0, -0.1)
    info = _read(path)
    assert info.gains == (0.0001, 0.0001, 0.0002)
    assert info.offsets == (0.0, 0.0, -0.1)
    assert info.source == "GDAL scale/offset"


def _vrt(tmp_path, nodata) -> str:
    """A VRT over a GeoTIFF, one NoDataValue per band (a GeoTIFF itself holds only one)."""
    source = _tif(tmp_path / "source.tif", count=len(nodata))
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{b}">'
        + ("" if value is None else f"<NoDataValue>{value}</NoDataValue>")
        + f'<SimpleSource><SourceFilename relativeToVRT="1">{source.name}</SourceFilename>'
        f"<SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
        for b, value in enumerate(nodata, start=1))
    path = tmp_path / "bands.vrt"
    path.write_text(f'<VRTDataset rasterXSize="4" rasterYSize="3">{bands}</VRTDataset>')
    return path


def test_per_band_nodata_when_bands_differ(tmp_path):
    info = _read(_vrt(tmp_path, (-9999, -9999, 0)))
    assert info.band_nodata == (-9999.0, -9999.0, 0.0)
    assert info.source == "GDAL nodata"


def test_per_band_nodata_with_a_band_without_one(tmp_path):
    assert _read(_vrt(tmp_path, (-9999, None, -9999))).band_nodata == (-9999.0, None, -9999.0)


def test_same_nodata_everywhere_is_the_dataset_nodata(tmp_path):
    assert _read(_vrt(tmp_path, ("nan", "nan", "nan"))).band_nodata is None


def test_identity_scale_is_none(tmp_path):
    path = _tif(tmp_path / "identity.tif")
    with rasterio.open(path, "r+") as ds:
        ds.scales = (1.0, 1.0, 1.0)
    assert _read(path).gains is None


@pytest.mark.parametrize("text, nm", [
    ("Band 12 (450.5 nm)", 450.5), ("450.5nm", 450.5), ("0.4505 µm", 450.5), ("0.4505 μm", 450.5),
    ("0.45 Micrometers", 450.0), ("wavelength=450.5", 450.5), ("Wavelength: 0.5", 500.0),
    ("2200.0 Nanometers", 2200.0), ("450.5", 450.5), ("B5 865 nm", 865.0), ("B8 (842 nm, FWHM 115 nm)", 842.0),
    ("Band 3", None), ("3", None), ("", None), ("red", None), ("owl: 3", None), ("-5 nm", None),
])
def test_parse_wavelength(text, nm):
    assert parse_wavelength(text) == nm


def _full() -> SpectralInfo:
    return SpectralInfo(wavelengths=(400.0, 500.0, 600.0, 700.0), fwhm=(10.0, 10.0, 11.0, 12.0),
                        bad_bands=(False, True, False, False), gains=(1e-4,) * 4, offsets=(0.0, 0.1, 0.0, 0.0),
                        band_nodata=(-9999.0, None, math.nan, 0.0), source="ENVI header")


def test_to_dict_round_trip_is_json_safe():
    info = _full()
    text = json.dumps(info.to_dict(), allow_nan=False)
    back = SpectralInfo.from_dict(json.loads(text))
    assert back.wavelengths == info.wavelengths and back.bad_bands == info.bad_bands
    assert back.gains == info.gains and back.offsets == info.offsets and back.source == info.source
    assert back.band_nodata[:2] == (-9999.0, None) and math.isnan(back.band_nodata[2])
    assert SpectralInfo.from_dict(SpectralInfo().to_dict()) == SpectralInfo()
    assert SpectralInfo.from_dict({}) == SpectralInfo()


def test_subset():
    sub = _full().subset([3, 1])
    assert sub.wavelengths == (700.0, 500.0)
    assert sub.fwhm == (12.0, 10.0)
    assert sub.bad_bands == (False, True)
    assert sub.offsets == (0.0, 0.1)
    assert sub.band_nodata == (0.0, None)
    assert sub.source == "ENVI header"
    assert SpectralInfo().subset([0, 1]) == SpectralInfo()
