"""Spectral metadata of a raster (band centres, widths, bad-band flags, gains, per-band nodata), read once.

GDAL exposes the same facts in several places, depending on the format and the GDAL version; each field is
taken from the first of these sources that describes every band (a list of the wrong length, or a value that
does not parse, makes that source count as absent for that field, never an error):

1. band metadata, default domain (``wavelength``, ``wavelength_units``, ``fwhm``, ``bbl``; the GDAL ENVI
   driver's ``good_band``), and the band-level ``ENVI`` domain some tools (EnMAP-Box) write;
2. the band ``IMAGERY`` domain (``CENTRAL_WAVELENGTH_UM``, ``FWHM_UM``, micrometres; GDAL >= 3.10);
3. the ENVI header as GDAL's ENVI driver exposes it: the dataset ``ENVI`` domain, keys lower-case with
   spaces turned into underscores (``wavelength``, ``fwhm``, ``bbl``, ``wavelength_units``,
   ``data_ignore_value``, ``reflectance_scale_factor``, ``data_gain_values``, ``data_offset_values``),
   values as brace lists "{ 400.0, 410.0 }" (data gain values win over the reflectance scale factor f,
   which otherwise gives the gain 1/f);
4. GDAL's own band scale/offset (the ENVI driver sets them from the data gain/offset values);
5. band descriptions that state a wavelength ("Band 3 (550.0 nm)", "0.45 Micrometers").

Wavelengths and FWHM are returned in nanometres.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

# Values below this look like micrometres when no unit is given: no optical band is centred below 100 nm.
MICROMETRE_GUESS_BELOW = 100.0
# A FWHM below 1 without a unit is micrometres: no imaging spectrometer resolves bands narrower than 1 nm.
FWHM_MICROMETRE_GUESS_BELOW = 1.0

_FACTORS_TO_NM = {
    "nm": 1.0, "nanometer": 1.0, "nanometers": 1.0, "nanometre": 1.0, "nanometres": 1.0,
    "um": 1e3, "µm": 1e3, "μm": 1e3, "micrometer": 1e3, "micrometers": 1e3, "micrometre": 1e3,
    "micrometres": 1e3, "micron": 1e3, "microns": 1e3,
    "mm": 1e6, "millimeter": 1e6, "millimeters": 1e6, "millimetre": 1e6, "millimetres": 1e6,
    "cm": 1e7, "centimeter": 1e7, "centimeters": 1e7, "m": 1e9, "meter": 1e9, "meters": 1e9,
}
_UNKNOWN_UNITS = ("", "unknown")
_WAVENUMBER_UNITS = ("wavenumber", "cm-1", "1/cm")  # ENVI "Wavenumber" is cm^-1: nm = 1e7 / value


@dataclass(frozen=True)
class SpectralInfo:
    """Per-band spectral metadata of a raster; every tuple has one entry per band, or is None (unknown)."""

    wavelengths: tuple[float, ...] | None = None  # band centres, nm
    fwhm: tuple[float, ...] | None = None  # full width at half maximum, nm
    bad_bands: tuple[bool, ...] | None = None  # True = flagged bad by the metadata (bbl == 0)
    gains: tuple[float, ...] | None = None  # physical value = raw * gain + offset (None: gain 1)
    offsets: tuple[float, ...] | None = None  # (None: offset 0)
    band_nodata: tuple[float | None, ...] | None = None  # per-band nodata when bands differ (None: the dataset's)
    source: str = ""  # where the metadata came from, for the log and the report

    def to_dict(self) -> dict:
        """A JSON-safe dictionary (non-finite nodata values as the strings "nan", "inf", "-inf")."""
        return {
            "wavelengths": _out(self.wavelengths),
            "fwhm": _out(self.fwhm),
            "bad_bands": None if self.bad_bands is None else [bool(b) for b in self.bad_bands],
            "gains": _out(self.gains),
            "offsets": _out(self.offsets),
            "band_nodata": _out(self.band_nodata),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d) -> SpectralInfo:
        """The inverse of :meth:`to_dict`; missing keys are unknown."""
        d = d or {}
        bad = d.get("bad_bands")
        return cls(
            wavelengths=_in(d.get("wavelengths")),
            fwhm=_in(d.get("fwhm")),
            bad_bands=None if bad is None else tuple(bool(b) for b in bad),
            gains=_in(d.get("gains")),
            offsets=_in(d.get("offsets")),
            band_nodata=_in(d.get("band_nodata")),
            source=str(d.get("source") or ""),
        )

    def subset(self, indices) -> SpectralInfo:
        """The same metadata for the bands at the given 0-based ``indices``, in that order."""
        idx = [int(i) for i in indices]

        def pick(values):
            return None if values is None else tuple(values[i] for i in idx)

        return SpectralInfo(pick(self.wavelengths), pick(self.fwhm), pick(self.bad_bands), pick(self.gains),
                            pick(self.offsets), pick(self.band_nodata), self.source)


def _out(values):
    if values is None:
        return None
    return [None if v is None else (float(v) if math.isfinite(v) else str(float(v))) for v in values]


def _in(values):
    return None if values is None else tuple(None if v is None else float(v) for v in values)


# --- parsing ---------------------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_UNIT = r"nanomet(?:er|re)s?|nm|micromet(?:er|re)s?|microns?|[uµμ]m"
_WITH_UNIT = re.compile(rf"({_NUMBER})\s*({_UNIT})(?![a-z])", re.IGNORECASE)
_KEYED = re.compile(rf"\b(?:wavelength|wvl|lambda|wl)\s*[=:]\s*({_NUMBER})(?:\s*({_UNIT})(?![a-z]))?", re.IGNORECASE)
_BARE = re.compile(rf"\s*({_NUMBER})\s*")


def parse_wavelength(text: str) -> float | None:
    """The wavelength (nm) a band description states, or None.

    Understands "Band 12 (450.5 nm)", "450.5nm", "0.4505 µm", "0.45 Micrometers" (the GDAL ENVI driver's
    descriptions), "wavelength=450.5" and a description that is only a decimal number ("450.5"). A number
    without a unit is nanometres, or micrometres below 100; a band number ("Band 3") is not a wavelength.
    """
    if not text:
        return None
    found = _WITH_UNIT.search(text)  # the first number with a unit: a centre comes before a width
    if found:
        value, unit = found.groups()
        return _positive(float(value) * _factor(unit))
    keyed = _KEYED.search(text)
    if keyed:
        value, unit = keyed.groups()
        return _positive(float(value) * _factor(unit) if unit else _guess_nm(float(value)))
    bare = _BARE.fullmatch(text)
    if bare and "." in bare.group(1):  # "450.5" yes, "3" (likely a band number) no
        return _positive(_guess_nm(float(bare.group(1))))
    return None


def _factor(unit: str) -> float:
    return _FACTORS_TO_NM[unit.strip().lower()]


def _guess_nm(value: float) -> float:
    return value * 1e3 if value < MICROMETRE_GUESS_BELOW else value


def _positive(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) and value > 0 else None


def _float(text) -> float | None:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value


def _list(text, n: int) -> list[float] | None:
    """Numbers of an ENVI brace list "{ 1, 2 }" (or a single number, repeated), when there are ``n``."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,\s]+", str(text).strip().strip("{}").strip()) if p]
    values = [_float(p) for p in parts]
    if any(v is None for v in values):
        return None
    if len(values) == 1 and n > 1:
        return None
    return values if len(values) == n else None


def _converter(units) -> Callable[[float], float] | None | str:
    """How to turn a value in ``units`` into nm: a function, "guess" (unit unknown), or None (not a
    wavelength: "Index", GHz, ...)."""
    key = "" if units is None else str(units).strip().lower()
    if key in _UNKNOWN_UNITS:
        return "guess"
    if key in _FACTORS_TO_NM:
        factor = _FACTORS_TO_NM[key]
        return lambda v: v * factor
    if key in _WAVENUMBER_UNITS:
        return lambda v: 1e7 / v if v > 0 else math.nan
    return None


def _to_nm(values: list[float], units: list, fwhm: bool = False) -> tuple[float, ...] | None:
    """Band values in their (per-band) units as nm; bands without a unit are guessed together."""
    if fwhm and any(u is not None and str(u).strip().lower() in _WAVENUMBER_UNITS for u in units):
        return None  # a width in cm^-1 depends on the band centre; not worth converting
    converters = [_converter(u) for u in units]
    if any(c is None for c in converters):
        return None
    guessed = [v for v, c in zip(values, converters) if c == "guess"]
    limit = FWHM_MICROMETRE_GUESS_BELOW if fwhm else MICROMETRE_GUESS_BELOW
    factor = 1e3 if guessed and max(guessed) < limit else 1.0
    # Rounded to 1e-6 nm so that 0.6 um reads 600.0, not 600.0000000000001, in logs and model files.
    out = [round(v * factor if c == "guess" else c(v), 6) for v, c in zip(values, converters)]
    return tuple(out) if all(math.isfinite(v) and v > 0 for v in out) else None


# --- sources -----------------------------------------------------------------------------------------------

def _norm(tags: dict) -> dict:
    """Keys lower-case with spaces as underscores: "Wavelength Units" and "wavelength_units" are one key."""
    return {str(k).strip().lower().replace(" ", "_"): v for k, v in (tags or {}).items()}


def _tags(ds, bidx: int = 0, ns: str | None = None) -> dict:
    # Metadata is optional: a driver that cannot list a domain must not stop the run.
    try:
        return _norm(ds.tags(bidx, ns=ns) if ns else ds.tags(bidx))
    except Exception:
        return {}


def _band_values(bands: list[dict], keys: tuple[str, ...]) -> list | None:
    """The first of ``keys`` in every band's tags, or None when a band has none of them."""
    out = []
    for tags in bands:
        value = next((tags[k] for k in keys if k in tags), None)
        if value is None:
            return None
        out.append(value)
    return out


def _numbers(values) -> list[float] | None:
    if values is None:
        return None
    out = [_float(v) for v in values]
    return None if any(v is None for v in out) else out


def _band_level(bands: list[dict], header: dict) -> dict:
    """Wavelengths, FWHM and bad-band flags from band metadata (units per band, else the dataset's)."""
    default_unit = header.get("wavelength_units")
    units = [t.get("wavelength_units", default_unit) for t in bands]
    wl = _numbers(_band_values(bands, ("wavelength",)))
    fw = _numbers(_band_values(bands, ("fwhm",)))
    return {
        "wavelengths": None if wl is None else _to_nm(wl, units),
        "fwhm": None if fw is None else _to_nm(fw, units, fwhm=True),
        "bad_bands": _band_flags(bands),
    }


def _band_flags(bands: list[dict]) -> tuple[bool, ...] | None:
    multipliers = _numbers(_band_values(bands, ("bbl", "bad_band_multiplier")))
    if multipliers is not None:
        return tuple(m == 0 for m in multipliers)
    good = _band_values(bands, ("good_band",))  # the GDAL ENVI driver turns bbl into "true"/"false"
    if good is not None and all(str(g).strip().lower() in ("true", "false") for g in good):
        return tuple(str(g).strip().lower() == "false" for g in good)
    return None


def _imagery(imagery: list[dict]) -> dict:
    wl = _numbers(_band_values(imagery, ("central_wavelength_um",)))
    fw = _numbers(_band_values(imagery, ("fwhm_um",)))
    um = ["um"] * len(imagery)
    return {"wavelengths": None if wl is None else _to_nm(wl, um),
            "fwhm": None if fw is None else _to_nm(fw, um, fwhm=True)}


def _header(header: dict, n: int) -> dict:
    """The ENVI header's lists (the dataset ``ENVI`` domain)."""
    units = [header.get("wavelength_units")] * n
    wl, fw, bbl = (_list(header.get(k), n) for k in ("wavelength", "fwhm", "bbl"))
    gains = _list(header.get("data_gain_values"), n)
    factor = _float(header.get("reflectance_scale_factor"))
    if gains is None and factor is not None and math.isfinite(factor) and factor > 0:
        gains = [1.0 / factor] * n  # physical = raw / reflectance scale factor
    return {
        "wavelengths": None if wl is None else _to_nm(wl, units),
        "fwhm": None if fw is None else _to_nm(fw, units, fwhm=True),
        "bad_bands": None if bbl is None else tuple(b == 0 for b in bbl),
        "gains": _scaling(gains, 1.0),
        "offsets": _scaling(_list(header.get("data_offset_values"), n), 0.0),
    }


def _scaling(values, identity: float) -> tuple[float, ...] | None:
    if values is None or any(v is None or not math.isfinite(v) for v in values):
        return None
    return None if all(v == identity for v in values) else tuple(float(v) for v in values)


def _descriptions(ds) -> tuple[float, ...] | None:
    values = [parse_wavelength(d or "") for d in ds.descriptions]
    return None if any(v is None for v in values) else tuple(values)


def _nodata(ds, header: dict) -> tuple[float | None, ...] | None:
    """Per-band nodata when the bands disagree; the ENVI data ignore value when GDAL did not apply it."""
    values = [None if v is None else float(v) for v in ds.nodatavals]
    keys = {("nan" if v is not None and math.isnan(v) else v) for v in values}
    if len(keys) > 1:
        return tuple(values)
    ignore = _float(header.get("data_ignore_value"))
    if values and values[0] is None and ignore is not None:
        return (ignore,) * len(values)
    return None


def read_spectral_info(ds) -> SpectralInfo:
    """The spectral metadata of an open rasterio dataset ``ds``, every field from the first complete source
    (see the module's docstring); fields no source describes are None."""
    n = ds.count
    header = {**_tags(ds), **_tags(ds, ns="ENVI")}  # the ENVI domain wins over look-alike default keys
    bands = [{**_tags(ds, b, ns="ENVI"), **_tags(ds, b)} for b in range(1, n + 1)]
    sources = [
        ("GDAL band metadata", _band_level(bands, header)),
        ("GDAL IMAGERY metadata", _imagery([_tags(ds, b, ns="IMAGERY") for b in range(1, n + 1)])),
        ("ENVI header", _header(header, n)),
        ("GDAL scale/offset", {"gains": _scaling(list(ds.scales), 1.0), "offsets": _scaling(list(ds.offsets), 0.0)}),
        ("band descriptions", {"wavelengths": _descriptions(ds)}),
        ("GDAL nodata", {"band_nodata": _nodata(ds, header)}),
    ]
    fields, used = {}, set()
    for name in ("wavelengths", "fwhm", "bad_bands", "gains", "offsets", "band_nodata"):
        for source, found in sources:
            if found.get(name) is not None and len(found[name]) == n:
                fields[name] = found[name]
                used.add(source)
                break
    return SpectralInfo(**fields, source=", ".join(s for s, _ in sources if s in used))
