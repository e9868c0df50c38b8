"""Class colours and QGIS layer styles (``.qml``) for the rasters ContrastDM writes.

No QGIS import: the styles are plain XML in the structure QGIS 3.22 itself saves
(``QgsMapLayer.saveNamedStyle``), so QGIS picks up ``map.qml`` automatically when it opens ``map.tif``.
"""

from __future__ import annotations

import colorsys
import re
import xml.etree.ElementTree as ET
from typing import Any, Iterable, Sequence

from ..errors import InputError

RGB = tuple[int, int, int]

QGIS_STYLE_VERSION = "3.22.0"

# A qualitative palette: Tableau 10 then its lighter partners (Tableau 20), reordered so that the
# first classes get the most distinct colours. Beyond 20 classes colours come from a golden-ratio
# walk around the hue circle at alternating lightness, which stays distinct and deterministic.
_BASE_PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)

# Viridis (matplotlib's perceptually uniform map) at 17 evenly spaced stops.
VIRIDIS: tuple[str, ...] = (
    "#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e", "#26828e",
    "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30", "#d8e219",
    "#fde725",
)

_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})([0-9a-fA-F]{2})?$")


def parse_color(value: Any) -> RGB:
    """``"#rrggbb"`` (or ``"#rgb"``, ``"#rrggbbaa"``, alpha ignored, ``#`` optional) or an (r, g, b) sequence."""
    if isinstance(value, str):
        match = _HEX.match(value.strip())
        if not match:
            raise InputError(f"colour {value!r} is not of the form #rrggbb")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    try:
        parts = [int(v) for v in value]
    except (TypeError, ValueError):
        raise InputError(f"colour {value!r} is not of the form #rrggbb") from None
    if len(parts) not in (3, 4) or not all(0 <= v <= 255 for v in parts):
        raise InputError(f"colour {value!r} is not an (r, g, b) triple of 0..255")
    return (parts[0], parts[1], parts[2])


def color_to_hex(color: Sequence[int]) -> str:
    """(r, g, b) -> ``"#rrggbb"``."""
    r, g, b = (int(v) for v in tuple(color)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def default_color(index: int) -> RGB:
    """The colour of the ``index``-th class (0-based position in the class list, not the class id)."""
    if index < 0:
        raise ValueError("colour index must be >= 0")
    if index < len(_BASE_PALETTE):
        return parse_color(_BASE_PALETTE[index])
    k = index - len(_BASE_PALETTE)
    hue = (0.11 + k * 0.618033988749895) % 1.0
    saturation = (0.80, 0.55, 0.95)[k % 3]
    value = (0.85, 0.65, 0.95, 0.75)[(k // 3) % 4]
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


def default_palette(n: int) -> list[RGB]:
    """``n`` distinct, deterministic colours for ``n`` classes."""
    return [default_color(i) for i in range(n)]


def _class_fields(item: Any) -> tuple[int, str, RGB]:
    if hasattr(item, "id") and hasattr(item, "name"):
        return int(item.id), str(item.name), parse_color(item.color)
    class_id, name, color = item
    return int(class_id), str(name), parse_color(color)


def _qgis_root() -> ET.Element:
    root = ET.Element("qgis", {
        "version": QGIS_STYLE_VERSION, "styleCategories": "AllStyleCategories",
        "hasScaleBasedVisibilityFlag": "0", "minScale": "1e+08", "maxScale": "0",
    })
    flags = ET.SubElement(root, "flags")
    for name, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"), ("Private", "0")):
        ET.SubElement(flags, name).text = value
    custom = ET.SubElement(ET.SubElement(root, "customproperties"), "Option", {"type": "Map"})
    ET.SubElement(custom, "Option", {"type": "QString", "name": "identify/format", "value": "Value"})
    return root


def _pipe(root: ET.Element, renderer_attrs: dict[str, str]) -> tuple[ET.Element, ET.Element]:
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(provider, "resampling", {
        "enabled": "false", "zoomedInResamplingMethod": "nearestNeighbour",
        "zoomedOutResamplingMethod": "nearestNeighbour", "maxOversampling": "2",
    })
    renderer = ET.SubElement(pipe, "rasterrenderer", renderer_attrs)
    minmax = ET.SubElement(renderer, "minMaxOrigin")
    for name, value in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                        ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        ET.SubElement(minmax, name).text = value
    return pipe, renderer


def _finish(root: ET.Element, pipe: ET.Element) -> str:
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(pipe, "huesaturation", {
        "saturation": "0", "grayscaleMode": "0", "invertColors": "0", "colorizeOn": "0",
        "colorizeRed": "255", "colorizeGreen": "128", "colorizeBlue": "128", "colorizeStrength": "100",
    })
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(pipe, "resamplingStage").text = "resamplingFilter"
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root, space="  ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def class_map_qml(classes: Iterable[Any]) -> str:
    """A QGIS paletted ("Paletted/Unique values") style: one entry per class, value 0 left transparent.

    ``classes``: objects with ``id``, ``name`` and ``color`` (``ClassInfo``) or ``(id, name, color)``
    tuples; ``color`` as (r, g, b) or ``"#rrggbb"``.
    """
    root = _qgis_root()
    pipe, renderer = _pipe(root, {
        "type": "paletted", "band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": "",
    })
    palette = ET.SubElement(renderer, "colorPalette")
    for class_id, name, color in sorted((_class_fields(c) for c in classes), key=lambda c: c[0]):
        ET.SubElement(palette, "paletteEntry", {
            "value": str(class_id), "color": color_to_hex(color), "alpha": "255", "label": name,
        })
    return _finish(root, pipe)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def confidence_qml(vmin: float = 0.0, vmax: float = 1.0) -> str:
    """A QGIS single-band pseudocolour style: viridis, interpolated from ``vmin`` to ``vmax``."""
    if not vmax > vmin:
        raise ValueError("vmax must be greater than vmin")
    root = _qgis_root()
    pipe, renderer = _pipe(root, {
        "type": "singlebandpseudocolor", "band": "1", "opacity": "1", "alphaBand": "-1", "nodataColor": "",
        "classificationMin": _fmt(vmin), "classificationMax": _fmt(vmax),
    })
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader", {
        "colorRampType": "INTERPOLATED", "classificationMode": "1", "clip": "0",
        "minimumValue": _fmt(vmin), "maximumValue": _fmt(vmax), "labelPrecision": "2",
    })
    n = len(VIRIDIS)
    rgba = [",".join(str(v) for v in parse_color(c)) + ",255" for c in VIRIDIS]
    stops = ":".join(f"{_fmt(i / (n - 1))};{rgba[i]}" for i in range(1, n - 1))
    ramp = ET.SubElement(shader, "colorramp", {"type": "gradient", "name": "[source]"})
    options = ET.SubElement(ramp, "Option", {"type": "Map"})
    props = {"color1": rgba[0], "color2": rgba[-1], "discrete": "0", "rampType": "gradient", "stops": stops}
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(ramp, "prop", {"k": key, "v": value})
    for i, color in enumerate(VIRIDIS):
        value = vmin + (vmax - vmin) * i / (n - 1)
        ET.SubElement(shader, "item", {
            "value": _fmt(value), "color": color, "alpha": "255", "label": f"{value:.2f}",
        })
    return _finish(root, pipe)
