"""Finding the engine interpreter: setting, source checkout, search, or a clear error."""

import os
import stat
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException

from contrastdm_qgis import engine_runner, paths, settings
from contrastdm_qgis.engine_runner import child_environment, find_interpreter

REPO = Path(__file__).resolve().parents[2]


def fake_python(path: Path, exit_code: int = 0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def checkout(root: Path, with_venv: bool = True) -> Path:
    """A source checkout layout: <root>/contrastdm_qgis, <root>/core/contrastdm, <root>/.venv/bin/python."""
    (root / "contrastdm_qgis").mkdir(parents=True)
    (root / "core" / "contrastdm").mkdir(parents=True)
    (root / "core" / "contrastdm" / "__init__.py").write_text("")
    if with_venv:
        fake_python(root / ".venv" / "bin" / "python")
    return root / "contrastdm_qgis"


@pytest.fixture
def no_setting():
    previous = settings.engine_python()
    settings.set_engine_python("")
    yield
    settings.set_engine_python(previous)


def test_the_setting_wins(tmp_path, no_setting):
    plugin_dir = checkout(tmp_path / "repo")
    chosen = fake_python(tmp_path / "env" / "bin" / "python")
    settings.set_engine_python(chosen)
    assert settings.engine_python() == chosen
    found = find_interpreter(plugin_dir)
    assert (found.python, found.origin) == (chosen, "setting")
    assert found.pythonpath == [str(tmp_path / "repo" / "core")]  # the checkout's engine still comes first


def test_a_setting_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(QgsProcessingException, match="does not exist or is not executable"):
        find_interpreter(tmp_path, configured=str(tmp_path / "missing" / "python"))


def test_the_checkout_venv_is_used_with_core_on_the_path(tmp_path):
    plugin_dir = checkout(tmp_path / "repo")
    found = find_interpreter(plugin_dir, configured="", candidates=[], probe=lambda *a: False)
    assert found.python == str(tmp_path / "repo" / ".venv" / "bin" / "python")
    assert found.origin == "checkout"
    assert found.pythonpath == [str(tmp_path / "repo" / "core")]


def test_this_checkout_is_detected():
    assert paths.plugin_dir() == REPO / "contrastdm_qgis"
    found = find_interpreter(configured="")
    assert found.python == str(REPO / ".venv" / "bin" / "python")
    assert found.pythonpath[0] == str(REPO / "core")


def test_otherwise_the_first_python_with_the_engine(tmp_path):
    plugin_dir = tmp_path / "plugins" / "contrastdm_qgis"  # installed plugin: no checkout around it
    plugin_dir.mkdir(parents=True)
    without = fake_python(tmp_path / "a" / "python3", exit_code=1)
    with_engine = fake_python(tmp_path / "b" / "python3")
    probed = []

    def probe(python, pythonpath):
        probed.append(python)
        return engine_runner.probe_python(python, pythonpath, timeout=10)

    found = find_interpreter(plugin_dir, configured="", candidates=[without, with_engine], probe=probe)
    assert (found.python, found.origin, found.pythonpath) == (with_engine, "search", [])
    assert probed == [without, with_engine]


def test_a_bundled_engine_goes_on_the_path(tmp_path):
    plugin_dir = tmp_path / "plugins" / "contrastdm_qgis"
    (plugin_dir / "engine" / "contrastdm").mkdir(parents=True)
    (plugin_dir / "engine" / "contrastdm" / "__init__.py").write_text("")
    seen = []
    python = fake_python(tmp_path / "py" / "python3")
    found = find_interpreter(plugin_dir, configured="", candidates=[python],
                             probe=lambda p, path: seen.append(path) or True)
    assert found.pythonpath == [str(plugin_dir / "engine")] and seen == [[str(plugin_dir / "engine")]]


def test_no_interpreter_says_how_to_set_one_up(tmp_path):
    plugin_dir = tmp_path / "plugins" / "contrastdm_qgis"
    plugin_dir.mkdir(parents=True)
    with pytest.raises(QgsProcessingException) as info:
        find_interpreter(plugin_dir, configured="", candidates=[fake_python(tmp_path / "python3", 1)])
    message = str(info.value)
    assert "No Python interpreter with the ContrastDM engine" in message
    assert "pip install torch contrastdm" in message and "Processing > Providers > ContrastDM" in message
    # With the engine bundled in the plugin (the zip), point at its requirements.
    (plugin_dir / "engine" / "contrastdm").mkdir(parents=True)
    (plugin_dir / "engine" / "contrastdm" / "__init__.py").write_text("")
    (plugin_dir / "engine" / "requirements.txt").write_text("torch\n")
    with pytest.raises(QgsProcessingException, match=r"pip install -r .*engine/requirements\.txt"):
        find_interpreter(plugin_dir, configured="", candidates=[fake_python(tmp_path / "python3", 1)])


def test_a_checkout_without_venv_falls_back_to_search(tmp_path):
    plugin_dir = checkout(tmp_path / "repo", with_venv=False)
    python = fake_python(tmp_path / "py" / "python3")
    found = find_interpreter(plugin_dir, configured="", candidates=[python], probe=lambda *a: True)
    assert found.origin == "search"


def test_probe_python_really_imports_the_engine():
    venv = str(REPO / ".venv" / "bin" / "python")
    assert engine_runner.probe_python(venv, [str(REPO / "core")])
    assert not engine_runner.probe_python("/nonexistent/python", [])


def test_child_environment(monkeypatch):
    monkeypatch.delenv("PROJ_DATA", raising=False)
    monkeypatch.setenv("PYTHONHOME", "/qgis/apps/Python39")
    monkeypatch.setenv("PYTHONPATH", "/qgis/python")
    env = child_environment(["/repo/core"])
    assert env["PYTHONPATH"] == "/repo/core"
    assert "PYTHONHOME" not in env
    if os.path.isdir("/usr/share/proj"):
        assert env["PROJ_DATA"] == "/usr/share/proj"
    monkeypatch.setenv("PROJ_DATA", "/elsewhere/proj")
    assert child_environment([])["PROJ_DATA"] == "/elsewhere/proj"
    assert "PYTHONPATH" not in child_environment([])


def test_setting_is_shared_with_the_processing_options(no_setting):
    from processing.core.ProcessingConfig import ProcessingConfig

    assert settings.ENGINE_PYTHON_SETTING in ProcessingConfig.settings  # shown under Providers > ContrastDM
    settings.set_engine_python("/opt/env/bin/python")
    assert ProcessingConfig.getSetting(settings.ENGINE_PYTHON_SETTING) == "/opt/env/bin/python"
    ProcessingConfig.setSettingValue(settings.ENGINE_PYTHON_SETTING, "")
    assert settings.engine_python() == ""
