"""Where the engine keeps files it can rebuild: converted sensor products and per-scene training stages.

``$CONTRASTDM_CACHE_DIR`` wins, then ``$XDG_CACHE_HOME/contrastdm``, then ``~/.cache/contrastdm``.

The scene cache (:class:`SceneCache`) keeps the results of the training stages that depend only on the
raster (band selection, the reduction's fit, the contrastive encoder), so retraining after editing
polygons does not pay them again. An entry is found by the raster's :func:`raster_fingerprint`, the
stage's name and its settings (:func:`settings_key`); it is one ``.safetensors`` file holding numpy
arrays, with a JSON record in the safetensors header metadata (key ``"contrastdm-cache"``)::

    {"format": "contrastdm-scene-cache", "format_version": 1, "engine_version": "0.1.0",
     "stage": "...", "settings": {...}, "settings_key": "<hex>", "fingerprint": "<hex>",
     "arrays_sha256": "<hex>", "created": <unix time>, "meta": {...}}

A load re-checks every field against what was asked for and the SHA-256 of the arrays (safetensors has no
checksum of its own), so a damaged, truncated or misplaced file is a miss, never wrong data. Nothing is
ever unpickled. Entries are written atomically (:func:`contrastdm.io.atomic.atomic_outputs`) and the
folder is kept under a size bound by deleting the least recently used entries (a load touches its file).

This module stays light: numpy, safetensors and the standard library; rasterio only inside the
fingerprint functions; never torch (callers turn tensors into numpy arrays).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import OutputError
from .io.atomic import atomic_outputs
from .version import __version__


def cache_root() -> Path:
    explicit = os.environ.get("CONTRASTDM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "contrastdm"


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached file (created on demand by the writer)."""
    return cache_root() / kind


# --------------------------------------------------------------------------------------------------
# Keys

FORMAT = "contrastdm-scene-cache"
FORMAT_VERSION = 1
FINGERPRINT_VERSION = 1
SAMPLE_BYTES = 4 * 1024**2  # pixel bytes the fingerprint asks for, at most (all sampled windows, all bands)
FOOTPRINT_BYTES = 256 * 1024**2  # raster blocks those windows may make GDAL read and decode, beyond one window
WINDOW_PIXELS = 64  # pixels per sampled window: 8 x 8, or 1 x 64 on rasters stored in one-row blocks
GRID = 8  # at most GRID x GRID windows
_META_KEY = "contrastdm-cache"
_SUFFIX = ".safetensors"
_STALE_TEMP_SECONDS = 3600.0  # temporaries of an interrupted write older than this are removed


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"scene cache: a {type(value).__name__} cannot be written as JSON: {value!r}")


def _canonical(value) -> str:
    """One text per value: sorted keys, no spaces, ASCII; tuples are lists and numpy scalars are numbers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_stage(stage) -> str:
    if not isinstance(stage, str) or not stage:
        raise ValueError(f"scene cache: a stage is a non-empty string, not {stage!r}")
    return stage


def settings_key(stage: str, settings: dict) -> str:
    """Hex SHA-256 of the stage's name and the canonical JSON of its settings (key order does not matter,
    a tuple equals a list, a numpy scalar equals the Python number; ``1`` and ``1.0`` differ).
    Raises :class:`TypeError` for settings that are not JSON (a caller's bug)."""
    return _sha256(_canonical({"stage": _check_stage(stage), "settings": settings}))


def entry_key(fingerprint: str, stage: str, settings: dict) -> str:
    """The name of an entry: the raster, the stage and its settings, the cache format and engine version
    (an engine upgrade starts afresh: its stages may compute something else)."""
    if not isinstance(fingerprint, str) or not fingerprint:
        raise ValueError(f"scene cache: a fingerprint is a non-empty string, not {fingerprint!r}")
    return _sha256(_canonical([FORMAT, FORMAT_VERSION, __version__, fingerprint,
                               settings_key(stage, settings)]))[:40]


# --------------------------------------------------------------------------------------------------
# The raster's fingerprint

def _axis_starts(size: int, win: int, block: int, n: int) -> list[int]:
    """``n`` window starts spread evenly over ``size``, each moved so the window lies in one block."""
    starts = []
    for i in range(n):
        start = int(round((i + 0.5) * size / n - win / 2))
        start = min(max(start, 0), size - win)
        first, last = start // block, (start + win - 1) // block
        if first != last:  # straddles a block edge: into the next block, or the previous one at the end
            start = last * block if last * block + win <= size else last * block - win
        starts.append(start)
    return sorted(set(starts))


def _plan(ds) -> tuple[list[int], list[int], int, int]:
    """(row starts, column starts, window height, window width) of the sample."""
    width, height = int(ds.width), int(ds.height)
    pixel_bytes = sum(np.dtype(d).itemsize for d in ds.dtypes)
    if width * height * pixel_bytes <= SAMPLE_BYTES:
        return [0], [0], height, width  # small enough to hash whole
    block_h, block_w = (int(v) for v in ds.block_shapes[0])
    block_h, block_w = max(1, min(block_h, height)), max(1, min(block_w, width))
    win_h = min(8, block_h)
    win_w = min(max(WINDOW_PIXELS // win_h, 1), block_w)
    block_bytes = block_h * block_w * pixel_bytes
    rows = [_axis_starts(height, win_h, block_h, n) for n in range(1, GRID + 1)]
    cols = [_axis_starts(width, win_w, block_w, n) for n in range(1, GRID + 1)]
    best, best_score = (rows[0], cols[0]), None
    for r in rows:
        for c in cols:
            count = len(r) * len(c)
            requested = count * win_h * win_w * pixel_bytes
            footprint = len({s // block_h for s in r}) * len({s // block_w for s in c}) * block_bytes
            if count > 1 and (requested > SAMPLE_BYTES or footprint > FOOTPRINT_BYTES):
                continue
            score = (count, -footprint, -abs(len(r) - len(c)), len(r))
            if best_score is None or score > best_score:
                best, best_score = (r, c), score
    return best[0], best[1], win_h, win_w


def fingerprint_windows(ds) -> list:
    """The windows :func:`raster_fingerprint` reads (every band of each), in reading order.

    A raster of at most :data:`SAMPLE_BYTES` is read whole. Otherwise up to ``GRID x GRID`` windows of
    :data:`WINDOW_PIXELS` pixels, spread evenly, each inside one of the raster's blocks (GDAL reads and
    decodes whole blocks): together at most :data:`SAMPLE_BYTES` of pixels and, beyond the first window,
    at most :data:`FOOTPRINT_BYTES` of blocks. On one-row blocks (ENVI files, striped GeoTIFFs) the windows
    are 1 x 64 pixels, so a column of windows costs one block row instead of eight.
    """
    from rasterio.windows import Window

    rows, cols, win_h, win_w = _plan(ds)
    return [Window(col, row, win_w, win_h) for row in rows for col in cols]


def _raster_header(ds, windows) -> dict:
    """Everything but the pixels that the fingerprint covers (nothing about the file: not its path or time)."""
    from rasterio.enums import MaskFlags

    from .io.spectral import read_spectral_info

    try:
        spectral = read_spectral_info(ds).to_dict()
    except Exception:  # noqa: BLE001 -- metadata it cannot parse is left out, the same way every time
        spectral = None
    gcps, gcp_crs = ds.gcps
    flags = ds.mask_flag_enums
    return {
        "fingerprint_version": FINGERPRINT_VERSION,
        "width": ds.width,
        "height": ds.height,
        "count": ds.count,
        "dtypes": list(ds.dtypes),
        "transform": list(ds.transform)[:6],
        "crs": ds.crs.to_wkt() if ds.crs else None,
        "gcps": [[g.row, g.col, g.x, g.y, g.z] for g in gcps] if gcps else None,
        "gcp_crs": gcp_crs.to_wkt() if gcps and gcp_crs else None,
        "nodata": [None if v is None else repr(float(v)) for v in ds.nodatavals],
        "descriptions": list(ds.descriptions),
        "units": list(ds.units),
        "scales": list(ds.scales),
        "offsets": list(ds.offsets),
        "dataset_mask": bool(flags and MaskFlags.per_dataset in flags[0] and MaskFlags.all_valid not in flags[0]),
        "spectral": spectral,
        "windows": [[int(w.row_off), int(w.col_off), int(w.height), int(w.width)] for w in windows],
    }


def raster_fingerprint(ds) -> str:
    """Hex SHA-256 of an open rasterio dataset: size, band count, data types, georeferencing (transform,
    CRS as WKT, GCPs), nodata, band descriptions, units, scales and offsets, the spectral metadata
    (wavelengths...), and the bytes of every band in :func:`fingerprint_windows` (and of the dataset mask
    there, when it has one). It does not depend on the file's name, folder or times: a copy hits.
    Pixels outside the sampled windows are not covered (except on small rasters, read whole)."""
    windows = fingerprint_windows(ds)
    header = _raster_header(ds, windows)
    digest = hashlib.sha256(_canonical(header).encode("utf-8"))
    one_dtype = len(set(ds.dtypes)) == 1
    for window in windows:
        parts = [ds.read(window=window)] if one_dtype else [ds.read(i, window=window) for i in ds.indexes]
        for part in parts:
            digest.update(np.ascontiguousarray(part).data)
        if header["dataset_mask"]:
            digest.update(np.ascontiguousarray(ds.read_masks(1, window=window)).data)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# The store

@dataclass(frozen=True)
class CacheEntry:
    """One file of the cache, as :meth:`SceneCache.entries` lists it."""

    path: Path
    size: int  # bytes
    last_used: float  # Unix time of the last store or load (the file's modification time)
    stage: str | None  # None: the file's header cannot be read (a load would discard it)
    created: float | None = None
    fingerprint: str | None = None
    settings: object = None
    engine_version: str | None = None


def _little_endian(name, array) -> np.ndarray:
    if not isinstance(name, str) or not name:
        raise TypeError(f"scene cache: array names are non-empty strings, not {name!r}")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"scene cache: {name!r} is a {type(array).__name__}, not a numpy array")
    if array.dtype.kind not in "biuf" or array.dtype.itemsize not in (1, 2, 4, 8):
        raise TypeError(f"scene cache: {name!r} has dtype {array.dtype}, which safetensors cannot store")
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _arrays_digest(arrays: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(_canonical([name, array.dtype.newbyteorder("<").str, list(array.shape)]).encode("utf-8"))
        if array.nbytes:
            digest.update(array.data)
    return digest.hexdigest()


def _read_record(path: Path) -> dict:
    """The JSON record of an entry from the safetensors header alone (8-byte length, then JSON)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        if not 0 < length <= 100 * 1024**2:
            raise ValueError("not a safetensors file")
        header = json.loads(handle.read(length))
    return json.loads(header["__metadata__"][_META_KEY])


def _reason(exc: BaseException) -> str:
    """One short line about an exception."""
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _size_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _is_temporary(name: str) -> bool:
    """A leftover of :func:`atomic_outputs` in the cache folder: ``.<stem>.tmp-XXXXXXXX.safetensors``
    (an interrupted write) or ``.<name>.old-XXXXXXXX`` (an interrupted replacement)."""
    return name.startswith(".") and (".tmp-" in name or ".old-" in name)


class SceneCache:
    """Per-raster results of the label-free training stages, one ``.safetensors`` file per entry.

    ``directory``: the folder (default: ``cache_dir("scenes")``, created on the first store);
    ``max_bytes``: the folder's size bound, kept after every store by deleting the least recently used
    entries; ``enabled=False``: every load misses and every store does nothing; ``feedback``: receives one
    ``"warning"`` message per damaged entry found and per folder problem (once per cache object), and an
    ``"info"`` message for a result too large to keep.

    A store or a load never raises for the file system's sake (a cache that cannot work just misses);
    arguments that cannot be stored at all (settings or meta that are not JSON, arrays of a dtype safetensors
    lacks) raise :class:`TypeError`, as these are the caller's bugs.
    """

    def __init__(self, directory=None, *, max_bytes: int = 2 * 1024**3, enabled: bool = True, feedback=None):
        self.directory = Path(directory) if directory is not None else cache_dir("scenes")
        self.max_bytes = int(max_bytes)
        self.enabled = bool(enabled)
        self.feedback = feedback
        self._warned: set[str] = set()

    # -- messages
    def _say(self, text: str, level: str) -> None:
        if self.feedback is not None:
            self.feedback.message(text, level)

    def _warn_once(self, topic: str, text: str) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            self._say(text, "warning")

    # -- paths
    def path_for(self, fingerprint: str, stage: str, settings: dict) -> Path:
        """The file an entry is (or would be) kept in."""
        safe = re.sub(r"[^A-Za-z0-9_]+", "_", _check_stage(stage)).strip("_")[:40] or "stage"
        return self.directory / f"{safe}-{entry_key(fingerprint, stage, settings)}{_SUFFIX}"

    # -- load
    def load(self, fingerprint: str, stage: str, settings: dict) -> tuple[dict[str, np.ndarray], dict] | None:
        """``(arrays, meta)`` of the entry, or None on a miss. A damaged or mismatching entry is a miss:
        it is deleted and reported with one warning."""
        if not self.enabled:
            return None
        key = settings_key(stage, settings)
        path = self.path_for(fingerprint, stage, settings)
        if not path.is_file():
            return None
        from safetensors import SafetensorError, safe_open

        record, arrays, problem = None, None, None
        try:
            with safe_open(str(path), framework="numpy") as handle:
                record = json.loads((handle.metadata() or {})[_META_KEY])
                problem = self._mismatch(record, fingerprint, stage, key)
                if problem is None:
                    arrays = {name: handle.get_tensor(name) for name in handle.keys()}
        except FileNotFoundError:  # removed meanwhile by another process's eviction
            return None
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
            problem = f"unreadable: {_reason(exc)}"
        if problem is None and (sorted(arrays) != sorted(record.get("arrays", ()))
                                or _arrays_digest(arrays) != record.get("arrays_sha256")):
            problem = "its arrays do not match their checksum"
        if problem is not None:
            self._discard(path, stage, problem)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # the least recently used entries go first
        arrays = {name: (a if a.flags.writeable else a.copy()) for name, a in arrays.items()}
        return arrays, record.get("meta") or {}

    @staticmethod
    def _mismatch(record, fingerprint: str, stage: str, key: str) -> str | None:
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            return "not a scene cache entry"
        if record.get("format_version") != FORMAT_VERSION or record.get("engine_version") != __version__:
            return (f"written by another engine (format {record.get('format_version')}, "
                    f"engine {record.get('engine_version')})")
        if record.get("fingerprint") != fingerprint:
            return "it belongs to another raster"
        if record.get("stage") != stage or record.get("settings_key") != key:
            return "it holds another stage or other settings"
        try:
            if settings_key(record["stage"], record.get("settings")) != key:
                return "its settings do not match its key"
        except (TypeError, ValueError):
            return "its settings cannot be read"
        return None

    def _discard(self, path: Path, stage: str, problem: str) -> None:
        try:
            path.unlink()
            outcome = "removed it"
        except FileNotFoundError:
            outcome = "it is gone"
        except OSError as exc:
            outcome = f"could not remove it ({exc.strerror or exc})"
        self._say(f"scene cache: ignored a damaged '{stage}' entry ({problem}) and {outcome}; "
                  f"the stage is computed again: {path}", "warning")

    # -- store
    def store(self, fingerprint: str, stage: str, settings: dict, arrays: dict, meta: dict | None = None) -> bool:
        """Keep ``arrays`` (name -> numpy array) and the JSON-able ``meta`` as an entry; True when it is
        on disk afterwards. False (with one warning per cache object) when the folder cannot be created or
        written, and when the entry alone is larger than ``max_bytes`` (an info message)."""
        if not self.enabled:
            return False
        key = settings_key(stage, settings)
        path = self.path_for(fingerprint, stage, settings)
        if not isinstance(arrays, dict):
            raise TypeError(f"scene cache: arrays are a dict of name -> numpy array, not {type(arrays).__name__}")
        tensors = {name: _little_endian(name, array) for name, array in arrays.items()}
        record = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "engine_version": __version__,
            "stage": stage,
            "settings": json.loads(_canonical(settings)),
            "settings_key": key,
            "fingerprint": fingerprint,
            "arrays": sorted(tensors),
            "arrays_sha256": _arrays_digest(tensors),
            "created": time.time(),
            "meta": {} if meta is None else meta,
        }
        text = _canonical(record)
        estimate = sum(t.nbytes for t in tensors.values()) + len(text)
        if estimate > self.max_bytes:
            self._say(f"scene cache: the '{stage}' result ({_size_text(estimate)}) is larger than the cache's "
                      f"limit ({_size_text(self.max_bytes)}); it is not kept", "info")
            return False

        from safetensors import SafetensorError
        from safetensors.numpy import save_file

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_outputs(path) as (temporary,):
                save_file(tensors, temporary, metadata={_META_KEY: text})
        except (OSError, OutputError, SafetensorError) as exc:
            self._warn_once("write", f"scene cache: cannot write in {self.directory} ({_reason(exc)}); "
                                     "the label-free stages will be computed again next time")
            return False
        return self._bound(path)

    def _bound(self, keep: Path) -> bool:
        """Delete the least recently used entries until the folder holds at most ``max_bytes``; the entry
        just written goes only when it alone is too large. Also drops stale temporaries. True when ``keep``
        stays."""
        now = time.time()
        found = []
        try:
            items = list(os.scandir(self.directory))
        except OSError:
            return keep.exists()
        for item in items:
            try:
                if not item.is_file(follow_symlinks=False):
                    continue
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if _is_temporary(item.name):
                if now - stat.st_mtime > _STALE_TEMP_SECONDS:
                    with contextlib.suppress(OSError):
                        os.remove(item.path)
            elif item.name.endswith(_SUFFIX) and not item.name.startswith("."):
                found.append((stat.st_mtime, item.name, stat.st_size, Path(item.path)))
        keep_size = next((size for _, _, size, p in found if p == keep), None)
        if keep_size is None:
            return False
        if keep_size > self.max_bytes:
            with contextlib.suppress(OSError):
                keep.unlink()
            return False
        total = sum(size for _, _, size, _ in found)
        for _mtime, _name, size, path in sorted(found):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            total -= size
        return keep.exists()

    # -- listing
    def entries(self) -> list[CacheEntry]:
        """Every entry file in the folder, least recently used first (reads headers only)."""
        listed = []
        try:
            items = list(os.scandir(self.directory))
        except OSError:
            return []
        for item in items:
            if not item.name.endswith(_SUFFIX) or item.name.startswith("."):
                continue
            try:
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue
            try:
                record = _read_record(Path(item.path))
                if not isinstance(record, dict) or record.get("format") != FORMAT:
                    raise ValueError("not a scene cache entry")
            except (OSError, ValueError, KeyError, TypeError):
                listed.append(CacheEntry(Path(item.path), stat.st_size, stat.st_mtime, None))
                continue
            listed.append(CacheEntry(Path(item.path), stat.st_size, stat.st_mtime, record.get("stage"),
                                     record.get("created"), record.get("fingerprint"), record.get("settings"),
                                     record.get("engine_version")))
        return sorted(listed, key=lambda e: (e.last_used, e.path.name))

    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries())

    def clear(self) -> int:
        """Delete every entry (and leftover temporaries); the number of entries deleted. Other files in
        the folder are left alone."""
        removed = 0
        try:
            items = list(os.scandir(self.directory))
        except OSError:
            return 0
        for item in items:
            name = item.name
            is_entry = name.endswith(_SUFFIX) and not name.startswith(".")
            if not (is_entry or _is_temporary(name)):
                continue
            try:
                os.remove(item.path)
            except OSError:
                continue
            removed += is_entry
        return removed
