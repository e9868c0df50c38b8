"""The label-free preprocessing kept in the scene cache: training twice, `contrastdm prepare`, --no-cache,
--cache-dir and `contrastdm cache`, on real files (tiny generated scenes, tiny learner settings)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from safetensors import safe_open
from scenes import training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import read_metadata
from contrastdm.cache import SceneCache
from contrastdm.errors import InputError
from contrastdm.feedback import RecordingFeedback
from contrastdm.prepare import open_cache, prepare

ROOT = Path(__file__).resolve().parents[2]
LEARNER = dict(preset="fast", pca_components=6, contrastive_epochs=0, diffusion_steps=5, finetune_epochs=2,
               synthetic=False, spectral_member="off", patch_size=5, seed=0, device="cpu")
LEARNER_CLI = ["--preset", "fast", "--pca-components", "6", "--contrastive-epochs", "0", "--diffusion-steps", "5",
               "--finetune-epochs", "2", "--no-synthetic", "--spectral-member", "off", "--patch-size", "5",
               "--seed", "0", "--device", "cpu"]
LATER_STAGES = {"pretrain": "off", "warm": "off"}  # no label-free pre-training or warm start with these settings
HIT_MESSAGE = "preprocessing (band selection and reduction) taken from the scene cache"


def cli(*args, env=None, timeout=600):
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "contrastdm", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def entries(folder):
    return sorted(p.name for p in Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []


def tensors(path):
    with safe_open(str(path), framework="numpy") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def messages(feedback, level="info"):
    return [e[2] for e in feedback.events if e[0] == "message" and e[1] == level]


def without_run_facts(metadata):
    """The model's metadata less what differs between any two runs (times) or says how the run went (cache)."""
    metadata = json.loads(json.dumps(metadata))
    for key in ("seconds", "stage_seconds", "cache"):
        metadata["training"].pop(key)
    return metadata


@pytest.fixture
def scene(tmp_path):
    s = write_scene(tmp_path / "scene.tif")
    s.training = write_polygons(tmp_path / "training.gpkg", s, training_boxes(s))
    return s


def run_once(scene, folder, cache):
    folder.mkdir()
    feedback = RecordingFeedback()
    result = contrastdm.run(scene.raster, scene.training, "class_name", folder / "model.safetensors",
                            folder / "map.tif", confidence=folder / "confidence.tif", cache=cache, feedback=feedback,
                            **LEARNER)
    return result, feedback


def test_second_run_takes_the_preprocessing_from_the_cache_and_gives_the_same_model_and_map(scene, tmp_path):
    cache = tmp_path / "cache"
    first, first_feedback = run_once(scene, tmp_path / "first", cache)
    assert first.training.model.metadata["training"]["cache"] == {"preprocess": "miss", **LATER_STAGES}
    assert [name.split("-")[0] for name in entries(cache)] == ["preprocess"]
    second, second_feedback = run_once(scene, tmp_path / "second", cache)
    assert second.training.model.metadata["training"]["cache"] == {"preprocess": "hit", **LATER_STAGES}
    plain, plain_feedback = run_once(scene, tmp_path / "plain", None)
    assert plain.training.model.metadata["training"]["cache"] == {"preprocess": "off", **LATER_STAGES}
    assert len(entries(cache)) == 1

    # The hit says so once; every other message is what the computed stage says.
    hit_lines = [m for m in messages(second_feedback) if m.startswith(HIT_MESSAGE)]
    assert len(hit_lines) == 1 and hit_lines[0].endswith(entries(cache)[0])
    assert [m for m in messages(second_feedback) if not m.startswith(HIT_MESSAGE)] == messages(first_feedback)
    assert not any(m.startswith(HIT_MESSAGE) for m in messages(first_feedback) + messages(plain_feedback))
    assert messages(first_feedback) == messages(plain_feedback)
    summary = [m for m in messages(second_feedback) if m.startswith("PCA: 6 components of 12 bands")]
    assert len(summary) == 1
    assert "preprocess" in second_feedback.stages  # the stage still reports, done at once
    assert "sampling the scene" not in [e[3] for e in second_feedback.events if e[0] == "progress"]
    assert "sampling the scene" in [e[3] for e in first_feedback.events if e[0] == "progress"]

    # Model files: every tensor identical, bit for bit; metadata identical but for the run's time and cache.
    reference = tensors(tmp_path / "first" / "model.safetensors")
    for other in ("second", "plain"):
        got = tensors(tmp_path / other / "model.safetensors")
        assert sorted(got) == sorted(reference)
        for name, array in reference.items():
            assert got[name].dtype == array.dtype and got[name].tobytes() == array.tobytes(), (other, name)
        assert without_run_facts(read_metadata(tmp_path / other / "model.safetensors")) == \
            without_run_facts(read_metadata(tmp_path / "first" / "model.safetensors"))
        # Maps: the same bytes.
        for name in ("map.tif", "confidence.tif"):
            assert (tmp_path / other / name).read_bytes() == (tmp_path / "first" / name).read_bytes(), (other, name)


def test_a_changed_pixel_or_setting_is_a_miss_and_equal_band_lists_are_a_hit(scene, tmp_path):
    cache = tmp_path / "cache"
    assert prepare(scene.raster, pca_components=6, cache=cache).status == "miss"
    assert prepare(scene.raster, pca_components=6, cache=cache).status == "hit"
    assert len(entries(cache)) == 1
    assert prepare(scene.raster, pca_components=5, cache=cache).status == "miss"
    assert prepare(scene.raster, pca_components=6, reduction="mnf", cache=cache).status == "miss"
    assert prepare(scene.raster, pca_components=6, seed=1, cache=cache).status == "miss"
    assert prepare(scene.raster, pca_components=6, bands="1-10", cache=cache).status == "miss"
    assert prepare(scene.raster, pca_components=6, bands="1,2,3,4,5,6,7,8,9,10", cache=cache).status == "hit"
    assert len(entries(cache)) == 5

    # A copy of the raster elsewhere is the same scene; one pixel changed is another.
    copy = tmp_path / "elsewhere" / "copy.tif"
    copy.parent.mkdir()
    copy.write_bytes(scene.raster.read_bytes())
    assert prepare(copy, pca_components=6, cache=cache).status == "hit"
    with rasterio.open(copy, "r+") as ds:
        band = ds.read(3)
        band[7, 11] += 1
        ds.write(band, 3)
    changed = prepare(copy, pca_components=6, cache=cache)
    assert changed.status == "miss" and len(entries(cache)) == 6
    assert prepare(copy, pca_components=6, cache=cache).status == "hit"


def test_a_hit_restores_the_selection_and_the_reduction_exactly(tmp_path):
    # Bands dropped for several reasons, in an order the model file keeps: "reasons" is not sorted as text.
    s = write_scene(tmp_path / "scene.tif", bands=14)
    with rasterio.open(s.raster, "r+") as ds:
        ds.write(np.full((40, 48), 77, dtype="uint16"), 12)  # a constant band
    cache = SceneCache(tmp_path / "cache")
    fitted = {}
    for status in ("miss", "hit"):
        feedback = RecordingFeedback()
        with rasterio.open(s.raster) as ds:
            from contrastdm.io.raster import describe
            from contrastdm.train import _fit_scene

            info = describe(ds)
            pre, selection, kept, use = _fit_scene(ds, info, 4, "mnf", None, "2,10", 0, feedback, cache=cache)
        assert use.status == status
        fitted[status] = (pre, selection, kept, messages(feedback))
    (pre, selection, kept, said), (pre2, selection2, kept2, said2) = fitted["miss"], fitted["hit"]
    assert list(selection.reasons) == [1, 9, 11] and list(selection2.reasons) == [1, 9, 11]
    assert selection2.reasons == selection.reasons and selection2.to_dict() == selection.to_dict()
    assert json.dumps(selection2.to_dict()) == json.dumps(selection.to_dict())
    np.testing.assert_array_equal(selection2.keep, selection.keep)
    for name in ("mean", "scale", "components", "explained_variance", "output_scale"):
        a, b = getattr(pre, name), getattr(pre2, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert kept2.band_indices == kept.band_indices
    assert said2[0].startswith(HIT_MESSAGE) and said2[1:] == said


def test_an_unwritable_cache_folder_gives_a_warning_and_a_normal_run(scene, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    feedback = RecordingFeedback()
    result = contrastdm.train(scene.raster, scene.training, "class_name", tmp_path / "model.safetensors",
                              cache=blocker / "cache", feedback=feedback, **LEARNER)
    assert (tmp_path / "model.safetensors").is_file()
    assert result.model.metadata["training"]["cache"] == {"preprocess": "miss", **LATER_STAGES}
    warnings = messages(feedback, "warning")
    assert len(warnings) == 1 and warnings[0].startswith(f"scene cache: cannot write in {blocker / 'cache'}")
    assert blocker.read_text() == "not a folder"


def test_a_damaged_entry_is_computed_again_and_replaced(scene, tmp_path):
    cache = tmp_path / "cache"
    first = prepare(scene.raster, pca_components=6, cache=cache)
    data = bytearray(Path(first.entry).read_bytes())
    data[-8:] = b"\xff" * 8  # the arrays' last bytes: their checksum no longer matches
    Path(first.entry).write_bytes(bytes(data))
    feedback = RecordingFeedback()
    again = prepare(scene.raster, pca_components=6, cache=cache, feedback=feedback)
    assert again.status == "miss" and again.entry == first.entry
    assert any("ignored a damaged 'preprocess' entry" in w for w in messages(feedback, "warning"))
    assert prepare(scene.raster, pca_components=6, cache=cache).status == "hit"


def test_cache_arguments_of_the_python_api(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRASTDM_CACHE_DIR", str(tmp_path / "root"))
    assert open_cache("default").directory == tmp_path / "root" / "scenes"
    assert open_cache(tmp_path / "mine").directory == tmp_path / "mine"
    assert open_cache(str(tmp_path / "mine")).directory == tmp_path / "mine"
    own = SceneCache(tmp_path / "own")
    assert open_cache(own) is own
    assert open_cache(None) is None and open_cache(False) is None
    for bad in ("", 3, ["x"]):
        with pytest.raises(InputError, match="cache: use 'default', None"):
            open_cache(bad)
    with pytest.raises(InputError, match="prepare fills the scene cache"):
        prepare(tmp_path / "x.tif", cache=None)


# ------------------------------------------------------------------------------------------------ the CLI

def test_prepare_then_train_hits_and_cache_lists_and_clears(scene, tmp_path):
    root = tmp_path / "root"  # the default folder: $CONTRASTDM_CACHE_DIR/scenes
    env = {"CONTRASTDM_CACHE_DIR": str(root)}
    done = cli("prepare", "--raster", scene.raster, "--pca-components", "6", "--progress", "jsonl", env=env)
    assert done.returncode == 0, done.stderr
    result = events(done.stdout)[-1]
    assert result["type"] == "result" and result["command"] == "prepare"
    assert result["metrics"] == {"cache": "miss", "bands": 12, "kept_bands": 12, "features": 6}
    entry = Path(result["outputs"]["cache_entry"])
    assert entry.parent == root / "scenes" and entry.is_file()

    done = cli("train", "--raster", scene.raster, "--vector", scene.training, "--class-field", "class_name",
               "--model", tmp_path / "model.safetensors", "--progress", "jsonl", *LEARNER_CLI, env=env)
    assert done.returncode == 0, done.stderr
    texts = [e["text"] for e in events(done.stdout) if e["type"] == "message"]
    assert f"{HIT_MESSAGE}: {entry}" in texts
    assert read_metadata(tmp_path / "model.safetensors")["training"]["cache"] == {"preprocess": "hit", **LATER_STAGES}

    done = cli("prepare", "--raster", scene.raster, "--pca-components", "6", env=env)
    assert done.returncode == 0, done.stderr
    assert "scene cache    already held: 12 of 12 bands kept, 6 features" in done.stdout
    assert f"cache_entry    {entry}" in done.stdout

    listed = cli("cache", "--list", "--progress", "jsonl", env=env)
    assert listed.returncode == 0, listed.stderr
    listing = events(listed.stdout)[-1]
    assert [Path(e["path"]) for e in listing["entries"]] == [entry]
    assert listing["entries"][0]["stage"] == "preprocess" and listing["total_bytes"] == entry.stat().st_size
    assert listing["entries"][0]["settings"]["pca_components"] == 6
    human = cli("cache", "--list", env=env)
    assert "1 entry" in human.stdout and str(entry) in human.stdout
    cleared = cli("cache", "--clear", env=env)
    assert cleared.returncode == 0 and "removed 1 entry" in cleared.stdout
    assert entries(root / "scenes") == []


def test_cache_dir_and_no_cache_on_train(scene, tmp_path):
    root = tmp_path / "root"
    env = {"CONTRASTDM_CACHE_DIR": str(root)}
    args = ["train", "--raster", scene.raster, "--vector", scene.training, "--class-field", "class_name",
            *LEARNER_CLI]
    done = cli(*args, "--model", tmp_path / "off.safetensors", "--no-cache", env=env)
    assert done.returncode == 0, done.stderr
    assert not root.exists()  # nothing written, not even the folder
    assert read_metadata(tmp_path / "off.safetensors")["training"]["cache"] == {"preprocess": "off", **LATER_STAGES}

    mine = tmp_path / "mine"
    done = cli(*args, "--model", tmp_path / "mine.safetensors", "--cache-dir", mine, env=env)
    assert done.returncode == 0, done.stderr
    assert len(entries(mine)) == 1 and not root.exists()
    assert read_metadata(tmp_path / "mine.safetensors")["training"]["cache"] == {"preprocess": "miss", **LATER_STAGES}
    assert tensors(tmp_path / "mine.safetensors").keys() == tensors(tmp_path / "off.safetensors").keys()

    both = cli(*args, "--model", tmp_path / "x.safetensors", "--cache-dir", mine, "--no-cache", env=env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_prepare_bad_input_gets_one_line(scene, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = {
        "unwritable": (["--raster", scene.raster, "--cache-dir", blocker / "cache"],
                       f"cannot write the scene cache in {blocker / 'cache'} (is the folder writable?)"),
        "missing raster": (["--raster", tmp_path / "none.tif", "--cache-dir", tmp_path / "c"],
                           f"raster not found: {tmp_path / 'none.tif'}"),
        "bad bands": (["--raster", scene.raster, "--cache-dir", tmp_path / "c", "--bands", "1-99"], "--bands: "),
        "empty cache dir": (["--raster", scene.raster, "--cache-dir", ""], "--cache-dir: give a folder"),
    }
    for case, (args, expected) in cases.items():
        done = cli("prepare", *args)
        assert done.returncode == 1, case
        errors = [line for line in done.stderr.splitlines() if line.startswith("contrastdm: error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"contrastdm: error: {expected}"), (case, done.stderr)
        assert "Traceback" not in done.stderr
    assert entries(tmp_path / "c") == []
