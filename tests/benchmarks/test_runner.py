"""The benchmark runner on a tiny generated scene with cheap methods: run files, table, plots, resume."""

import json

import numpy as np
import pytest

from contrastdm_bench import runner
from contrastdm_bench.data import Scene
from contrastdm_bench.plots import make_plots
from contrastdm_bench.record import load_map

RUN_FIELDS = {
    "dataset", "protocol", "seed", "method", "oa", "aa", "kappa", "per_class_accuracy", "train_seconds",
    "inference_seconds", "inference_pixels_per_second", "peak_rss_mb", "device", "versions", "git_commit",
    "n_train", "n_test", "split_file", "map_file", "metrics", "method_info", "quick",
}


def tiny_scene(name="indian-pines", data_dir=None):
    """36 x 40 pixels, 16 bands, four classes in rectangular fields (two of them split in two fields)."""
    rng = np.random.default_rng(0)
    gt = np.zeros((36, 40), dtype=np.uint8)
    gt[2:16, 2:12] = 1
    gt[20:34, 2:12] = 1
    gt[2:34, 15:22] = 2  # a single field
    gt[2:14, 25:38] = 3
    gt[18:34, 25:31] = 3
    gt[18:34, 33:38] = 4
    signatures = rng.uniform(500, 3000, size=(5, 16))
    cube = signatures[gt] + rng.normal(0, 150, size=(36, 40, 16))
    return Scene(name, np.clip(cube, 0, None).astype(np.uint16), gt, ("A", "B", "C", "D"))


def _bench(out, **kw):
    options = dict(methods="svm,rf", protocols="ratio-10,fields", seeds="0,1", quick=True, device="cpu",
                   patch_size=5, threads=1, plots=False, scene_loader=tiny_scene)
    options.update(kw)
    return runner.run_benchmark(out, **options)


def test_runs_write_json_table_and_resume(tmp_path):
    out = tmp_path / "bench"
    result = _bench(out)
    assert result["metrics"]["ran"] == 8 and result["metrics"]["skipped"] == 0 and not result["metrics"]["failed"]
    files = sorted((out / "runs").glob("*.json"))
    assert len(files) == 8
    record = json.loads(files[0].read_text())
    assert RUN_FIELDS <= set(record)
    assert 0 <= record["oa"] <= 100 and set(record["per_class_accuracy"]) == {"A", "B", "C", "D"}
    assert record["device"]["type"] == "cpu" and "torch" in record["versions"] and record["inference_pixels"] == 36 * 40
    assert (out / record["split_file"]).is_file() and load_map(out / record["map_file"]).shape == (36, 40)
    assert set(record["variants"]) == {"smoothed"} and 0 <= record["variants"]["smoothed"]["oa"] <= 100

    table = (out / "results.md").read_text()
    assert "| method | ratio-10 | fields |" in table and "| svm |" in table and "| rf |" in table
    assert " ± " in table  # two seeds: mean ± std
    assert "### Edge-preserving smoothing, with and without" in table and " → " in table
    assert "Pavia University: **not run**" in table and "Salinas: **not run**" in table
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert summary["indian-pines"]["fields"]["svm"]["oa"]["n"] == 2

    # Resume: nothing is redone while the files exist; a removed run is redone alone.
    stamp = files[0].stat().st_mtime_ns
    again = _bench(out)
    assert again["metrics"]["ran"] == 0 and again["metrics"]["skipped"] == 8
    assert files[0].stat().st_mtime_ns == stamp
    files[1].unlink()
    third = _bench(out)
    assert third["metrics"]["ran"] == 1 and third["metrics"]["skipped"] == 7
    assert files[1].is_file()
    # A full run does not take quick results for its own: they are redone.
    full = _bench(out, quick=False, protocols="ratio-10", seeds="0")
    assert full["metrics"]["ran"] == 2 and full["metrics"]["skipped"] == 0


def test_runs_respect_the_stored_split_and_never_train_on_test_pixels(tmp_path, monkeypatch):
    from contrastdm_bench import methods

    seen = []
    original = methods.SVM.fit

    def spy(self, task):
        seen.append(task.train.copy())
        return original(self, task)

    monkeypatch.setattr(methods.SVM, "fit", spy)
    out = tmp_path / "bench"
    _bench(out, methods="svm", protocols="blocks", seeds="0")
    with np.load(out / "splits" / "indian-pines_blocks_p5_seed0.npz") as split:
        assert np.array_equal(seen[0], split["train"])
        assert np.intersect1d(seen[0], split["test"]).size == 0


def test_a_run_draws_plots_and_removes_stale_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "load_scene", tiny_scene)
    stale = tmp_path / "b" / "plots" / "indian-pines__shot-10__contrastdm__seed0_tsne.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a picture of features from a run that no longer exists")
    result = runner.run_benchmark(tmp_path / "b", quick=True, methods="rf,mlp1d", protocols="shot-10", seeds="0",
                                  device="cpu", patch_size=5, threads=1)
    assert set(result["outputs"]) >= {"table", "runs", "splits", "plots"}
    plots = sorted(p.name for p in (tmp_path / "b" / "plots").glob("*.png"))
    assert plots == ["indian-pines_shot-10_maps_seed0.png", "indian-pines_shot-10_oa.png"]  # the stale t-SNE is gone
    index = json.loads((tmp_path / "b" / "plots" / "index.json").read_text())
    assert sorted(index) == ["plots/" + name for name in plots]
    assert result["metrics"]["summary"]["indian-pines"]["shot-10"]["rf"] > 50


def test_unknown_names_are_input_errors(tmp_path):
    from contrastdm.errors import InputError

    with pytest.raises(InputError, match="method"):
        _bench(tmp_path, methods="svm,nope")
    with pytest.raises(InputError, match="protocol"):
        _bench(tmp_path, protocols="ratio-7")

def _two_seeds(out):
    runner.run_benchmark(out, methods="svm,rf", protocols="shot-10", seeds="0,1", quick=True, device="cpu",
                         patch_size=5, threads=1, plots=False, scene_loader=tiny_scene)


def test_map_panels_use_the_seed_with_the_most_maps_on_disk(tmp_path):
    out = tmp_path / "bench"
    _two_seeds(out)
    (out / "maps" / "indian-pines__shot-10__svm__seed0.npz").unlink()
    names = sorted(p.name for p in make_plots(out))
    assert names == ["indian-pines_shot-10_maps_seed1.png", "indian-pines_shot-10_oa.png"]


def test_maps_are_compressed_and_a_record_naming_an_old_npy_map_still_plots(tmp_path):
    out = tmp_path / "bench"
    _two_seeds(out)
    record_path = out / "runs" / "indian-pines__shot-10__svm__seed0.json"
    record = json.loads(record_path.read_text())
    assert record["map_file"].endswith(".npz") and (out / record["map_file"]).stat().st_size < 4000
    labels = load_map(out / record["map_file"])
    assert labels.dtype == np.uint8 and labels.shape == (36, 40) and labels.min() >= 1
    (out / record["map_file"]).unlink()
    np.save(out / "maps" / "indian-pines__shot-10__svm__seed0.npy", labels)  # a map as older runs wrote it
    record["map_file"] = "maps/indian-pines__shot-10__svm__seed0.npy"
    record_path.write_text(json.dumps(record))
    assert np.array_equal(load_map(out / record["map_file"]), labels)
    assert "indian-pines_shot-10_maps_seed0.png" in [p.name for p in make_plots(out)]


def test_runs_without_maps_still_get_their_bars(tmp_path):
    out = tmp_path / "bench"
    _two_seeds(out)
    for path in (out / "maps").glob("*__seed*.npz"):
        path.unlink()
    assert [p.name for p in make_plots(out)] == ["indian-pines_shot-10_oa.png"]


def test_engine_methods_score_their_map_before_smoothing_too(tmp_path):
    out = tmp_path / "bench"
    _bench(out, methods="cnn", protocols="shot-10", seeds="0")
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert set(record["variants"]) == {"unsmoothed"}
    assert record["method_info"]["config"]["smoothing_radius"] > 0
    assert "| cnn | " in (out / "results.md").read_text().split("### Edge-preserving smoothing")[1]


def test_refinement_is_scored_with_and_without_on_the_same_network(tmp_path):
    out = tmp_path / "bench"
    _bench(out, methods="cdm-refine", protocols="shot-10", seeds="0")
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert set(record["variants"]) == {"unsmoothed", "unrefined"}
    if record["method_info"]["validation"]["refine"]["strength"] == 0:  # refinement dropped: the same map
        assert record["variants"]["unrefined"]["oa"] == record["oa"]
    ablation = (out / "results.md").read_text().split("### Ablation")[1]
    row = next(line for line in ablation.splitlines() if "| cdm-refine:unrefined → cdm-refine | " in line)
    assert ("no change" if record["variants"]["unrefined"]["oa"] == record["oa"] else "too few seeds") in row


def test_the_spectral_ensemble_is_scored_with_and_without_its_spectral_member(tmp_path):
    out = tmp_path / "bench"
    _bench(out, methods="cdm-spectral,contrastdm", protocols="shot-10", seeds="0")
    fused = json.loads((out / "runs" / "indian-pines__shot-10__cdm-spectral__seed0.json").read_text())
    alone = json.loads((out / "runs" / "indian-pines__shot-10__contrastdm__seed0.json").read_text())
    assert set(fused["variants"]) >= {"unsmoothed", "unfused", "member"} and len(fused["variants"]) == 4  # 0.5 or 0.75
    assert fused["method_info"]["spectral_gate"]["requested"] == fused["method_info"]["spectral_gate"]["member"] == "on"
    from contrastdm.scene_scale import member_weight

    assert fused["method_info"]["config"]["spectral_weight"] == member_weight(fused["method_info"]["smoothing_scale"], 0.5)
    # Without its spectral member the ensemble is the default ContrastDM, trained identically (scattered
    # training pixels: the default leaves its own member out).
    assert alone["method_info"]["spectral_gate"]["member"] == "off" and not {"unfused", "member"} & set(alone["variants"])
    assert fused["variants"]["unfused"]["oa"] == alone["oa"]
    assert {**fused["method_info"]["config"], "spectral_member": "off"} == alone["method_info"]["config"]
    ablation = (out / "results.md").read_text().split("### Ablation")[1]
    assert "| cdm-spectral:unfused → cdm-spectral | " in ablation


def test_the_default_adds_its_spectral_member_only_where_the_training_pixels_form_areas(tmp_path):
    from contrastdm_bench.methods import stale_reason

    out = tmp_path / "bench"
    _bench(out, methods="contrastdm,cdm-spectral", protocols="shot-10,fields", seeds="0")

    def record(protocol, method):
        return json.loads((out / "runs" / f"indian-pines__{protocol}__{method}__seed0.json").read_text())

    points, areas = record("shot-10", "contrastdm"), record("fields", "contrastdm")
    assert points["method_info"]["spectral_gate"]["member"] == points["method_info"]["config"]["spectral_member"] == "off"
    assert areas["method_info"]["spectral_gate"]["member"] == areas["method_info"]["config"]["spectral_member"] == "on"
    assert "unfused" in areas["variants"] and areas["method_info"]["spectral_gate"]["fit"]["epochs"] > 0
    # On areas the default is the always-on ensemble, to the pixel.
    always = record("fields", "cdm-spectral")
    assert areas["oa"] == always["oa"] and areas["variants"]["unfused"]["oa"] == always["variants"]["unfused"]["oa"]
    assert np.array_equal(load_map(out / areas["map_file"]), load_map(out / always["map_file"]))
    ablation = (out / "results.md").read_text().split("### Ablation")[1]
    row = next(line for line in ablation.splitlines() if "| contrastdm:unfused → contrastdm |" in line)
    fields_cell = row.split("|")[-2]  # the tiny scene's protocols in table order: shot-10, fields
    assert f"{areas['oa'] - areas['variants']['unfused']['oa']:+.2f}" in fields_cell
    # Without a member, the default's map is its own map without one: the ladder's other steps compare with it.
    from contrastdm_bench.table import summarise

    entry = summarise([points])["indian-pines"]["shot-10"]["contrastdm"]
    assert entry["variants"]["unfused"]["oa_by_seed"] == {"0": points["oa"]}

    # A run recorded before the member existed stands where the gate stays shut, and is redone where it opens.
    for old in (points, areas):
        old["method_info"]["config"].pop("spectral_member")
        old["method_info"].pop("spectral_gate")
    assert stale_reason(points, out) is None
    assert "spectral_member 'off' -> 'on'" in stale_reason(areas, out)
    assert stale_reason(areas) is not None  # without the split file the decision cannot be checked


def test_a_run_made_with_another_configuration_is_flagged_and_redone(tmp_path):
    """After the default preset moves, old run files must not pass for the current method."""
    out = tmp_path / "bench"
    _bench(out, methods="cnn,svm", protocols="shot-10", seeds="0")
    path = out / "runs" / "indian-pines__shot-10__cnn__seed0.json"
    record = json.loads(path.read_text())
    record["method_info"]["config"]["refine_strength"] = 0.0  # chosen by fit(): not a change of method
    path.write_text(json.dumps(record))
    assert _bench(out, methods="cnn", protocols="shot-10", seeds="0")["metrics"]["ran"] == 0

    record["method_info"]["config"]["finetune_epochs"] += 7  # as if made under an older default
    record["oa"] = 12.5
    path.write_text(json.dumps(record))
    from contrastdm_bench.table import write_table

    write_table(out)
    text = (out / "results.md").read_text()
    assert "1 run file(s) were made with another configuration" in text and "finetune_epochs" in text
    assert json.loads((out / "summary.json").read_text())["stale_runs"][0]["run"] == record["run_id"]

    again = _bench(out, methods="cnn,svm", protocols="shot-10", seeds="0")
    assert again["metrics"]["ran"] == 1 and again["metrics"]["skipped"] == 1  # svm is not redone
    redone = json.loads(path.read_text())
    assert redone["oa"] != 12.5
    assert "another configuration" not in (out / "results.md").read_text()


def test_the_harness_command_line_refuses_an_unknown_method_in_one_line(tmp_path, capsys):
    from contrastdm_bench.__main__ import main

    assert main(["--output-dir", str(tmp_path / "b"), "--methods", "svm,nope", "--no-plots"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["contrastdm_bench: error: unknown method(s): nope; use " + ", ".join(runner.METHODS)]
    assert not (tmp_path / "b" / "runs").exists()


def test_a_record_names_the_cpu_and_the_kernels_torch_dispatches_to():
    import torch

    from contrastdm_bench.record import device_info

    info = device_info(torch.device("cpu"))
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and info["cpu_capability"]
    assert info["cpu_model"] is None or isinstance(info["cpu_model"], str)


def test_processes_sharing_an_output_folder_write_through_their_own_temporary_files(tmp_path):
    import os

    from contrastdm_bench.record import private_tmp, save_map

    path = tmp_path / "scene__ground_truth.npz"
    assert str(os.getpid()) in private_tmp(path, ".npz").name and private_tmp(path).parent == tmp_path
    other = private_tmp(path, ".npz").with_name(path.name + ".1.tmp.npz")
    other.write_bytes(b"another process's half-written map")  # the name a process with pid 1 would use
    save_map(path, np.zeros((2, 2), dtype=np.uint8))
    assert path.exists() and other.exists()  # neither took the other's file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other.name])
