"""engine_runner: finding the engine interpreter (setting, source checkout, search, or a clear error), and,
without the engine, JSON lines -> feedback, errors, crashes and cancelling a child.

The child processes here are small ``python -c`` scripts that speak the protocol of docs/cli.md; the
end-to-end tests run the real engine.
"""

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from plugin_helpers import RecordingFeedback, cancel_after_first_progress, engine_pid, pid_alive
from qgis.core import QgsProcessingException

from contrastdm_qgis import engine_protocol, engine_runner, paths, settings
from contrastdm_qgis.engine_protocol import EngineEventHandler, ProgressMapper
from contrastdm_qgis.engine_runner import child_environment, find_interpreter, run_process

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


def line(**event):
    return json.dumps(event)


def test_progress_mapper_weights_stages_and_never_goes_back():
    mapper = ProgressMapper("train")
    total = sum(engine_protocol.STAGE_WEIGHTS["train"].values())
    assert mapper.update("read", 0.0) == 0.0
    before_contrastive = 100 * (3 + 4 + 3) / total  # read, preprocess and the patch choice (skipped: over)
    assert mapper.update("contrastive", 0.0) == pytest.approx(before_contrastive)
    half = 100 * engine_protocol.STAGE_WEIGHTS["train"]["contrastive"] / 2 / total
    assert mapper.update("contrastive", 0.5) == pytest.approx(before_contrastive + half)
    assert mapper.update("read", 1.0) == pytest.approx(before_contrastive + half)  # no going back
    assert mapper.update("unknown-stage", 0.9) == pytest.approx(before_contrastive + half)
    assert mapper.update("evaluate", 1.0) == pytest.approx(100.0)
    classify = ProgressMapper("classify")
    assert classify.update("classify", 0.5) == pytest.approx(100 * (5 + 5 + 2 + 44) / 100)


def test_progress_mapper_takes_training_stages_in_either_order():
    weights = engine_protocol.STAGE_WEIGHTS["train"]
    total = sum(weights.values())
    late = ProgressMapper("train")  # diffusion fitted on the fine-tuned features
    seen = [late.update(stage, f) for stage in ("read", "preprocess", "contrastive", "finetune", "diffusion",
                                                "spectral") for f in (0.0, 0.5, 1.0)]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(100 * (total - weights["save"] - weights["evaluate"]) / total)
    # finetune half done: read, preprocess and contrastive over; diffusion still to come
    over = 3 + 4 + weights["patch"]  # read, preprocess and the patch choice (skipped)
    assert seen[10] == pytest.approx(100 * (over + weights["contrastive"] + weights["finetune"] / 2) / total)
    supervised = ProgressMapper("train")  # contrastive and diffusion skipped: counted once training is over
    assert supervised.update("finetune", 1.0) == pytest.approx(100 * (over + weights["finetune"]) / total)
    assert supervised.update("save", 0.0) == pytest.approx(100 * (total - weights["save"] - weights["evaluate"]) / total)


def test_handler_maps_lines_to_feedback():
    feedback = RecordingFeedback()
    handler = EngineEventHandler("run", feedback)
    for text in [
        line(type="message", level="info", text="device: CPU"),
        line(type="progress", stage="read", fraction=0.0, message="reading", eta=None),
        line(type="progress", stage="contrastive", fraction=0.5, message="epoch 1/2", eta=31.5),
        line(type="message", level="warning", text="class Oats has 3 pixels"),
        "not json at all",
        "",
        line(type="result", command="run", outputs={"map": "m.tif"}, metrics={"overall_accuracy": 0.9}),
    ]:
        handler.handle_line(text + "\n")
    assert feedback.kinds("info") == ["device: CPU"]
    assert feedback.kinds("warning") == ["class Oats has 3 pixels"]
    assert feedback.kinds("console") == ["not json at all"]
    assert feedback.kinds("text") == ["Reading the data: reading",
                                      "Contrastive pre-training: epoch 1/2, about 32 s left"]
    # read 0% -> 0 (no change, no signal); contrastive half done -> (read 3 + preprocess 4 + patch 3 + 26 / 2) %
    assert feedback.kinds("progress") == [pytest.approx(23.0)]
    assert handler.result["outputs"] == {"map": "m.tif"}
    assert handler.error is None and handler.progress_events == 2


def test_handler_keeps_the_first_line_of_an_error():
    feedback = RecordingFeedback()
    handler = EngineEventHandler("train", feedback)
    handler.handle_line(line(type="error", kind="InputError", message="class field 'x' not found\nmore"))
    assert handler.error_message() == "class field 'x' not found"
    assert feedback.kinds("error") == []  # reported once, by the exception


def script(body: str) -> list[str]:
    # -u: the real engine runs unbuffered too (engine_runner sets PYTHONUNBUFFERED), so lines arrive as printed.
    return [sys.executable, "-u", "-c", textwrap.dedent(body)]


def test_run_process_returns_the_result_event():
    feedback = RecordingFeedback()
    argv = script("""
        import json
        print(json.dumps({"type": "progress", "stage": "classify", "fraction": 0.5, "message": "tile 1 of 2"}))
        print(json.dumps({"type": "result", "command": "classify", "outputs": {"map": "x.tif"}, "metrics": {}}))
    """)
    result = run_process(argv, None, feedback, EngineEventHandler("classify", feedback))
    assert result["outputs"] == {"map": "x.tif"}
    assert feedback.kinds("progress")[-1] == 100.0


def test_engine_error_becomes_a_processing_exception_with_its_message():
    feedback = RecordingFeedback()
    argv = script("""
        import json, sys
        print(json.dumps({"type": "error", "kind": "InputError", "message": "the raster has 3 bands, the model 8"}))
        sys.stderr.write("contrastdm: error: the raster has 3 bands, the model 8\\n")
        sys.exit(1)
    """)
    with pytest.raises(QgsProcessingException, match=r"^the raster has 3 bands, the model 8$"):
        run_process(argv, None, feedback, EngineEventHandler("classify", feedback))


def test_crash_without_error_line_shows_the_last_stderr_lines(tmp_path):
    feedback = RecordingFeedback()
    output = tmp_path / "map.tif"
    argv = script(f"""
        import sys
        open({str(output)!r}, "w").write("partial")
        for i in range(30):
            sys.stderr.write(f"noise {{i}}\\n")
        sys.stderr.write("Segmentation fault in libfoo\\n")
        sys.exit(139)
    """)
    with pytest.raises(QgsProcessingException) as info:
        run_process(argv, None, feedback, EngineEventHandler("classify", feedback), outputs=[str(output)])
    message = str(info.value)
    assert "stopped unexpectedly (exit code 139)" in message
    assert "Segmentation fault in libfoo" in message and "noise 29" in message and "noise 5" not in message
    assert not output.exists()  # a crash leaves no partial output behind


def test_success_without_result_is_an_error():
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException, match="without reporting a result"):
        run_process(script("print('hello')"), None, feedback, EngineEventHandler("train", feedback))


def test_missing_interpreter_is_reported():
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException, match="Could not start the ContrastDM engine"):
        run_process(["/nonexistent/python", "-m", "contrastdm"], None, feedback,
                    EngineEventHandler("train", feedback))


SLOW_CHILD = """
    import json, signal, sys, time
    {handler}
    open({output!r}, "w").write("partial")
    print(json.dumps({{"type": "progress", "stage": "contrastive", "fraction": 0.1, "message": "epoch 1/9"}}))
    for i in range(600):
        time.sleep(0.1)
"""


def test_cancel_sends_sigterm_and_the_child_ends(tmp_path):
    feedback = RecordingFeedback()
    cancel_after_first_progress(feedback)
    output = tmp_path / "model.safetensors"
    # Like the engine: on SIGTERM remove the partial output and exit with 130.
    handler = ("import os\n"
               f"signal.signal(signal.SIGTERM, lambda *a: (os.remove({str(output)!r}), sys.exit(130)))")
    argv = script(textwrap.dedent(SLOW_CHILD).format(handler=handler, output=str(output)))
    with pytest.raises(QgsProcessingException, match="^Cancelled by the user"):
        run_process(argv, None, feedback, EngineEventHandler("train", feedback), outputs=[str(output)],
                    grace_s=60.0)
    assert not any("killing it" in text for text in feedback.kinds("warning"))  # SIGTERM sufficed
    assert not pid_alive(engine_pid(feedback))
    assert not output.exists()  # removed by the child's own handler: the runner removes outputs only after a kill


def test_cancel_kills_a_child_that_ignores_sigterm(tmp_path):
    feedback = RecordingFeedback()
    cancel_after_first_progress(feedback)
    output = tmp_path / "model.safetensors"
    kept = tmp_path / "map.tif"
    kept.write_text("from an earlier run")
    argv = script(textwrap.dedent(SLOW_CHILD).format(handler="signal.signal(signal.SIGTERM, signal.SIG_IGN)", output=str(output)))
    with pytest.raises(QgsProcessingException, match="^Cancelled by the user"):
        run_process(argv, None, feedback, EngineEventHandler("train", feedback),
                    outputs=[str(output), str(kept)], grace_s=0.5)
    assert not pid_alive(engine_pid(feedback))
    assert any("killing it" in text for text in feedback.kinds("warning"))
    assert not output.exists()  # created by the killed child: removed
    assert kept.read_text() == "from an earlier run"  # existed before: untouched


def test_an_unknown_option_points_at_a_version_mismatch():
    feedback = RecordingFeedback()
    argv = script("""
        import sys
        sys.stderr.write("usage: contrastdm classify [-h] ...\\ncontrastdm classify: error: unrecognized arguments: --tile 3\\n")
        sys.exit(2)
    """)
    with pytest.raises(QgsProcessingException, match="versions probably differ(.|\\n)*unrecognized arguments"):
        run_process(argv, None, feedback, EngineEventHandler("classify", feedback))
