"""The engine page (options page and dialog tab): probing an interpreter, set-up with live output, apply."""

from __future__ import annotations

import sys

import pytest
from plugin_helpers import wait_for

from contrastdm_qgis import engine_jobs, settings
from contrastdm_qgis.engine_setup import Step
from contrastdm_qgis.options_page import EngineOptionsFactory, EngineWidget, default_variant

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's Python: QGIS's bindings, no torch




@pytest.fixture
def widget(qgis_app):
    settings.set_engine_python("")
    widget = EngineWidget()
    yield widget
    wait_for(lambda: not widget.probe.running() and not widget.setup_runner.running())
    widget.deleteLater()
    settings.set_engine_python("")


def test_an_interpreter_without_torch_is_reported(widget):
    import subprocess

    has_torch = subprocess.run([SYSTEM_PYTHON, "-c", "import torch"], capture_output=True).returncode == 0
    if has_torch:
        pytest.skip("this machine's system Python has torch")
    widget.python_widget.setFilePath(SYSTEM_PYTHON)
    results = []
    widget.probed.connect(results.append)
    widget.check()
    assert not widget.check_button.isEnabled()  # the probe runs in the background: QGIS stays responsive
    wait_for(lambda: results)
    status = widget.status_label.text()
    assert "PyTorch is not installed" in status and "No module named 'torch'" in status
    assert widget.torch_label.text() == "not installed"
    assert widget.device_label.text() == "PyTorch is missing: no device"
    assert widget.used_label.text() == f"{SYSTEM_PYTHON} (chosen here)"
    assert results[0]["ready"] is False and widget.check_button.isEnabled()


def test_a_missing_interpreter_is_reported(widget, tmp_path):
    widget.python_widget.setFilePath(str(tmp_path / "nö python" / "python"))
    results = []
    widget.probed.connect(results.append)
    widget.check()
    wait_for(lambda: results)
    assert "does not exist" in widget.status_label.text()


def test_the_engine_of_this_checkout_is_ready(widget, engine_ready):
    results = []
    widget.probed.connect(results.append)
    widget.check()
    wait_for(lambda: results)
    assert results[0]["ready"], results[0]
    assert results[0]["origin"] == "checkout" and widget.torch_label.text().startswith("2.")
    assert widget.device_label.text() in ("CPU only: training will be slow",) or \
        widget.device_label.text().startswith("CUDA: ")
    assert engine_jobs.last_probe() is results[0]


def test_setup_streams_output_and_saves_the_interpreter(widget, tmp_path):
    venv_python = str(tmp_path / "Jürgen's env" / "bin" / "python")
    steps = [Step("Creating the virtual environment", [sys.executable, "-c", "print('created')"]),
             Step("Installing PyTorch", [sys.executable, "-c",
                                         "import sys, time\nfor i in range(3): print('Collecting', i, flush=True)"])]
    finished = []
    widget.setup_runner.finished.connect(lambda ok, message: finished.append((ok, message)))
    assert widget.set_up(steps, venv_python)
    assert not widget.setup_button.isEnabled() and widget.cancel_setup_button.isEnabled()
    wait_for(lambda: finished)
    assert finished[0][0] is True
    log = widget.log.toPlainText()
    assert "created" in log and "Collecting 2" in log and log.index("created") < log.index("Collecting 0")
    assert settings.engine_python() == venv_python and widget.python_widget.filePath() == venv_python
    assert widget.setup_button.isEnabled()


def test_setup_failure_is_one_clear_message(widget):
    steps = [Step("Installing PyTorch", [sys.executable, "-c",
                                         "import sys; print('ERROR: No matching distribution found for torch==9'); "
                                         "sys.exit(1)"]),
             Step("Never run", [sys.executable, "-c", "print('should not run')"])]
    finished = []
    widget.setup_runner.finished.connect(lambda ok, message: finished.append((ok, message)))
    widget.set_up(steps, "/nowhere/python")
    wait_for(lambda: finished)
    ok, message = finished[0]
    assert not ok and message.startswith("Installing PyTorch failed: No PyTorch")
    assert "should not run" not in widget.log.toPlainText()
    assert message in widget.step_label.text() and settings.engine_python() == ""


def test_setup_can_be_stopped(widget):
    finished = []
    widget.setup_runner.finished.connect(lambda ok, message: finished.append((ok, message)))
    widget.set_up([Step("Installing PyTorch", [sys.executable, "-c", "import time; time.sleep(60)"])], "/x/python")
    wait_for(lambda: widget.setup_runner.running())
    widget.cancel_setup_button.click()
    wait_for(lambda: finished, timeout=10)
    assert finished[0] == (False, "The set-up was cancelled.")


def test_the_real_plan_for_this_machine(widget):
    steps = widget.setup_runner.plan("cpu")
    assert steps[0].argv[1:3] == ["-m", "venv"] and steps[-1].argv[-2:] == ["contrastdm", "doctor"]
    assert "contrastdm" in widget.setup_runner.venv_python and "engine-venv" in widget.setup_runner.venv_python


def test_options_page_applies_the_interpreter(qgis_app):
    settings.set_engine_python("")
    factory = EngineOptionsFactory()
    assert factory.title() == "ContrastDM" and not factory.icon().isNull()
    page = factory.createWidget(None)
    try:
        page.widget.python_widget.setFilePath(SYSTEM_PYTHON)
        page.apply()
        assert settings.engine_python() == SYSTEM_PYTHON
        wait_for(lambda: not page.widget.probe.running())
    finally:
        settings.set_engine_python("")
        page.deleteLater()


def test_default_build():
    assert default_variant("linux", True) == "cu126"
    assert default_variant("windows", False) == "cpu"
    assert default_variant("darwin", False) == "default"
