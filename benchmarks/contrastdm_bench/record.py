"""Bookkeeping for a run: environment (device, versions, git commit), peak memory, atomic JSON files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
from pathlib import Path


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def process_peak_rss_mb() -> float | None:
    """The process's peak resident memory since it started (MiB)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0), 1)
    except (ImportError, OSError):
        return None


class PeakRSS:
    """Samples the resident memory every ``interval`` seconds while the block runs; ``peak_mb`` after."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def _sample(self) -> None:
        while True:
            rss = _rss_bytes()
            if rss is not None:
                self.peak = max(self.peak, rss)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakRSS:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        rss = _rss_bytes()
        if rss is not None:
            self.peak = max(self.peak, rss)

    @property
    def peak_mb(self) -> float | None:
        return round(self.peak / 2**20, 1) if self.peak else process_peak_rss_mb()


def versions() -> dict:
    import numpy
    import scipy
    import sklearn
    import torch

    from contrastdm.version import __version__

    return {"contrastdm": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "torch": torch.__version__,
            "cuda": torch.version.cuda if torch.cuda.is_available() else None}


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as lines:
            return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    except OSError:
        return None


def device_info(device) -> dict:
    import torch

    from contrastdm.device import describe_device

    info = {"device": describe_device(device), "type": device.type, "gpu_model": None,
            "cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
            # The kernels torch dispatches to: machines that differ here round differently, so the same seed
            # can train to another result there (runs pair only on the same capability).
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch_threads": torch.get_num_threads(),
            "cpu_count": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    if device.type == "cuda":
        info["gpu_model"] = torch.cuda.get_device_name(device)
        total = torch.cuda.get_device_properties(device).total_memory
        info["gpu_memory_gb"] = round(total / 2**30, 1)
    return info


def git_commit() -> dict:
    """The commit of the checkout holding this engine, and whether the engine's tracked files differ from it
    (benchmark outputs changing beside it do not count)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", str(here.parent)], cwd=here,
                                capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def private_tmp(path: Path, suffix: str = "") -> Path:
    """A temporary name beside ``path`` that no other process writes: harness runs may share an output folder
    and write the same file (a scene's ground truth, the table) at the same moment."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp{suffix}")


def write_json(path, data: dict) -> Path:
    """Write atomically: a reader (or a resumed run) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(path)
    tmp.write_text(json.dumps(data, indent=1, default=_plain) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _plain(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_map(path, labels) -> Path:
    """A class map (ids 0..255) as a compressed ``.npz`` (a few kB for Indian Pines), written atomically."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(path, ".npz")
    np.savez_compressed(tmp, map=np.asarray(labels).astype(np.uint8))
    os.replace(tmp, path)
    return path


def find_map(path) -> Path | None:
    """The file holding a recorded class map, or None when missing. A record from before compressed maps names
    ``<run>.npy``: its ``.npz`` beside it stands in when the ``.npy`` is gone."""
    path = Path(path)
    for candidate in (path, path.with_suffix(".npz")):
        if candidate.is_file():
            return candidate
    return None


def load_map(path):
    """A class map written by :func:`save_map` (or an older ``.npy``), or None when missing."""
    import numpy as np

    found = find_map(path)
    if found is None:
        return None
    if found.suffix == ".npz":
        with np.load(found) as data:
            return data["map"]
    return np.load(found)
