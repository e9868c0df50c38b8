"""Choosing the compute device: CUDA when present, then Apple MPS, else the CPU."""

from __future__ import annotations

import os
import platform

from .choices import DEVICES
from .errors import DeviceError


def resolve_device(name="auto"):
    """A torch device from a name ("auto", "cpu", "cuda", "cuda:N", "mps") or a torch.device."""
    import torch

    name = str(name or "auto").lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        raise DeviceError(f"unknown device '{name}'; use one of {', '.join(DEVICES)}")
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_ok:
            return torch.device("mps")
        name = "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is usable here; use --device auto or cpu")
    if name == "mps" and not mps_ok:
        raise DeviceError("Apple MPS was requested but is not available here; use --device auto or cpu")
    if name == "cpu":
        torch.set_num_threads(thread_count())
    return torch.device(name)


def _positive(text) -> int | None:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def thread_count() -> int:
    """CPU threads for torch: ``CONTRASTDM_THREADS`` (the CLI's ``--threads``), else ``OMP_NUM_THREADS``, else
    this process's share of the cores it may run on (all of them, divided among the ranks torchrun started
    on this machine), so two engine processes on one machine do not oversubscribe it."""
    for variable in ("CONTRASTDM_THREADS", "OMP_NUM_THREADS"):
        value = _positive(os.environ.get(variable))
        if value:
            return value
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, available // (_positive(os.environ.get("LOCAL_WORLD_SIZE")) or 1))


def native_bfloat16(device) -> bool:
    """Whether ``device`` is a CPU that computes bfloat16 natively (AVX512-BF16 or AMX tiles): there bfloat16
    speeds convolutions and matrix products up; elsewhere it is emulated and slows them down."""
    import torch

    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check and check() for check in checks)


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def environment() -> dict:
    """What the engine will run with; used by `contrastdm doctor` and the QGIS settings page."""
    import sys

    from .version import __version__

    report = {"engine": __version__, "python": sys.version.split()[0], "executable": sys.executable,
              "torch": None, "device": None, "device_name": None, "cuda_available": False, "problems": []}
    try:
        import torch
    except Exception as exc:  # torch missing or broken: the report says so instead of failing
        report["problems"].append(f"torch cannot be imported: {exc}")
        report["ok"] = False
        return report
    report["torch"] = torch.__version__
    report["cuda_available"] = bool(torch.cuda.is_available())
    device = resolve_device("auto")
    report["device"] = device.type
    report["device_name"] = describe_device(device)
    for module in ("rasterio", "geopandas", "safetensors"):
        try:
            __import__(module)
        except Exception as exc:
            report["problems"].append(f"{module} cannot be imported: {exc}")
    if device.type == "cpu":
        report["problems"].append("no GPU: training runs on the CPU and will be slower")
    report["ok"] = not any("cannot be imported" in p for p in report["problems"])
    return report
