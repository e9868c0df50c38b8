"""EnMAP L2A: a small VRT over the product's spectral image, with the band metadata of its XML.

Layout followed (DLR EnMAP Level-2A product as read by EnMAP-Box
``enmapboxprocessing/algorithm/importenmapl2aalgorithm.py`` and written by GFZ EnPT
``enpt/model/metadata/metadata_mapgeo.py``):

* a product folder ``ENMAP01-____L2A-DT..._V010302_...Z/`` holding ``<name>-SPECTRAL_IMAGE.TIF`` (int16
  GeoTIFF; ``-SPECTRAL_IMAGE_COG.TIF`` for ARD products, ``.BSQ/.BIL/.BIP`` for the ENVI delivery
  formats) and ``<name>-METADATA.XML``; the user may give the image, the XML or the folder;
* XML root ``level_X``; per band ``specific/bandCharacterisation/bandID[@number]`` with
  ``wavelengthCenterOfBand`` and ``FWHMOfBand`` (nm), ``GainOfBand`` and ``OffsetOfBand``
  (physical = DN * gain + offset);
* ``product/bandStatistics/bandID[@number]/stdDeviation``: a band whose statistics show no variation is a
  no-data band (EnMAP-Box drops those, its issues #267 and #974); here it keeps its place with ``bbl`` 0;
* nodata: the TIFF's own; -32768 (the L2A fill) when an int16 image declares none.

Values: no pixel is copied or changed. The VRT keeps the raw integers and sets GDAL band scale/offset to
the product's gains/offsets, so physical = raw * scale + offset. :func:`convert` copies that VRT into a
GeoTIFF, which keeps the integers with the same scale/offset.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile

from ...errors import InputError
from . import WAVELENGTH_UNITS, Bands, number, one_line

SENSOR = "EnMAP L2A"
SUFFIX = ".vrt"
L2A_NODATA = -32768

_XML = re.compile(r"^(ENMAP.*L2A.*)-METADATA\.XML$", re.IGNORECASE)
_IMAGE = re.compile(r"^(ENMAP.*L2A.*)-SPECTRAL_IMAGE(?:_COG)?\.(TIF|TIFF|BSQ|BIL|BIP)$", re.IGNORECASE)
_IMAGE_EXTENSIONS = (".tif", ".tiff", ".bsq", ".bil", ".bip")
_GDAL_TYPES = {"uint8": "Byte", "int8": "Int8", "uint16": "UInt16", "int16": "Int16", "uint32": "UInt32",
               "int32": "Int32", "float32": "Float32", "float64": "Float64"}
_BAND_FIELDS = ("wavelengthCenterOfBand", "FWHMOfBand", "GainOfBand", "OffsetOfBand")


def detect(path: Path) -> str | None:
    if path.is_dir():
        return SENSOR if any(_XML.match(entry.name) for entry in os.scandir(path)) else None
    return SENSOR if _XML.match(path.name) or _IMAGE.match(path.name) else None


def _sibling(folder: Path, names: list[str]) -> Path | None:
    """The first of ``names`` present in ``folder``, matched without regard to case (products get renamed
    by unzip tools and file systems)."""
    present = {entry.name.lower(): entry.name for entry in os.scandir(folder)}
    for name in names:
        if name.lower() in present:
            return folder / present[name.lower()]
    return None


def _image_for(xml: Path, prefix: str) -> Path:
    names = [f"{prefix}-SPECTRAL_IMAGE{cog}{ext}" for cog in ("", "_COG") for ext in _IMAGE_EXTENSIONS]
    image = _sibling(xml.parent, names)
    if image is None:
        raise InputError(f"EnMAP L2A spectral image is missing: no {prefix}-SPECTRAL_IMAGE.TIF next to {xml}")
    return image


def _locate(path: Path) -> tuple[Path, Path]:
    """(spectral image, metadata XML) of the product given as image, XML or folder."""
    if path.is_dir():
        xmls = sorted(entry.name for entry in os.scandir(path) if _XML.match(entry.name))
        if len(xmls) != 1:
            raise InputError(f"EnMAP L2A folder must hold exactly one *-METADATA.XML, found {len(xmls)}: {path}")
        path = path / xmls[0]
    match = _XML.match(path.name)
    if match:
        return _image_for(path, match.group(1)), path
    prefix = _IMAGE.match(path.name).group(1)
    xml = _sibling(path.parent, [f"{prefix}-METADATA.XML"])
    if xml is None:
        raise InputError(f"EnMAP L2A metadata file is missing: expected {prefix}-METADATA.XML next to {path}")
    return path, xml


def sources(path: Path) -> list[Path]:
    image, xml = _locate(path)
    return [image, xml]


def _parse(xml: Path) -> ET.Element:
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        raise InputError(f"EnMAP L2A metadata file is not complete XML ({one_line(exc)}): {xml}") from None
    except OSError as exc:
        raise InputError(f"EnMAP L2A metadata file cannot be read ({one_line(exc.strerror or exc)}): {xml}") from None
    for element in root.iter():  # DLR files have no namespace today; tolerate one tomorrow
        if isinstance(element.tag, str) and "}" in element.tag:
            element.tag = element.tag.rsplit("}", 1)[1]
    return root


def _band_values(element: ET.Element, number_: int, xml: Path) -> list[float]:
    values = []
    for field in _BAND_FIELDS:
        text = element.findtext(field)
        if text is None or not text.strip():
            raise InputError(f"EnMAP L2A metadata has no {field} for band {number_}: {xml}")
        try:
            values.append(float(text))
        except ValueError:
            raise InputError(f"EnMAP L2A metadata {field} of band {number_} is not a number ({text!r}): {xml}") from None
    return values


def _band_numbers(elements: list[ET.Element], xml: Path) -> list[int]:
    try:
        numbers = [int(element.get("number", "")) for element in elements]
    except ValueError:
        raise InputError(f"EnMAP L2A metadata has a bandID without a band number: {xml}") from None
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        raise InputError(f"EnMAP L2A metadata band numbers are not 1..{len(numbers)}: {xml}")
    return numbers


def _no_variation(root: ET.Element) -> set[int]:
    """Band numbers whose product statistics show a constant (no-data) band."""
    flat = set()
    for element in root.findall("product/bandStatistics/bandID"):
        try:
            if float(element.findtext("stdDeviation", "nan")) == 0:
                flat.add(int(element.get("number", "")))
        except ValueError:
            continue
    return flat


def read_metadata(xml: Path) -> tuple[Bands, list[float], list[float]]:
    """(bands, gains, offsets) from the product XML, in band-number order."""
    root = _parse(xml)
    elements = root.findall("specific/bandCharacterisation/bandID")
    if not elements:
        raise InputError(f"EnMAP L2A metadata has no band characterisation (specific/bandCharacterisation/bandID): {xml}")
    numbers = _band_numbers(elements, xml)
    rows = sorted((n, _band_values(e, n, xml)) for n, e in zip(numbers, elements))
    flat = _no_variation(root)
    bands = Bands(wavelengths=[r[1][0] for r in rows], fwhm=[r[1][1] for r in rows],
                  bbl=[0 if n in flat else 1 for n, _ in rows])
    return bands, [r[1][2] for r in rows], [r[1][3] for r in rows]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def _vrt_band(root: ET.Element, src, image: Path, index: int, meta, nodata) -> None:
    bands, gains, offsets = meta
    dtype = src.dtypes[index]
    band = _sub(root, "VRTRasterBand", dataType=_GDAL_TYPES[dtype], band=str(index + 1))
    metadata = _sub(band, "Metadata")
    for key, value in bands.tags(index).items():
        _sub(metadata, "MDI", value, key=key)
    _sub(band, "Description", bands.description(index))
    if nodata is not None:
        _sub(band, "NoDataValue", number(float(nodata)))
    _sub(band, "Offset", repr(float(offsets[index])))
    _sub(band, "Scale", repr(float(gains[index])))
    source = _sub(band, "SimpleSource")
    _sub(source, "SourceFilename", os.path.abspath(image), relativeToVRT="0")
    _sub(source, "SourceBand", str(index + 1))
    block_rows, block_cols = src.block_shapes[index]
    _sub(source, "SourceProperties", RasterXSize=str(src.width), RasterYSize=str(src.height),
         DataType=_GDAL_TYPES[dtype], BlockXSize=str(block_cols), BlockYSize=str(block_rows))
    for rect in ("SrcRect", "DstRect"):
        _sub(source, rect, xOff="0", yOff="0", xSize=str(src.width), ySize=str(src.height))


def _vrt(src, image: Path, meta) -> str:
    if any(dtype not in _GDAL_TYPES for dtype in src.dtypes):
        raise InputError(f"EnMAP L2A spectral image has an unsupported data type {src.dtypes[0]}: {image}")
    nodata = src.nodata
    if nodata is None and src.dtypes[0] == "int16":
        nodata = L2A_NODATA
    root = ET.Element("VRTDataset", rasterXSize=str(src.width), rasterYSize=str(src.height))
    if src.crs is not None:
        _sub(root, "SRS", src.crs.to_wkt())
    _sub(root, "GeoTransform", ", ".join(repr(float(v)) for v in src.transform.to_gdal()))
    metadata = _sub(root, "Metadata")
    _sub(metadata, "MDI", SENSOR, key="sensor")
    _sub(metadata, "MDI", WAVELENGTH_UNITS, key="wavelength_units")
    for index in range(src.count):
        _vrt_band(root, src, image, index, meta, nodata)
    return ET.tostring(root, encoding="unicode")


def build_vrt(path: Path) -> str:
    """The VRT document for the product at ``path`` (image, XML or folder)."""
    image, xml = _locate(path)
    meta = read_metadata(xml)
    try:
        with rasterio.open(image) as src:
            if src.count != len(meta[0]):
                raise InputError(f"EnMAP L2A metadata describes {len(meta[0])} bands but the spectral image has "
                                 f"{src.count}: {xml}")
            return _vrt(src, image, meta)
    except RasterioError as exc:
        raise InputError(f"EnMAP L2A spectral image cannot be read ({one_line(exc)}): {image}") from None


def write(path: Path, target: str, geotiff: bool) -> None:
    document = build_vrt(path)
    if not geotiff:
        Path(target).write_text(document, encoding="utf-8")
        return
    # GDAL's GeoTIFF copy keeps band metadata, descriptions, nodata and scale/offset.
    with MemoryFile(document.encode("utf-8"), ext=".vrt") as memory, memory.open() as src:
        rasterio.shutil.copy(src, target, driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
                             interleave="band", compress="deflate", predictor=2, bigtiff="if_safer")
