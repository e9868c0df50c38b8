"""Which bands of a raster to use: bad bands decided once, on a sample of the scene and its metadata.

A band is dropped (the reasons are a union, the first one found is recorded) when

- the metadata flags it bad (ENVI ``bbl`` = 0);
- its centre lies in an atmospheric water-vapour absorption window, or beyond the detector's useful end
  (:data:`ABSORPTION_WINDOWS_NM`; only when the wavelengths are known);
- it is valid on fewer than ``min_valid`` of the sampled pixels;
- it is constant (its spread is at most :data:`CONSTANT_RTOL` of its largest magnitude);
- it is noisy: its signal-to-noise ratio is far below that of its spectral neighbours (see
  :func:`select_bands`), which finds the absorption bands a sensor delivers even without wavelengths.

The user's ``bands`` (keep only these) replace the automatic rules altogether, and ``drop_bands`` are
dropped on top of whatever else is decided.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

# Atmospheric water-vapour absorption around 1.4 and 1.9 um, and the end of the SWIR detector, where
# AVIRIS-class sensors deliver little but noise (cf. the 20 bands removed from the Indian Pines scene).
ABSORPTION_WINDOWS_NM = ((1340.0, 1460.0), (1790.0, 1960.0), (2450.0, float("inf")))

# The noise rule compares a band's *coherent* SNR: the part of its spread shared by adjacent pixels (the
# scene), sqrt(max(signal_std^2 - noise_std^2, 0)), over noise_std (:func:`band_noise`). It is about 0 for a
# band of pure noise whatever its level, while the plain ratio signal_std / noise_std tends to 1 and cannot
# tell such a band from a dim but real one. A band is noisy when its coherent SNR is below NOISE_RATIO
# times the median of its spectral neighbours' (the NOISE_NEIGHBOURS nearest remaining bands on each side)
# *and* below NOISY_SNR_MAX. Ordinary bands differ from their neighbours by a few tens of percent;
# absorption and dead bands by 10x or more. The absolute ceiling keeps a band that is weak but real:
# 0.35 means nine tenths of its variance is noise. On the Indian Pines scene with its 20 water bands put
# back (contrastdm.datasets.raw_indian_pines) those bands measure <= 0.1 and the 200 others >= 0.45.
NOISE_RATIO = 0.2
NOISE_NEIGHBOURS = 7
NOISY_SNR_MAX = 0.35
CONSTANT_RTOL = 1e-6  # spread relative to the band's largest magnitude below which it carries nothing
MIN_VALID = 0.5
_CHUNK = 32  # bands per float64 pass: keeps band_noise's temporaries small on 100k-pixel samples


@dataclass
class BandSelection:
    """The bands kept (``keep``, bool per band) and why each dropped band was dropped (0-based index)."""

    keep: np.ndarray
    reasons: dict[int, str] = field(default_factory=dict)

    def kept_indices(self) -> np.ndarray:
        """0-based indices of the kept bands, ascending."""
        return np.flatnonzero(self.keep)

    def summary(self, wavelengths=None) -> str:
        """One line for the log: how many bands were dropped, grouped in runs of the same cause."""
        total, dropped = len(self.keep), int((~self.keep).sum())
        if not dropped:
            return f"all {total} bands kept"
        known = wavelengths is not None and len(wavelengths) == total
        groups = [f"{_span(run, wavelengths if known else None)} ({label})" for run, label in self._runs()]
        shown = ", ".join(groups[:8]) + (f" and {len(groups) - 8} more" if len(groups) > 8 else "")
        return f"{dropped} of {total} bands dropped: {shown}"

    def _runs(self) -> list[tuple[list[int], str]]:
        runs: list[tuple[list[int], str]] = []
        for index in np.flatnonzero(~self.keep):
            label = _label(self.reasons.get(int(index), "dropped"))
            if runs and runs[-1][1] == label and runs[-1][0][-1] == index - 1:
                runs[-1][0].append(int(index))
            else:
                runs.append(([int(index)], label))
        return runs

    def to_dict(self) -> dict:
        """A JSON-safe dictionary (reason keys as strings)."""
        return {"keep": [bool(k) for k in self.keep], "reasons": {str(k): v for k, v in self.reasons.items()}}

    @classmethod
    def from_dict(cls, d) -> BandSelection:
        return cls(np.asarray(d["keep"], dtype=bool), {int(k): str(v) for k, v in (d.get("reasons") or {}).items()})


def _label(reason: str) -> str:
    """The short cause a summary groups by."""
    if "absorption" in reason or "detector" in reason:
        return "absorption"
    if reason.startswith("flagged bad"):
        return "bad in metadata"
    for prefix in ("mostly nodata", "noisy", "constant"):
        if reason.startswith(prefix):
            return prefix.replace("mostly ", "")
    return reason.replace("dropped by ", "")


def _span(run: list[int], wavelengths) -> str:
    if wavelengths is not None:
        lo, hi = (f"{round(float(wavelengths[i]), 1):g}" for i in (run[0], run[-1]))
        return f"{lo} nm" if len(run) == 1 else f"{lo}-{hi} nm"
    return f"band {run[0] + 1}" if len(run) == 1 else f"bands {run[0] + 1}-{run[-1] + 1}"


# --- statistics --------------------------------------------------------------------------------------------

def _stats(pixels: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signal std, noise std, largest magnitude) per band over the pairs valid in that band."""
    bands = pixels.shape[1]
    signal, noise, peak = (np.full(bands, np.nan) for _ in range(3))
    for start in range(0, bands, _CHUNK):
        cols = slice(start, min(start + _CHUNK, bands))
        x = pixels[:, cols].astype(np.float64)
        d = x - neighbours[:, cols].astype(np.float64)
        valid = np.isfinite(d)  # both values finite
        count = valid.sum(axis=0)
        enough = count >= 2
        signal[cols] = np.where(enough, _std(x, valid, count), np.nan)
        noise[cols] = np.where(enough, _std(d, valid, count) / np.sqrt(2.0), np.nan)
        peak[cols] = np.where(enough, np.where(valid, np.abs(x), 0.0).max(axis=0, initial=0.0), np.nan)
    return signal, noise, peak


def _std(values: np.ndarray, valid: np.ndarray, count: np.ndarray) -> np.ndarray:
    n = np.maximum(count, 1)
    mean = np.where(valid, values, 0.0).sum(axis=0) / n
    return np.sqrt((np.where(valid, values - mean, 0.0) ** 2).sum(axis=0) / n)


def band_noise(pixels, neighbours) -> tuple[np.ndarray, np.ndarray]:
    """Per-band spread of the scene and of its noise, by the shift-difference method.

    ``pixels`` and ``neighbours``: ``[N, B]`` values of horizontally adjacent pixel pairs, NaN where a band
    is invalid. Returns ``(signal_std [B], noise_std [B])`` in the data's units over the pairs valid in
    that band; ``noise_std = std(pixels - neighbours) / sqrt(2)`` since adjacent pixels share most of their
    signal and the difference doubles the noise variance. NaN for a band with fewer than 2 valid pairs.
    """
    signal, noise, _ = _stats(np.asarray(pixels), np.asarray(neighbours))
    return signal, noise


def coherent_snr(signal_std, noise_std) -> np.ndarray:
    """The spread adjacent pixels share (the scene), ``sqrt(max(signal^2 - noise^2, 0))``, over the noise:
    about 0 for pure noise, inf for a band without noise, NaN where either is unknown."""
    signal, noise = np.asarray(signal_std, dtype=np.float64), np.asarray(noise_std, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.maximum(signal ** 2 - noise ** 2, 0.0)) / noise


def _neighbour_snr(snr: np.ndarray, half: int) -> np.ndarray:
    """For each entry, the median of the ``2*half`` nearest other entries (fewer at the ends: shifted)."""
    m = len(snr)
    width = min(2 * half + 1, m)
    positions = np.arange(m)
    starts = np.clip(positions - half, 0, m - width)
    index = starts[:, None] + np.arange(width)[None, :]
    values = snr[index]
    values[index == positions[:, None]] = np.nan  # not itself
    return np.nanmedian(values, axis=1)


def _noisy(snr: np.ndarray, candidates: np.ndarray, ratio: float) -> dict[int, float]:
    """Noisy candidate bands -> the neighbours' SNR they were compared with.

    Peeled from the edges inwards: a run of noisy bands longer than the neighbourhood (the 14 bands of
    AVIRIS's 1.9 um absorption) hides its middle from a single pass, but once its edge bands are out, the
    next ones have clean neighbours.
    """
    remaining = [int(b) for b in candidates if not np.isnan(snr[b])]  # unknown SNR: kept, not compared
    found: dict[int, float] = {}
    while len(remaining) >= 3:
        level = _neighbour_snr(snr[remaining].astype(np.float64), NOISE_NEIGHBOURS)
        own = snr[remaining]
        flagged = (own < ratio * level) & (own < NOISY_SNR_MAX)
        if not flagged.any():
            break
        found.update({remaining[i]: float(level[i]) for i in np.flatnonzero(flagged)})
        remaining = [b for b, f in zip(remaining, flagged) if not f]
    return found


# --- selection ---------------------------------------------------------------------------------------------

def _window_reason(wavelength: float) -> str | None:
    for lo, hi in ABSORPTION_WINDOWS_NM:
        if lo <= wavelength <= hi:
            if hi == float("inf"):
                return f"beyond {lo:g} nm (the detector's noisy end)"
            return f"in the {lo:g}-{hi:g} nm absorption window"
    return None


def _automatic(wavelengths, bad_flags, stats, valid_fraction, min_valid, ratio) -> dict[int, str]:
    """Reasons for the bands the automatic rules drop, in the order the rules are checked."""
    signal, noise, peak = stats
    bands = len(signal)
    reasons: dict[int, str] = {}
    for b in range(bands):
        window = None if wavelengths is None else _window_reason(float(wavelengths[b]))
        if bad_flags is not None and bad_flags[b]:
            reasons[b] = "flagged bad in the metadata"
        elif window:
            reasons[b] = window
        elif not valid_fraction[b] >= min_valid:
            reasons[b] = f"mostly nodata ({100 * float(np.nan_to_num(valid_fraction[b])):.0f}% valid)"
        elif not signal[b] > CONSTANT_RTOL * peak[b]:
            reasons[b] = "constant"
    snr = coherent_snr(signal, noise)
    candidates = np.array([b for b in range(bands) if b not in reasons], dtype=int)
    for b, level in _noisy(snr, candidates, ratio).items():
        reasons[b] = f"noisy (SNR {snr[b]:.2g} against {level:.2g} for its neighbours)"
    return dict(sorted(reasons.items()))


def _indices(values, bands: int, option: str) -> np.ndarray:
    index = np.unique(np.asarray(values, dtype=int).ravel())
    outside = index[(index < 0) | (index >= bands)]
    if outside.size:
        raise InputError(f"{option}: band {int(outside[0]) + 1} does not exist; the raster has bands 1-{bands}")
    return index


def _per_band(values, bands: int):
    """``values`` as an array when it has one entry per band, else None (unknown)."""
    if values is None or len(values) != bands:
        return None
    return np.asarray(values)


def select_bands(spectral_wavelengths, bad_flags, pixels, neighbours, valid_fraction, *, bands=None,
                 drop_bands=None, noise_ratio: float = NOISE_RATIO, min_valid: float = MIN_VALID) -> BandSelection:
    """Decide which bands to keep.

    ``spectral_wavelengths``: band centres in nm, or None; ``bad_flags``: True for bands the metadata flags
    bad, or None (either is ignored when its length is not the band count). ``pixels``/``neighbours``:
    ``[N, B]`` values of horizontally adjacent pixel pairs, NaN where invalid; ``valid_fraction``: ``[B]``
    fraction of the sampled pixels valid in each band (None: from ``pixels``).

    The noise rule: a band is noisy when its :func:`coherent_snr` is below ``noise_ratio`` (default 0.2)
    times the median of its ``NOISE_NEIGHBOURS`` (7) nearest remaining bands on each side, in band order,
    and below ``NOISY_SNR_MAX`` (0.35); repeated until no more are found (see :func:`_noisy`).

    ``bands``: 0-based bands to keep; the user's choice wins over every automatic rule (a band without a
    single valid value cannot be used, though, and raises :class:`InputError`). ``drop_bands``: 0-based
    bands dropped in addition. Raises :class:`InputError` when fewer than 2 bands would remain.
    """
    pixels, neighbours = np.asarray(pixels), np.asarray(neighbours)
    count = pixels.shape[1]
    if valid_fraction is None:
        valid_fraction = np.isfinite(pixels).mean(axis=0) if len(pixels) else np.zeros(count)
    valid_fraction = np.asarray(valid_fraction, dtype=np.float64)
    if bands is not None:
        reasons = _chosen(_indices(bands, count, "--bands"), valid_fraction)
    else:
        stats = _stats(pixels, neighbours)
        reasons = _automatic(_per_band(spectral_wavelengths, count), _per_band(bad_flags, count), stats,
                             valid_fraction, min_valid, noise_ratio)
    for b in _indices(drop_bands if drop_bands is not None else [], count, "--drop-bands"):
        reasons.setdefault(int(b), "dropped by --drop-bands")
    keep = np.ones(count, dtype=bool)
    keep[list(reasons)] = False
    selection = BandSelection(keep, dict(sorted(reasons.items())))
    _check_enough(selection)
    return selection


def _chosen(index: np.ndarray, valid_fraction: np.ndarray) -> dict[int, str]:
    empty = [int(b) + 1 for b in index if not valid_fraction[b] > 0]
    if empty:
        raise InputError(f"--bands: band {empty[0]} has no valid pixel (nodata everywhere); leave it out")
    chosen = set(index.tolist())
    return {b: "not in --bands" for b in range(len(valid_fraction)) if b not in chosen}


def _check_enough(selection: BandSelection) -> None:
    kept = int(selection.keep.sum())
    if kept >= 2:
        return
    causes: dict[str, int] = {}
    for reason in selection.reasons.values():
        causes[_label(reason)] = causes.get(_label(reason), 0) + 1
    why = ", ".join(f"{n} {label}" for label, n in sorted(causes.items(), key=lambda item: -item[1]))
    raise InputError(f"only {kept} of {len(selection.keep)} bands would remain ({why}); classification needs "
                     f"at least 2: check the nodata value and --bands/--drop-bands")


# --- band lists --------------------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d*)?|\.\d+"
_UNIT = r"nm|um|µm|μm"
_WAVE_RANGE = re.compile(rf"({_NUM})\s*(?:{_UNIT})?\s*-\s*({_NUM})\s*({_UNIT})")
_WAVE_ONE = re.compile(rf"({_NUM})\s*({_UNIT})")
_BAND_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")
_SYNTAX = 'use band numbers like "1-10,15" or wavelength ranges like "1340-1460nm"'


def parse_band_list(text: str, n_bands: int, wavelengths=None) -> np.ndarray:
    """0-based band indices (ascending, unique) from a list such as "1-10,15,20" (1-based band numbers,
    ranges inclusive) or "1340-1460nm,1790-1960nm" (the bands centred in those ranges; "nm" or "um"; a
    single "550nm" is the nearest band). Raises :class:`InputError` with one line on bad syntax, a band
    out of range, wavelengths without ``wavelengths`` metadata, or a list that selects no band."""
    items = [item.strip().lower() for item in str(text).split(",")]
    if not any(items):
        raise InputError(f"empty band list; {_SYNTAX}")
    chosen: set[int] = set()
    for item in filter(None, items):
        chosen.update(_parse_item(item, n_bands, wavelengths))
    if not chosen:
        raise InputError(f"'{text}' selects no band")
    return np.array(sorted(chosen), dtype=int)


def _parse_item(item: str, n_bands: int, wavelengths) -> list[int]:
    if _WAVE_RANGE.fullmatch(item) or _WAVE_ONE.fullmatch(item):
        return _wavelength_item(item, wavelengths)
    match = _BAND_RANGE.fullmatch(item) or re.fullmatch(r"(\d+)", item)
    if not match:
        raise InputError(f"cannot read '{item}' in the band list; {_SYNTAX}")
    first, last = int(match.group(1)), int(match.groups()[-1])
    if first > last:
        raise InputError(f"band range '{item}' runs backwards; write {last}-{first}")
    if first < 1 or last > n_bands:
        hint = f" (wavelengths need a unit: {item}nm)" if last > n_bands else ""
        raise InputError((f"band range '{item}' is outside 1-{n_bands}" if first != last
                          else f"band {first} does not exist; the raster has bands 1-{n_bands}") + hint)
    return list(range(first - 1, last))


def _wavelength_item(item: str, wavelengths) -> list[int]:
    if wavelengths is None:
        raise InputError(f"'{item}' is a wavelength but the raster has no wavelength metadata; "
                         f"give band numbers like 1-10,15")
    centres = np.asarray(wavelengths, dtype=np.float64)
    many = _WAVE_RANGE.fullmatch(item)
    if many:
        factor = 1e3 if many.group(3) != "nm" else 1.0
        lo, hi = float(many.group(1)) * factor, float(many.group(2)) * factor
        if lo > hi:
            raise InputError(f"wavelength range '{item}' runs backwards")
        return np.flatnonzero((centres >= lo) & (centres <= hi)).tolist()
    one = _WAVE_ONE.fullmatch(item)
    target = float(one.group(1)) * (1.0 if one.group(2) == "nm" else 1e3)
    nearest = int(np.argmin(np.abs(centres - target)))
    spacing = float(np.median(np.abs(np.diff(np.sort(centres))))) if len(centres) > 1 else 0.0
    if abs(centres[nearest] - target) > max(2 * spacing, 1.0):
        raise InputError(f"no band is centred near {target:g} nm (nearest: {centres[nearest]:g} nm)")
    return [nearest]
