"""The benchmark measures the product: its ContrastDM map is the map the command line makes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from test_runner import tiny_scene

from contrastdm_bench import runner
from contrastdm_bench.files import CLASS_FIELD, read_class_map, write_scene_files
from contrastdm_bench.methods import default_learner_config, make_method, stale_reason
from contrastdm_bench.record import load_map

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args):
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    done = subprocess.run([sys.executable, "-m", "contrastdm", *map(str, args), "--threads", "1", "--progress", "none"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_the_benchmark_map_equals_the_map_of_contrastdm_train_and_classify(tmp_path):
    out = tmp_path / "bench"
    runner.run_benchmark(out, methods="contrastdm", protocols="fields", seeds="0", quick=True, device="cpu",
                         patch_size=5, threads=1, plots=False, scene_loader=tiny_scene)
    record = json.loads((out / "runs" / "indian-pines__fields__contrastdm__seed0.json").read_text())
    assert record["method_info"]["spectral_gate"]["member"] == "on"  # every engine step is in play
    with np.load(out / record["split_file"]) as split:
        train = split["train"].astype(np.int64)

    # A user's files: the same scene and the same training pixels, written as polygons.
    scene = tiny_scene()
    user = tmp_path / "user"
    files = write_scene_files(scene, user)
    vector = files.write_training(train, scene.gt.ravel()[train], user / "training.gpkg")
    config = make_method("contrastdm").config_for(5, 0, quick=True).to_dict()
    preset = default_learner_config().to_dict()
    settings = [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in config.items() if v != preset[k]]
    assert any(s.startswith("finetune_epochs=") for s in settings)  # quick mode: shorter stages
    _cli("train", "--raster", files.raster, "--vector", vector, "--class-field", CLASS_FIELD,
         "--model", user / "model.safetensors", "--pca-components", 30, "--device", "cpu",
         *[a for s in settings for a in ("--set", s)])
    _cli("classify", "--raster", files.raster, "--model", user / "model.safetensors", "--output", user / "map.tif",
         "--device", "cpu")

    by_cli = read_class_map(user / "map.tif").reshape(scene.shape)
    by_bench = load_map(out / record["map_file"])
    assert np.array_equal(by_cli, by_bench), f"{int((by_cli != by_bench).sum())} pixel(s) differ"


def test_a_contrastdm_record_from_the_harness_own_path_is_flagged():
    record = {"method": "contrastdm", "harness_version": 1, "seed": 0, "patch_size": 11,
              "method_info": {"config": default_learner_config().to_dict()}}
    assert "not by train() and classify()" in stale_reason(record)
    assert stale_reason({**record, "method": "svm"}) is None  # the baselines never ran through the engine


def test_settings_chosen_on_held_out_polygons_do_not_make_a_record_stale():
    from contrastdm_bench.methods import ENGINE_PATH_VERSION, METHODS

    def record(method, **changes):
        config = METHODS[method]().config_for(11, 0, False).to_dict()
        config.update({"spectral_member": "on", **changes})
        return {"method": method, "harness_version": ENGINE_PATH_VERSION, "patch_size": 11, "seed": 0,
                "method_info": {"config": config, "spectral_gate": {"requested": "auto", "member": "on"}}}

    assert stale_reason(record("cdm-radius", smoothing_radius=0)) is None
    assert "spectral_weight" in stale_reason(record("cdm-radius", smoothing_radius=0, spectral_weight=0.0))
    assert stale_reason(record("cdm-choice", smoothing_radius=2, spectral_weight=0.0, spectral_member="off")) is None
    # cdm-polygons takes its radius from the scene's scale (the default), not from the held-out polygons
    assert stale_reason(record("cdm-polygons", smoothing_radius=0, spectral_weight=0.75, aug_shift=0)) is None
    assert "smoothing_from_scene" in stale_reason(record("cdm-polygons", smoothing_radius=0,
                                                         smoothing_from_scene=False))
    assert "finetune_epochs" in stale_reason(record("cdm-choice", finetune_epochs=3))


def test_a_radius_from_the_scene_scale_does_not_make_a_record_stale():
    from contrastdm_bench.methods import ENGINE_PATH_VERSION, METHODS

    config = METHODS["cdm-scale"]().config_for(11, 0, False).to_dict()
    config.update({"spectral_member": "on", "smoothing_radius": 1, "spectral_weight": 0.75, "aug_shift": 0})
    record = {"method": "cdm-scale", "harness_version": ENGINE_PATH_VERSION, "patch_size": 11, "seed": 0,
              "method_info": {"config": config, "spectral_gate": {"requested": "auto", "member": "on"}}}
    assert stale_reason(record) is None
    config["smoothing_from_scene"] = False
    assert "smoothing_from_scene" in stale_reason(record)


def test_the_member_weight_counts_only_where_the_member_is_on():
    from contrastdm_bench.methods import ENGINE_PATH_VERSION, METHODS

    def record(member, weight):
        config = {**METHODS["contrastdm"]().config_for(11, 0, False).to_dict(), "spectral_member": member,
                  "spectral_weight": weight}
        return {"method": "contrastdm", "harness_version": ENGINE_PATH_VERSION, "patch_size": 11, "seed": 0,
                "method_info": {"config": config, "spectral_gate": {"requested": "auto", "member": member}}}

    assert stale_reason(record("off", 0.2)) is None  # scattered points: no member, the weight changes nothing
    assert "spectral_weight" in stale_reason(record("on", 0.2))


def test_the_member_weight_is_checked_against_the_radius_the_scale_allowed():
    from contrastdm_bench.methods import ENGINE_PATH_VERSION, METHODS

    def record(radius, weight, shift=None):
        config = {**METHODS["contrastdm"]().config_for(11, 0, False).to_dict(), "spectral_member": "on",
                  "smoothing_radius": radius, "spectral_weight": weight,
                  "aug_shift": (0 if radius < 5 else 1) if shift is None else shift}
        for setting in ("member_from_scene", "shift_from_scene"):
            config.pop(setting)  # as in runs made before the settings: the weight and the shift are what count
        return {"method": "contrastdm", "harness_version": ENGINE_PATH_VERSION, "patch_size": 11, "seed": 0,
                "method_info": {"config": config, "spectral_gate": {"requested": "auto", "member": "on"}}}

    assert stale_reason(record(0, 0.75)) is None  # small objects: the radius came down, the member leads
    assert stale_reason(record(5, 0.5)) is None  # the full window: the configured weight
    assert "spectral_weight 0.75 -> 0.5" in stale_reason(record(5, 0.75))
    assert "spectral_weight 0.5 -> 0.75" in stale_reason(record(2, 0.5))
    # The same for the patch shift: none where the radius came down (runs made with it are stale there only)
    assert "aug_shift 1 -> 0" in stale_reason(record(0, 0.75, shift=1))
    assert "aug_shift 0 -> 1" in stale_reason(record(5, 0.5, shift=0))
