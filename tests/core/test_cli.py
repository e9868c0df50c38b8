"""The command line as users and the QGIS plugin call it: a real child process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scenes import TINY_CLI, write_scene

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=600, **kwargs):
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    return subprocess.run([sys.executable, "-m", "contrastdm", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_run_with_jsonl_progress(scene, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    done = cli("run", "--raster", scene.raster, "--vector", scene.training, "--class-field", "class_name",
               "--model", out / "m.safetensors", "--output", out / "map.tif", "--confidence", out / "conf.tif",
               "--test-vector", scene.training, "--report", out / "report.html", "--device", "cpu",
               "--smoothing-radius", "2", "--cpu-precision", "bfloat16", "--progress", "jsonl", *TINY_CLI)
    assert done.returncode == 0, done.stderr
    stream = events(done.stdout)  # every stdout line is JSON
    assert any(e["type"] == "message" and e["text"].startswith("device: CPU")
               and e["text"].endswith("; bfloat16 mixed precision") for e in stream)
    stages = []
    for event in stream:
        if event["type"] == "progress" and event["stage"] not in stages:
            stages.append(event["stage"])
        if event["type"] == "progress":
            assert 0.0 <= event["fraction"] <= 1.0
    assert stages == ["read", "preprocess", "contrastive", "finetune", "diffusion", "spectral", "save", "classify",
                      "evaluate"]  # training polygons are areas: the spectral member is trained
    result = stream[-1]
    assert result["type"] == "result" and result["command"] == "run"
    assert result["metrics"]["overall_accuracy"] > 90
    for key in ("model", "map", "confidence", "report"):
        assert Path(result["outputs"][key]).is_file()
    assert (out / "map.qml").is_file() and (out / "conf.qml").is_file() and (out / "report.json").is_file()
    with rasterio.open(out / "map.tif") as m:
        assert m.crs.to_epsg() == 32616 and m.shape == (40, 48)
    info = json.loads(cli("info", "--model", out / "m.safetensors").stdout)
    assert info["config"]["smoothing_radius"] == 2 and info["config"]["spectral_member"] == "on"
    assert info["training"]["spectral_member"]["requested"] == "auto"
    assert info["config"]["cpu_precision"] == "bfloat16" and info["training"]["precision"] == "bfloat16 mixed precision"


def test_train_classify_evaluate_info_and_doctor(trained, tmp_path):
    done = cli("classify", "--raster", trained.raster, "--model", trained.model, "--output", tmp_path / "map.tif",
               "--device", "cpu", "--tile-size", "16")
    assert done.returncode == 0, done.stderr
    assert "pixels/s" in done.stdout
    fast = cli("classify", "--raster", trained.raster, "--model", trained.model, "--output", tmp_path / "fast.tif",
               "--device", "cpu", "--tile-size", "16", "--cpu-precision", "bfloat16")
    assert fast.returncode == 0, fast.stderr
    with rasterio.open(tmp_path / "map.tif") as exact, rasterio.open(tmp_path / "fast.tif") as approximate:
        assert np.mean(exact.read(1) == approximate.read(1)) >= 0.99
    plain = cli("classify", "--raster", trained.raster, "--model", trained.model, "--output", tmp_path / "plain.tif",
                "--device", "cpu", "--smoothing-radius", "0")
    assert plain.returncode == 0, plain.stderr
    done = cli("evaluate", "--map", tmp_path / "map.tif", "--vector", trained.training, "--class-field", "class_name",
               "--report", tmp_path / "eval.html", "--progress", "jsonl")
    assert done.returncode == 0, done.stderr
    assert events(done.stdout)[-1]["metrics"]["reference_pixels"] == 96
    info = json.loads(cli("info", "--model", trained.model).stdout)
    assert [c["name"] for c in info["classes"]] == ["Corn", "Soybean", "Woods"]
    doctor = json.loads(cli("doctor").stdout)
    assert doctor["torch"] and doctor["device"] == "cpu" and doctor["ok"] is True


@pytest.mark.parametrize("case", ["missing raster", "missing field", "bad model", "bad option", "bad device",
                                  "bad smoothing", "bad smoothing option", "bad spectral weight"])
def test_bad_input_gets_one_line_and_no_output(trained, tmp_path, case):
    out = tmp_path / "map.tif"
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    args = {
        "missing raster": ("classify", "--raster", tmp_path / "nope.tif", "--model", trained.model, "--output", out),
        "missing field": ("train", "--raster", trained.raster, "--vector", trained.training, "--class-field", "kind",
                          "--model", tmp_path / "m.safetensors"),
        "bad model": ("classify", "--raster", trained.raster, "--model", junk, "--output", out),
        "bad option": ("train", "--raster", trained.raster, "--vector", trained.training, "--class-field",
                       "class_name", "--model", tmp_path / "m.safetensors", "--set", "no_such_option=1"),
        "bad device": ("classify", "--raster", trained.raster, "--model", trained.model, "--output", out,
                       "--device", "cuda"),
        "bad smoothing": ("classify", "--raster", trained.raster, "--model", trained.model, "--output", out,
                          "--smoothing-radius", "-2"),
        "bad smoothing option": ("train", "--raster", trained.raster, "--vector", trained.training, "--class-field",
                                 "class_name", "--model", tmp_path / "m.safetensors", "--smoothing-radius", "-1"),
        "bad spectral weight": ("train", "--raster", trained.raster, "--vector", trained.training, "--class-field",
                                "class_name", "--model", tmp_path / "m.safetensors", "--spectral-member", "on",
                                "--set", "spectral_weight=1.5"),
    }[case]
    expected = {"missing raster": "raster not found", "missing field": "class field 'kind' not found",
                "bad model": "not a ContrastDM model file", "bad option": "no_such_option",
                "bad device": "CUDA was requested", "bad smoothing": "smoothing radius must be 0",
                "bad smoothing option": "smoothing needs a radius",
                "bad spectral weight": "its weight within 0..1"}[case]
    done = cli(*args, "--progress", "jsonl")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and expected in done.stderr and "Traceback" not in done.stderr
    assert events(done.stdout)[-1] == {"type": "error", "kind": events(done.stdout)[-1]["kind"],
                                       "message": done.stderr.strip().removeprefix("contrastdm: error: ")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.safetensors"]


def test_debug_shows_the_traceback(tmp_path):
    done = cli("classify", "--raster", tmp_path / "nope.tif", "--model", tmp_path / "m", "--output",
               tmp_path / "o.tif", "--debug")
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_failed_run_leaves_an_existing_output_untouched(trained, tmp_path):
    out = tmp_path / "map.tif"
    out.write_bytes(b"previous map")
    other = write_scene(tmp_path / "other.tif", bands=5)
    done = cli("classify", "--raster", other.raster, "--model", trained.model, "--output", out)
    assert done.returncode == 1 and "5" in done.stderr
    assert out.read_bytes() == b"previous map"


def test_sigterm_cancels_training_and_removes_partial_outputs(scene, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    child = subprocess.Popen(
        [sys.executable, "-m", "contrastdm", "run", "--raster", str(scene.raster), "--vector", str(scene.training),
         "--class-field", "class_name", "--model", str(out / "m.safetensors"), "--output", str(out / "map.tif"),
         "--device", "cpu", "--progress", "jsonl", "--preset", "fast"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in child.stdout:
        if json.loads(line).get("stage") == "contrastive":
            break
    child.send_signal(signal.SIGTERM)
    started = time.monotonic()
    stdout, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert time.monotonic() - started < 60
    assert events(stdout)[-1]["kind"] == "Cancelled"
    assert list(out.iterdir()) == []


def test_sigkill_mid_write_leaves_no_file_at_the_output_path(trained, tmp_path):
    big = write_scene(tmp_path / "big.tif", height=600, width=600)
    out = tmp_path / "map.tif"
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    child = subprocess.Popen([sys.executable, "-m", "contrastdm", "classify", "--raster", str(big.raster), "--model",
                              str(trained.model), "--output", str(out), "--tile-size", "64", "--progress", "jsonl"],
                             stdout=subprocess.PIPE, text=True, env=env)
    for line in child.stdout:
        if json.loads(line).get("stage") == "classify":
            break
    child.kill()
    child.wait(timeout=30)
    assert not out.exists() and not Path(str(out) + ".aux.xml").exists()
    assert np.all([p.name in ("big.tif",) or p.name.startswith(".map.tmp-") for p in tmp_path.iterdir()])


@pytest.mark.parametrize("args, message", [
    (["--raster-list", "L", "--output", "map.tif"], "needs --raster-list and --output-dir"),
    (["--raster-list", "L", "--output-dir", "maps", "--confidence", "c.tif"], "do not apply"),
    (["--raster", "scene.tif"], "needs --raster and --output"),
    (["--raster-list", "missing.txt", "--output-dir", "maps"], "cannot read the raster list")])
def test_classify_options_for_one_raster_or_a_list_are_checked_in_one_line(tmp_path, args, message):
    (tmp_path / "L").write_text("scene.tif\n")
    done = cli("classify", "--model", "m.safetensors", *args, cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "maps").exists()


def test_every_declared_command_has_its_function():
    import argparse

    from contrastdm.cli import COMMANDS, build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(subparsers.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command, option, chosen, setting, wording", [
    ("train", "--patch-size", "choose_patch_size", "patch_size", "an odd number of pixels"),
    ("run", "--smoothing-radius", "smoothing_from_scene", "smoothing_radius", "a number of pixels"),
])
def test_a_size_takes_a_number_or_auto_when_training(capsys, command, option, chosen, setting, wording):
    from contrastdm.cli import _train_kwargs, build_parser

    base = [command, "--raster", "r.tif", "--vector", "v.gpkg", "--class-field", "c", "--model", "m.safetensors"]
    base += ["--output", "map.tif"] if command == "run" else []
    parser = build_parser()
    auto = _train_kwargs(parser.parse_args(base + [option, "auto"]))
    assert auto[chosen] is True and setting not in auto
    numbered = _train_kwargs(parser.parse_args(base + [option, "9"]))
    assert numbered[setting] == 9 and not numbered.get(chosen)  # a number is taken as it is, never lowered
    assert chosen not in _train_kwargs(parser.parse_args(base))  # without the option, the preset decides
    with pytest.raises(SystemExit):
        parser.parse_args(base + [option, "wide"])
    assert f"{wording} or 'auto', not 'wide'" in capsys.readouterr().err


def test_a_map_is_smoothed_with_a_number_of_pixels():
    from contrastdm.cli import build_parser

    with pytest.raises(SystemExit):  # auto is decided when training
        build_parser().parse_args(["classify", "--raster", "r.tif", "--model", "m.safetensors", "--output", "o.tif",
                                   "--smoothing-radius", "auto"])
