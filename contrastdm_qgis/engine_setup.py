"""The engine's Python environment: where interpreters are, how to set one up, what ``doctor`` says.

The pure functions take the platform ("windows", "darwin" or "linux") and the paths as arguments, so the
Windows (OSGeo4W, standalone installer) and macOS (QGIS.app) layouts are tested on any machine. Paths are
handled as ``PureWindowsPath`` / ``PurePosixPath`` and commands as argument lists (never a shell string), so
spaces and non-ASCII characters in user names and install folders need no quoting.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

MANAGED_VENV = ("contrastdm", "engine-venv")  # below the QGIS profile folder
TORCH_INDEX = "https://download.pytorch.org/whl/"
# PyTorch builds offered by "Set up engine": (key, label). macOS gets PyPI's build (CPU + Apple GPU).
TORCH_VARIANTS = [("cpu", "CPU only (works everywhere)"), ("cu126", "NVIDIA GPU, CUDA 12.6"),
                  ("cu128", "NVIDIA GPU, CUDA 12.8")]
DEFAULT_TORCH_VERSION = "2.13.0"
# What the engine imports besides torch (pyproject.toml); on Linux they usually come from the system.
ENGINE_DEPENDENCIES = ["numpy", "rasterio", "geopandas", "shapely", "safetensors"]


def current_platform(name: str | None = None) -> str:
    name = sys.platform if name is None else name
    if name.startswith("win"):
        return "windows"
    if name == "darwin":
        return "darwin"
    return "linux"


def pure_path(platform: str, path) -> PurePath:
    return PureWindowsPath(str(path)) if platform == "windows" else PurePosixPath(str(path))


# ----------------------------------------------------------------------------------------------------------
# Interpreters
# ----------------------------------------------------------------------------------------------------------

def venv_python(venv, platform: str) -> PurePath:
    """The interpreter inside a virtual environment: ``Scripts\\python.exe`` on Windows, ``bin/python`` else."""
    venv = pure_path(platform, venv)
    return venv / "Scripts" / "python.exe" if platform == "windows" else venv / "bin" / "python"


def managed_venv_dir(profile_dir, platform: str) -> PurePath:
    """The engine's own virtual environment, inside the QGIS profile (one per profile, user-writable)."""
    return pure_path(platform, profile_dir).joinpath(*MANAGED_VENV)


def _is_qgis_binary(path: PurePath) -> bool:
    return "qgis" in path.name.lower()


def base_python_candidates(platform: str, executable: str, prefix: str, base_prefix: str = "") -> list[str]:
    """Interpreters that can create the engine's virtual environment, best first.

    ``executable``, ``prefix`` and ``base_prefix`` are QGIS's ``sys.executable`` / ``sys.prefix`` /
    ``sys.base_prefix``. Inside QGIS ``sys.executable`` is usually QGIS itself (``qgis-bin.exe``,
    ``QGIS.app/Contents/MacOS/QGIS``, ``/usr/bin/qgis``), so the bundled Python is found from the prefix:
    OSGeo4W and the standalone installer: ``<root>\\apps\\Python3xx\\python.exe`` (also ``<root>\\bin\\python.exe``);
    QGIS.app: ``Contents/MacOS/bin/python3`` or ``<prefix>/bin/python3``; Linux: ``<prefix>/bin/python3``.
    """
    found: list[PurePath] = []
    exe = pure_path(platform, executable) if executable else None
    if exe is not None and not _is_qgis_binary(exe) and exe.name.lower().startswith("python"):
        found.append(exe)
    for folder in (prefix, base_prefix):
        if not folder:
            continue
        root = pure_path(platform, folder)
        if platform == "windows":
            found.append(root / "python.exe")
            if root.parent.name.lower() == "apps":  # <OSGeo4W or QGIS root>\apps\Python3xx
                found += [root.parent.parent / "bin" / "python.exe", root.parent.parent / "bin" / "python3.exe"]
        else:
            found += [root / "bin" / "python3", root / "bin" / "python"]
    if platform == "darwin":
        if exe is not None and exe.parent.name == "MacOS":  # QGIS.app/Contents/MacOS/QGIS
            found += [exe.parent / "bin" / "python3", exe.parent.parent / "Frameworks" / "bin" / "python3"]
        found += [PurePosixPath("/opt/homebrew/bin/python3"), PurePosixPath("/usr/local/bin/python3"),
                  PurePosixPath("/usr/bin/python3")]
    elif platform == "linux":
        found += [PurePosixPath("/usr/bin/python3")]
    unique: list[str] = []
    for path in found:
        text = str(path)
        key = text.lower() if platform == "windows" else text
        if key not in [u.lower() if platform == "windows" else u for u in unique]:
            unique.append(text)
    return unique


def find_base_python(platform: str | None = None, executable: str | None = None, prefix: str | None = None,
                     base_prefix: str | None = None, exists=None) -> str | None:
    """The first existing interpreter of :func:`base_python_candidates` (defaults: this process)."""
    platform = platform or current_platform()
    exists = exists or (lambda p: os.path.isfile(p) and os.access(p, os.X_OK))
    for candidate in base_python_candidates(platform, sys.executable if executable is None else executable,
                                            sys.prefix if prefix is None else prefix,
                                            sys.base_prefix if base_prefix is None else base_prefix):
        if exists(candidate):
            return candidate
    return None


# ----------------------------------------------------------------------------------------------------------
# Setting up the engine's environment
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Step:
    title: str
    argv: list[str]


def pinned_torch_version(requirements: Path | None) -> str:
    """The torch version pinned in the engine's requirements.txt (``torch==X``), else the default."""
    try:
        text = Path(requirements).read_text(encoding="utf-8") if requirements else ""
    except OSError:
        text = ""
    match = re.search(r"^\s*torch\s*==\s*([\w.+-]+)", text, re.MULTILINE)
    return match.group(1) if match else DEFAULT_TORCH_VERSION


def find_links(requirements: Path | None) -> list[str]:
    """``--find-links`` folders of the requirements file that exist (a local wheelhouse for offline set-ups)."""
    try:
        text = Path(requirements).read_text(encoding="utf-8") if requirements else ""
    except OSError:
        return []
    return [m for m in re.findall(r"^\s*--find-links[ =]+(\S+)", text, re.MULTILINE) if os.path.isdir(m)]


def torch_requirement(version: str, variant: str, platform: str) -> list[str]:
    """pip arguments for PyTorch ``version`` in the chosen build (CPU or a CUDA version)."""
    if platform == "darwin" or variant in ("", "default"):
        return [f"torch=={version}"]  # PyPI's macOS wheels include the Apple GPU (MPS) back-end
    if variant not in {key for key, _label in TORCH_VARIANTS}:
        raise ValueError(f"unknown PyTorch build '{variant}'")
    return [f"torch=={version}", "--index-url", TORCH_INDEX + variant, "--extra-index-url", "https://pypi.org/simple"]


def setup_plan(platform: str, base_python: str, venv, variant: str, torch_version: str = DEFAULT_TORCH_VERSION,
               wheelhouses: list[str] | None = None, engine_package: str | None = None) -> list[Step]:
    """The commands that create the engine's environment, in order.

    Linux venvs see the system's packages (rasterio, geopandas and GDAL from the distribution, as QGIS uses);
    on Windows and macOS QGIS's Python lacks them, so pip installs their wheels (each with its own GDAL: the
    engine runs in its own process, so it cannot clash with QGIS's). ``engine_package`` is what to install when
    the engine's sources do not ship with the plugin (e.g. "contrastdm" from PyPI).
    """
    python = str(venv_python(venv, platform))
    create = [base_python, "-m", "venv"]
    if platform == "linux":
        create.append("--system-site-packages")
    create.append(str(pure_path(platform, venv)))
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    for folder in wheelhouses or []:
        pip += ["--find-links", folder]
    steps = [Step("Creating the virtual environment", create),
             Step("Installing PyTorch", pip + torch_requirement(torch_version, variant, platform)),
             Step("Installing the engine's libraries", pip + ENGINE_DEPENDENCIES)]
    if engine_package:
        steps.append(Step("Installing the ContrastDM engine", pip + [engine_package]))
    steps.append(Step("Checking the engine", [python, "-m", "contrastdm", "doctor"]))
    return steps


PIP_FAILURES = [
    (r"No matching distribution found for torch|Could not find a version that satisfies the requirement torch",
     "No PyTorch {torch} build of the chosen kind exists for this Python and system. Choose another build "
     "(CPU only works everywhere) or set up an interpreter by hand."),
    (r"Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable|"
     r"ProxyError|ConnectTimeout|Read timed out",
     "The package index could not be reached: check the network connection or the proxy (pip honours "
     "HTTPS_PROXY), or install from a local wheel folder."),
    (r"No space left on device", "The disk is full: free some space (PyTorch needs about 1 to 5 GB)."),
    (r"No module named venv|ensurepip is not available|No module named ensurepip",
     "This Python cannot create virtual environments (on Debian/Ubuntu install python3-venv)."),
    (r"Permission denied|Access is denied", "Permission denied while writing the environment: check the "
                                             "folder's permissions or antivirus software."),
]


def explain_failure(step_title: str, exit_code: int, output: str, torch_version: str = DEFAULT_TORCH_VERSION) -> str:
    """One clear sentence for a failed set-up step, from pip's or venv's output."""
    for pattern, message in PIP_FAILURES:
        if re.search(pattern, output or "", re.IGNORECASE):
            return f"{step_title} failed: " + message.format(torch=torch_version)
    last = [line.strip() for line in (output or "").splitlines() if line.strip()]
    detail = f" Last output: {last[-1]}" if last else ""
    return f"{step_title} failed (exit code {exit_code}).{detail}"


# ----------------------------------------------------------------------------------------------------------
# doctor
# ----------------------------------------------------------------------------------------------------------

def parse_doctor(stdout: str) -> dict | None:
    """The JSON object ``python -m contrastdm doctor`` prints (None when the output is not one)."""
    text = (stdout or "").strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def describe_device(info: dict | None) -> str:
    """"CUDA: NVIDIA ...", "Apple GPU (MPS)", "CPU only: training will be slow" or why there is none."""
    if not info:
        return "No engine: set one up"
    if not info.get("torch"):
        return "PyTorch is missing: no device"
    device = str(info.get("device") or "")
    name = str(info.get("device_name") or "").strip()
    if device.startswith("cuda"):
        return f"CUDA: {name or 'NVIDIA GPU'}"
    if device == "mps":
        return f"Apple GPU (MPS){': ' + name if name and name.lower() != 'mps' else ''}"
    return "CPU only: training will be slow"


def summarize_doctor(info: dict | None, returncode: int = 0, stderr: str = "",
                     has_nvidia: bool = False) -> tuple[bool, str]:
    """(ready, one message for the user) from a doctor run. ``has_nvidia``: an NVIDIA driver is installed
    (nvidia-smi found), so a CPU-only run means the GPU would go unused: say so and how to fix it."""
    if info is None:
        text = (stderr or "").strip().splitlines()
        if any("No module named contrastdm" in line for line in text):
            return False, "This interpreter does not have the ContrastDM engine: use Set up engine."
        detail = text[-1] if text else f"exit code {returncode}"
        return False, f"The engine could not be started with this interpreter ({detail})."
    problems = [str(p) for p in info.get("problems") or []]
    if str(info.get("device") or "") == "cpu":  # describe_device already says so
        problems = [p for p in problems if "gpu" not in p.lower()]
    if not info.get("torch"):
        why = next((p for p in problems if "torch" in p.lower()), "torch cannot be imported")
        return False, f"PyTorch is not installed in this interpreter ({why}): use Set up engine."
    ready = bool(info.get("ok", True))
    message = f"Ready: ContrastDM {info.get('engine', '?')}, PyTorch {info.get('torch')}, {describe_device(info)}"
    if problems:
        message += ". " + "; ".join(problems)
    if has_nvidia and not str(info.get("device") or "").startswith("cuda"):
        build = "a CPU-only build" if "+cpu" in str(info.get("torch")) else "without CUDA support"
        message += (f". An NVIDIA GPU is installed but this PyTorch is {build}, so the GPU would go unused: "
                    "use Set up engine with an NVIDIA (CUDA) build")
    return ready, message


def plugin_requirements(plugin_dir: Path) -> Path | None:
    """The engine's requirements.txt: bundled in the plugin zip (engine/) or at the checkout's root."""
    for candidate in (plugin_dir / "engine" / "requirements.txt", plugin_dir.parent / "requirements.txt"):
        if candidate.is_file():
            return candidate
    return None



def profile_dir() -> str:
    """The active QGIS profile folder (where the managed environment lives)."""
    from qgis.core import QgsApplication

    return QgsApplication.qgisSettingsDirPath()


def managed_venv(platform: str | None = None) -> Path:
    return Path(str(managed_venv_dir(profile_dir(), platform or current_platform())))


def managed_python(platform: str | None = None) -> Path:
    platform = platform or current_platform()
    return Path(str(venv_python(managed_venv(platform), platform)))
