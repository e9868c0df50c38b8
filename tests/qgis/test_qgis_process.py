"""qgis_process, with the plugin enabled in a throw-away profile, lists and runs the algorithms."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from plugin_helpers import TINY
from plugin_scenes import CRS

QGIS_PROCESS = "/usr/bin/qgis_process.bin"  # Debian's qgis_process wrapper passes a flag 3.22 rejects

pytestmark = pytest.mark.skipif(not os.access(QGIS_PROCESS, os.X_OK), reason="qgis_process is not installed")


@pytest.fixture(scope="module")
def qgis_process(staged_plugin, tmp_path_factory):
    """Runs qgis_process with HOME in a temporary folder (so a fresh default profile) and the plugin on
    QGIS_PLUGINPATH, enabled the way a user would: ``qgis_process plugins enable contrastdm_qgis``."""
    home = tmp_path_factory.mktemp("home")

    def call(*args, timeout=300):
        env = dict(os.environ, HOME=str(home), QGIS_PLUGINPATH=str(staged_plugin), QT_QPA_PLATFORM="offscreen")
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            env.pop(name, None)
        env.setdefault("PROJ_DATA", "/usr/share/proj")
        return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=timeout)

    done = call("plugins", "enable", "contrastdm_qgis")
    assert done.returncode == 0, done.stdout + done.stderr
    ini = home / ".local/share/QGIS/QGIS3/profiles/default/QGIS/QGIS3.ini"
    assert "contrastdm_qgis=true" in ini.read_text()
    return call


def test_qgis_process_lists_the_provider(qgis_process):
    done = qgis_process("list")
    assert done.returncode == 0, done.stderr
    listing = done.stdout
    assert "ContrastDM" in listing
    for algorithm in ("contrastdm:train_model", "contrastdm:classify_raster", "contrastdm:train_and_classify"):
        assert algorithm in listing
    help_text = qgis_process("help", "contrastdm:train_and_classify").stdout
    assert "INPUT_RASTER" in help_text and "OUTPUT_MODEL" in help_text and "Trains a ContrastDM model" in help_text


def test_qgis_process_runs_train_and_classify(qgis_process, plugin_scene, engine_ready, tmp_path):
    outputs = {"OUTPUT_MODEL": tmp_path / "model.safetensors", "OUTPUT_RASTER": tmp_path / "classes.tif",
               "OUTPUT_CONFIDENCE": tmp_path / "confidence.tif"}
    arguments = [f"INPUT_RASTER={plugin_scene.raster}", f"TRAINING_VECTOR={plugin_scene.training}",
                 "CLASS_FIELD=class_name", "SYNTHETIC=false", *(f"{k}={v}" for k, v in TINY.items()),
                 *(f"{k}={v}" for k, v in outputs.items())]
    done = qgis_process("--json", "run", "contrastdm:train_and_classify", "--", *arguments)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(done.stdout[done.stdout.index("{"):])["results"]
    for name, path in outputs.items():
        assert results[name] == str(path)
        assert Path(path).is_file()
    assert (tmp_path / "classes.qml").is_file()  # the engine's style, next to the map
    import rasterio

    with rasterio.open(outputs["OUTPUT_RASTER"]) as dataset:
        assert dataset.crs.to_string() == CRS
        assert (dataset.height, dataset.width) == (plugin_scene.height, plugin_scene.width)
