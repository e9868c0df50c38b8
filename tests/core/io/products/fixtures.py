"""Tiny sensor products written in each documented layout (see the docstrings of contrastdm.io.products.*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

ENMAP_NAME = "ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z"
EMIT_NAME = "EMIT_L2A_RFL_001_20220815T042838_2222703_003.nc"
PRISMA_NAME = "PRS_L2D_STD_20201107101404_20201107101408_0001.he5"
PRISMA_FIELDS = "HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields"


@dataclass
class Fixture:
    path: Path  # what the user gives
    expected: np.ndarray  # physical values (bands, rows, cols), nodata where nodata
    nodata: float
    wavelengths: list
    fwhm: list
    bbl: list
    crs: CRS
    transform: object
    extra: dict = field(default_factory=dict)


def write_geotiff(path: Path, bands: int = 4, width: int = 12, height: int = 10) -> Path:
    data = np.arange(bands * width * height, dtype=np.float32).reshape(bands, height, width)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=bands, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(300000, 5000000, 30, 30)) as dst:
        dst.write(data)
    return path


# ---- EnMAP L2A ---------------------------------------------------------------------------------


def enmap_xml(wavelengths, fwhm, gains, offsets, flat=(), omit=None) -> str:
    """``level_X`` metadata with ``specific/bandCharacterisation`` and ``product/bandStatistics``."""
    chars, stats = [], []
    for i, values in enumerate(zip(wavelengths, fwhm, gains, offsets), start=1):
        fields = dict(zip(("wavelengthCenterOfBand", "FWHMOfBand", "GainOfBand", "OffsetOfBand"), values))
        if omit and omit[0] == i:
            fields.pop(omit[1])
        inner = "".join(f"<{k}>{v!r}</{k}>" for k, v in fields.items())
        chars.append(f'      <bandID number="{i}">{inner}</bandID>')
        std = "0" if i in flat else "123.4"
        mean = "-1000000" if i in flat else "1500.0"
        stats.append(f'      <bandID number="{i}"><wavelength>{values[0]!r}</wavelength><mean>{mean}</mean>'
                     f"<stdDeviation>{std}</stdDeviation></bandID>")
    nl = "\n"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<level_X>\n  <base><level>L2A</level></base>\n'
            f"  <specific>\n    <code>L2A</code>\n    <bandCharacterisation>\n{nl.join(chars)}\n"
            f"    </bandCharacterisation>\n  </specific>\n  <product>\n    <bandStatistics>\n{nl.join(stats)}\n"
            f"    </bandStatistics>\n  </product>\n</level_X>\n")


def write_enmap(root: Path, bands: int = 16, width: int = 12, height: int = 10, xml_bands: int | None = None,
                omit=None) -> Fixture:
    """Product folder with ``-SPECTRAL_IMAGE.TIF`` (int16, nodata -32768) and ``-METADATA.XML``."""
    folder = root / ENMAP_NAME
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    dn = rng.integers(0, 10000, size=(bands, height, width), dtype=np.int16)
    dn[:, 0, :3] = -32768  # outside the acquisition
    wavelengths = [round(418.4 + 13.7 * i, 3) for i in range(bands)]
    fwhm = [round(6.5 + 0.1 * i, 2) for i in range(bands)]
    gains = [2e-5 * (1 + i % 3) for i in range(bands)]
    offsets = [-0.01 * (i % 2) for i in range(bands)]
    crs, transform = CRS.from_epsg(32633), from_origin(368010.0, 5808030.0, 30, 30)
    image = folder / f"{ENMAP_NAME}-SPECTRAL_IMAGE.TIF"
    with rasterio.open(image, "w", driver="GTiff", width=width, height=height, count=bands, dtype="int16",
                       crs=crs, transform=transform, nodata=-32768) as dst:
        dst.write(dn)
    n = bands if xml_bands is None else xml_bands
    (folder / f"{ENMAP_NAME}-METADATA.XML").write_text(
        enmap_xml(wavelengths[:n], fwhm[:n], gains[:n], offsets[:n], flat=(5,), omit=omit))
    gain, offset = np.array(gains)[:, None, None], np.array(offsets)[:, None, None]
    expected = np.where(dn == -32768, -32768.0, dn * gain + offset)
    bbl = [0 if i == 5 else 1 for i in range(1, bands + 1)]
    return Fixture(image, expected, -32768.0, wavelengths, fwhm, bbl, crs, transform,
                   {"folder": folder, "xml": folder / f"{ENMAP_NAME}-METADATA.XML", "gains": gains,
                    "offsets": offsets, "dn": dn})


# ---- EMIT L2A reflectance ----------------------------------------------------------------------


def emit_glt(out_rows: int, out_cols: int, downtrack: int, crosstrack: int) -> tuple[np.ndarray, np.ndarray]:
    """1-based GLT of a swath rotated by 90 degrees and shifted on the map grid, with holes (0, 0)."""
    r, c = np.mgrid[0:out_rows, 0:out_cols]
    src_row = (r * 2) // 3 - 1  # downtrack runs down the map, stretched
    src_col = (out_cols - 1 - c) - 1  # crosstrack runs right to left: a rotated, shifted swath
    valid = (src_row >= 0) & (src_row < downtrack) & (src_col >= 0) & (src_col < crosstrack)
    valid &= (r + c) % 7 != 3  # interior holes
    glt_x = np.where(valid, src_col + 1, 0).astype(np.int32)
    glt_y = np.where(valid, src_row + 1, 0).astype(np.int32)
    return glt_x, glt_y


def write_emit(path: Path, downtrack: int = 24, crosstrack: int = 10, bands: int = 12, out_rows: int = 36,
               out_cols: int = 12, location: bool = True, wavelengths: bool = True, glt=None) -> Fixture:
    import h5py

    rng = np.random.default_rng(2)
    refl = rng.random((downtrack, crosstrack, bands), dtype=np.float32)
    refl[3, 4, :] = -9999.0  # fill in the raw cube
    wl = (381.0 + 7.4 * np.arange(bands)).astype(np.float32)
    fwhm = (8.0 + 0.05 * np.arange(bands)).astype(np.float32)
    good = np.ones(bands, np.uint8)
    good[[4, 9]] = 0
    glt_x, glt_y = glt if glt is not None else emit_glt(out_rows, out_cols, downtrack, crosstrack)
    geotransform = np.array([-118.5, 0.000542232520256367, 0.0, 36.25, 0.0, -0.000542232520256367])
    with h5py.File(path, "w") as f:
        cube = f.create_dataset("reflectance", data=refl, chunks=(4, crosstrack, bands), compression="gzip")
        cube.attrs["_FillValue"] = np.float32(-9999.0)
        group = f.create_group("sensor_band_parameters")
        if wavelengths:
            group.create_dataset("wavelengths", data=wl)
        group.create_dataset("fwhm", data=fwhm)
        group.create_dataset("good_wavelengths", data=good)
        if location:
            loc = f.create_group("location")
            loc.create_dataset("glt_x", data=glt_x)
            loc.create_dataset("glt_y", data=glt_y)
        f.attrs["geotransform"] = geotransform
        f.attrs["spatial_ref"] = CRS.from_epsg(4326).to_wkt()
    expected = np.full((bands,) + glt_x.shape, -9999.0, np.float32)
    for (r, c), x in np.ndenumerate(glt_x):
        if x != 0 and 0 < abs(glt_y[r, c]) <= downtrack:
            expected[:, r, c] = refl[abs(glt_y[r, c]) - 1, abs(x) - 1, :]
    return Fixture(path, expected, -9999.0, wl.tolist(), fwhm.tolist(), good.astype(int).tolist(),
                   CRS.from_epsg(4326), rasterio.Affine.from_gdal(*geotransform), {"refl": refl})


# ---- PRISMA L2D --------------------------------------------------------------------------------

VNIR_CW = [0.0, 0.0, 980.2, 950.5, 700.1, 600.3, 500.7, 400.9]  # cube order: decreasing, unused bands 0
SWIR_CW = [2400.5, 2200.25, 2000.75, 1800.5, 1600.1, 1400.3, 1200.9, 1000.4, 940.6, 0.0]


def write_prisma(path: Path, rows: int = 10, cols: int = 12, skip_dataset: str | None = None,
                 skip_attribute: str | None = None) -> Fixture:
    import h5py

    rng = np.random.default_rng(3)
    vnir_cw, swir_cw = np.array(VNIR_CW, np.float32), np.array(SWIR_CW, np.float32)
    vnir = rng.integers(1, 65535, size=(rows, vnir_cw.size, cols), dtype=np.uint16)
    swir = rng.integers(1, 65535, size=(rows, swir_cw.size, cols), dtype=np.uint16)
    vnir[0, :, 0] = swir[0, :, 0] = 0  # outside the acquisition
    vnir[1, 3, 1] = 0  # a single zero DN is a value, not nodata
    attrs = {
        "List_Cw_Vnir": vnir_cw, "List_Fwhm_Vnir": np.where(vnir_cw > 0, 12.0 + vnir_cw / 1000, 0).astype(np.float32),
        "List_Cw_Vnir_Flags": (vnir_cw > 0).astype(np.uint8),
        "List_Cw_Swir": swir_cw, "List_Fwhm_Swir": np.where(swir_cw > 0, 9.0 + swir_cw / 1000, 0).astype(np.float32),
        "List_Cw_Swir_Flags": (swir_cw > 0).astype(np.uint8),
        "L2ScaleVnirMin": np.float32(0.01), "L2ScaleVnirMax": np.float32(0.9),
        "L2ScaleSwirMin": np.float32(0.0), "L2ScaleSwirMax": np.float32(0.8),
        "Epsg_Code": np.int32(32632), "Processing_Level": "2D",
        "Product_ULcorner_easting": 500015.0, "Product_ULcorner_northing": 4999985.0,
        "Product_LLcorner_easting": 500015.0, "Product_URcorner_northing": 4999985.0,
    }
    with h5py.File(path, "w") as f:
        for name, cube in (("VNIR_Cube", vnir), ("SWIR_Cube", swir)):
            if name != skip_dataset:
                f.create_dataset(f"{PRISMA_FIELDS}/{name}", data=cube, chunks=(4, cube.shape[1], cols))
        for key, value in attrs.items():
            if key != skip_attribute:
                f.attrs[key] = value
    vnir_r = np.float32(0.01) + vnir.astype(np.float32) * np.float32((np.float32(0.9) - np.float32(0.01)) / 65535)
    swir_r = np.float32(0.0) + swir.astype(np.float32) * np.float32((np.float32(0.8) - np.float32(0.0)) / 65535)
    keep_v, keep_s = vnir_cw > 0, swir_cw > 0
    refl = np.concatenate([vnir_r[:, keep_v], swir_r[:, keep_s]], axis=1)
    wl = np.concatenate([vnir_cw[keep_v], swir_cw[keep_s]])
    fwhm = np.concatenate([attrs["List_Fwhm_Vnir"][keep_v], attrs["List_Fwhm_Swir"][keep_s]])
    order = np.argsort(wl)
    expected = refl[:, order].transpose(1, 0, 2).copy()
    expected[:, 0, 0] = -9999.0
    return Fixture(path, expected, -9999.0, wl[order].tolist(), fwhm[order].tolist(), [1] * wl.size,
                   CRS.from_epsg(32632), from_origin(500000.0, 5000000.0, 30, 30))


# ---- checks shared by the tests ----------------------------------------------------------------


def check_bands(src, fx: Fixture) -> None:
    """Band tags, descriptions, nodata, CRS and transform of an open raster against the fixture."""
    assert src.count == len(fx.wavelengths)
    assert src.crs == fx.crs
    assert src.transform.almost_equals(fx.transform)
    for i in range(src.count):
        tags = src.tags(i + 1)
        assert np.isclose(float(tags["wavelength"]), fx.wavelengths[i], rtol=1e-7, atol=0)
        assert len(tags["wavelength"]) <= 9  # float32 values written without float64 noise
        assert tags["wavelength_units"] == "Nanometers"
        assert np.isclose(float(tags["fwhm"]), fx.fwhm[i], rtol=1e-6)
        assert tags["bbl"] == str(fx.bbl[i])
        assert src.descriptions[i] == f"band {i + 1} ({fx.wavelengths[i]:.1f} nm)"
        assert src.nodatavals[i] == fx.nodata


def physical(src) -> np.ndarray:
    """Pixel values after GDAL scale/offset, nodata left as the nodata value."""
    raw = src.read().astype(np.float64)
    scales = np.array(src.scales)[:, None, None]
    offsets = np.array(src.offsets)[:, None, None]
    nodata = np.array(src.nodatavals, dtype=np.float64)[:, None, None]
    return np.where(raw == nodata, raw, raw * scales + offsets)


def check_error(excinfo, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message
    for fragment in fragments:
        assert fragment in message, message


def check_refused(path, out_dir, *fragments: str) -> None:
    """Materialising ``path`` fails with one clear message naming ``fragments`` and leaves nothing behind."""
    import pytest

    from contrastdm.errors import InputError
    from contrastdm.io.products import materialize

    with pytest.raises(InputError) as excinfo:
        materialize(path, out_dir)
    check_error(excinfo, *fragments)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def check_reused(path, out_dir) -> None:
    """A second materialisation of the same product returns the first file without rewriting it."""
    from contrastdm.io.products import materialize

    first = materialize(path, out_dir)
    stamp = first.stat().st_mtime_ns
    assert materialize(path, out_dir) == first
    assert first.stat().st_mtime_ns == stamp
