"""Engine environment logic for Windows (OSGeo4W, standalone installer), macOS (QGIS.app) and Linux.

Pure functions: the platform and the paths are arguments, so all three layouts are tested on Linux CI.
"""

from __future__ import annotations

import json
import sys

import pytest

from contrastdm_qgis import engine_setup as es

OSGEO4W = r"C:\OSGeo4W"
STANDALONE = r"C:\Program Files\QGIS 3.34.1"
WIN_PROFILE = r"C:\Users\Jürgen Müller\AppData\Roaming\QGIS\QGIS3\profiles\default"
MAC_APP = "/Applications/QGIS 3.34.app"
MAC_PROFILE = "/Users/zoë/Library/Application Support/QGIS/QGIS3/profiles/default"
LINUX_PROFILE = "/home/josé/.local/share/QGIS/QGIS3/profiles/default"


def test_current_platform_names():
    assert [es.current_platform(n) for n in ("win32", "darwin", "linux", "freebsd13")] == [
        "windows", "darwin", "linux", "linux"]


@pytest.mark.parametrize("platform, venv, expected", [
    ("windows", WIN_PROFILE + r"\contrastdm\engine-venv",
     WIN_PROFILE + r"\contrastdm\engine-venv\Scripts\python.exe"),
    ("darwin", MAC_PROFILE + "/contrastdm/engine-venv", MAC_PROFILE + "/contrastdm/engine-venv/bin/python"),
    ("linux", LINUX_PROFILE + "/contrastdm/engine-venv", LINUX_PROFILE + "/contrastdm/engine-venv/bin/python"),
])
def test_venv_python_per_platform(platform, venv, expected):
    assert str(es.venv_python(venv, platform)) == expected


@pytest.mark.parametrize("platform, profile, expected", [
    ("windows", WIN_PROFILE, WIN_PROFILE + r"\contrastdm\engine-venv"),
    ("darwin", MAC_PROFILE, MAC_PROFILE + "/contrastdm/engine-venv"),
    ("linux", LINUX_PROFILE, LINUX_PROFILE + "/contrastdm/engine-venv"),
])
def test_managed_venv_lives_in_the_profile(platform, profile, expected):
    assert str(es.managed_venv_dir(profile, platform)) == expected


def test_windows_osgeo4w_bundled_python_is_found_from_the_prefix():
    # Inside QGIS, sys.executable is qgis-bin.exe: it must never be used to create a venv.
    found = es.base_python_candidates("windows", OSGEO4W + r"\bin\qgis-bin.exe", OSGEO4W + r"\apps\Python312",
                                      OSGEO4W + r"\apps\Python312")
    assert found[0] == OSGEO4W + r"\apps\Python312\python.exe"
    assert OSGEO4W + r"\bin\python.exe" in found
    assert not any("qgis-bin" in path for path in found)
    assert len(found) == len({p.lower() for p in found})  # prefix == base_prefix: listed once


def test_windows_standalone_installer_with_spaces():
    found = es.base_python_candidates("windows", STANDALONE + r"\bin\qgis-ltr-bin.exe",
                                      STANDALONE + r"\apps\Python39", "")
    assert found[0] == STANDALONE + r"\apps\Python39\python.exe"
    exists = {STANDALONE + r"\apps\Python39\python.exe"}.__contains__
    assert es.find_base_python("windows", STANDALONE + r"\bin\qgis-ltr-bin.exe", STANDALONE + r"\apps\Python39",
                               "", exists=exists) == STANDALONE + r"\apps\Python39\python.exe"


def test_windows_python_executable_is_used_when_it_is_python():
    found = es.base_python_candidates("windows", r"C:\Python312\python.exe", r"C:\Python312", r"C:\Python312")
    assert found[0] == r"C:\Python312\python.exe" and len(found) == 1


def test_macos_qgis_app_bundled_python():
    executable = MAC_APP + "/Contents/MacOS/QGIS"
    prefix = MAC_APP + "/Contents/Frameworks/Python.framework/Versions/3.11"
    found = es.base_python_candidates("darwin", executable, prefix, prefix)
    assert found[0] == prefix + "/bin/python3"
    assert MAC_APP + "/Contents/MacOS/bin/python3" in found
    assert executable not in found
    assert found[-1] == "/usr/bin/python3"
    only_bundled = {MAC_APP + "/Contents/MacOS/bin/python3"}.__contains__
    assert es.find_base_python("darwin", executable, prefix, prefix, exists=only_bundled) == \
        MAC_APP + "/Contents/MacOS/bin/python3"


def test_linux_qgis():
    found = es.base_python_candidates("linux", "/usr/bin/qgis", "/usr", "/usr")
    assert found == ["/usr/bin/python3", "/usr/bin/python"]
    assert es.find_base_python("linux", "/usr/bin/qgis", "/nowhere", "", exists=lambda p: False) is None


def test_find_base_python_on_this_machine():
    assert es.find_base_python(executable=sys.executable, prefix=sys.prefix, base_prefix=sys.base_prefix)


@pytest.mark.parametrize("platform", ["windows", "darwin", "linux"])
def test_setup_plan_is_argument_lists_with_paths_intact(platform):
    profile = {"windows": WIN_PROFILE, "darwin": MAC_PROFILE, "linux": LINUX_PROFILE}[platform]
    base = {"windows": STANDALONE + r"\apps\Python39\python.exe", "darwin": MAC_APP + "/Contents/MacOS/bin/python3",
            "linux": "/usr/bin/python3"}[platform]
    venv = es.managed_venv_dir(profile, platform)
    steps = es.setup_plan(platform, base, venv, "cpu", "2.13.0", wheelhouses=["/opt/wheels"])
    python = str(es.venv_python(venv, platform))
    create = steps[0].argv
    assert create[:3] == [base, "-m", "venv"] and create[-1] == str(venv)  # one argument, spaces and all
    assert ("--system-site-packages" in create) == (platform == "linux")
    for step in steps[1:]:
        assert step.argv[0] == python  # always "python -m pip": no pip.exe launcher to break on odd paths
    torch = steps[1].argv
    assert torch[1:4] == ["-m", "pip", "install"] and "torch==2.13.0" in torch
    assert ["--find-links", "/opt/wheels"] == torch[torch.index("--find-links"):torch.index("--find-links") + 2]
    if platform == "darwin":
        assert "--index-url" not in torch  # PyPI's macOS wheels (CPU + Apple GPU)
    else:
        assert torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert "rasterio" in steps[2].argv and "geopandas" in steps[2].argv
    assert steps[-1].argv == [python, "-m", "contrastdm", "doctor"]
    assert all(isinstance(arg, str) for step in steps for arg in step.argv)


def test_cuda_build_and_engine_package():
    steps = es.setup_plan("windows", r"C:\p\python.exe", r"C:\v", "cu128", "2.13.0", engine_package="contrastdm")
    torch = steps[1].argv
    assert torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cu128"
    assert [s.title for s in steps][-2:] == ["Installing the ContrastDM engine", "Checking the engine"]
    with pytest.raises(ValueError):
        es.torch_requirement("2.13.0", "rocm9", "linux")


def test_pinned_torch_version_and_wheelhouse(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"--find-links {wheels}\n--find-links /does/not/exist\ntorch==2.9.1\nsafetensors\n")
    assert es.pinned_torch_version(requirements) == "2.9.1"
    assert es.find_links(requirements) == [str(wheels)]
    assert es.pinned_torch_version(tmp_path / "missing.txt") == es.DEFAULT_TORCH_VERSION
    assert es.pinned_torch_version(None) == es.DEFAULT_TORCH_VERSION


@pytest.mark.parametrize("output, expected", [
    ("ERROR: No matching distribution found for torch==2.13.0", "No PyTorch 2.13.0 build"),
    ("WARNING: Retrying ... Failed to establish a new connection: [Errno -3] Temporary failure in name resolution",
     "could not be reached"),
    ("OSError: [Errno 28] No space left on device", "disk is full"),
    ("Error: ensurepip is not available", "python3-venv"),
    ("something odd\nthe last line\n\n", "exit code 1). Last output: the last line"),
])
def test_failures_are_explained_in_one_sentence(output, expected):
    message = es.explain_failure("Installing PyTorch", 1, output, "2.13.0")
    assert message.startswith("Installing PyTorch failed")
    assert expected in message and "\n" not in message


DOCTOR_CPU = {"engine": "0.1.0", "python": "3.11.2", "executable": "/x/python", "torch": "2.13.0+cpu",
              "device": "cpu", "device_name": "CPU (2 threads)", "cuda_available": False,
              "problems": ["no GPU: training runs on the CPU and will be slower"], "ok": True}


def test_doctor_parsing_and_device_text():
    assert es.parse_doctor("noise\n" + json.dumps(DOCTOR_CPU, indent=2)) == DOCTOR_CPU
    assert es.parse_doctor("") is None and es.parse_doctor("{not json") is None and es.parse_doctor("[1]") is None
    assert es.describe_device(DOCTOR_CPU) == "CPU only: training will be slow"
    cuda = dict(DOCTOR_CPU, device="cuda", device_name="NVIDIA H100 80GB HBM3", cuda_available=True, problems=[])
    assert es.describe_device(cuda) == "CUDA: NVIDIA H100 80GB HBM3"
    assert es.describe_device(dict(DOCTOR_CPU, device="mps", device_name="mps")) == "Apple GPU (MPS)"
    assert es.describe_device(None) == "No engine: set one up"


def test_doctor_summaries():
    ready, message = es.summarize_doctor(DOCTOR_CPU)
    assert ready and message.startswith("Ready: ContrastDM 0.1.0, PyTorch 2.13.0+cpu, CPU only")
    assert "no GPU" not in message  # said once, not twice
    no_torch = dict(DOCTOR_CPU, torch=None, device=None, ok=False,
                    problems=["torch cannot be imported: No module named 'torch'"])
    ready, message = es.summarize_doctor(no_torch)
    assert not ready and "PyTorch is not installed" in message and "No module named 'torch'" in message
    assert es.describe_device(no_torch) == "PyTorch is missing: no device"
    ready, message = es.summarize_doctor(None, 1, "/usr/bin/python3: No module named contrastdm\n")
    assert not ready and "does not have the ContrastDM engine" in message


def test_an_unused_gpu_is_not_silent():
    ready, message = es.summarize_doctor(DOCTOR_CPU, has_nvidia=True)
    assert ready and "An NVIDIA GPU is installed but this PyTorch is a CPU-only build" in message
    cuda = dict(DOCTOR_CPU, device="cuda", torch="2.13.0+cu126", device_name="NVIDIA RTX 4090", problems=[])
    assert "NVIDIA GPU is installed" not in es.summarize_doctor(cuda, has_nvidia=True)[1]
