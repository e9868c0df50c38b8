from contrastdm_bench.table import check_targets, render, summarise


def _run(method, protocol, seed, oa):
    return {"dataset": "indian-pines", "protocol": protocol, "method": method, "seed": seed, "oa": oa, "aa": oa,
            "kappa": oa / 100, "per_class_accuracy": {"A": oa}}


def test_targets_compare_with_each_baseline_on_the_seeds_both_ran():
    # ContrastDM ran seeds 0-2; ssftt only seed 0, where it was ahead. Over all seeds ContrastDM's mean (80) beats
    # ssftt's (79), but on the seed both ran it trails: the blocks target ("above every baseline") is not met.
    runs = [_run("contrastdm", "blocks", s, oa) for s, oa in ((0, 70.0), (1, 85.0), (2, 85.0))]
    runs += [_run("ssftt", "blocks", 0, 79.0)]
    runs += [_run("svm", "blocks", s, 60.0) for s in (0, 1, 2)]
    target = {t["protocol"]: t for t in check_targets(summarise(runs)["indian-pines"])}["blocks"]
    assert target["status"] == "not met"
    assert target["best_baseline"] == "ssftt" and target["paired_seeds"] == ["0"] and target["wins"] == 0
    assert target["margin"] == -9.0
    assert target["versus"]["svm"]["wins"] == 3 and target["versus"]["svm"]["margin"] == 20.0


def test_a_target_is_met_only_when_every_baseline_is_beaten():
    runs = [_run("contrastdm", "blocks", s, 75.0 + s) for s in range(3)]
    runs += [_run("svm", "blocks", s, 70.0) for s in range(3)] + [_run("ssftt", "blocks", s, 74.0 + s) for s in range(3)]
    target = {t["protocol"]: t for t in check_targets(summarise(runs)["indian-pines"])}["blocks"]
    assert target["status"] == "met" and target["best_baseline"] == "ssftt" and target["wins"] == 3
    assert target["margin"] == 1.0


def test_a_cell_of_fewer_seeds_says_how_many():
    runs = [_run("contrastdm", "shot-10", s, 80.0) for s in range(3)] + [_run("svm", "shot-10", 0, 50.0)]
    text = render(runs, summarise(runs))
    assert "| svm | 50.00 [n=1] |" in text
    assert "| contrastdm | **80.00 ± 0.00** |" in text


def test_a_baseline_map_after_the_smoothing_step_is_a_rival_too():
    # svm's raw maps trail ContrastDM, but its smoothed maps lead on 2 of 3 seeds: the target is not met.
    runs = [_run("contrastdm", "blocks", s, 75.0) for s in range(3)]
    runs += [{**_run("svm", "blocks", s, 70.0), "variants": {"smoothed": {"oa": oa}}}
             for s, oa in ((0, 74.0), (1, 76.0), (2, 78.0))]
    target = {t["protocol"]: t for t in check_targets(summarise(runs)["indian-pines"])}["blocks"]
    assert target["best_baseline"] == "svm" and target["margin"] == 5.0 and target["wins"] == 3
    assert target["closest_rival"] == "svm+smoothing" and target["closest_rival_margin"] == -1.0
    assert target["closest_rival_wins"] == 1 and target["status"] == "not met"
    assert "| svm (70.00) | +5.00 | 3/3 | svm+smoothing (76.00) | -1.00 | 1/3 | not met |" in render(
        runs, summarise(runs))


def test_an_ablation_step_helps_only_beyond_two_standard_errors():
    from contrastdm_bench.table import ablation_steps

    # Pre-training: +1, +2, +3 (mean 2, SE 0.58): helps. Synthetic features: +1, -1, +0.5 (mean 0.17, SE 0.6):
    # no clear effect.
    runs = [_run("cnn", "shot-10", s, 80.0) for s in range(3)]
    runs += [_run("cdm-nosynth", "shot-10", s, 81.0 + s) for s in range(3)]
    runs += [_run("contrastdm", "shot-10", s, oa) for s, oa in ((0, 82.0), (1, 81.0), (2, 83.5))]
    steps = {s["without"] + ">" + s["with"]: s["effects"] for s in ablation_steps(summarise(runs)["indian-pines"])}
    pre = steps["cnn>cdm-nosynth"]["shot-10"]
    assert pre["mean_diff"] == 2.0 and pre["ahead"] == 3 and pre["verdict"] == "helps"
    synth = steps["cdm-nosynth>contrastdm:unfused"]["shot-10"]  # no spectral member: the default's own map
    assert abs(synth["mean_diff"] - 1 / 6) < 1e-9 and synth["ahead"] == 2 and synth["verdict"] == "no clear effect"
    gated = steps["contrastdm:unfused>contrastdm"]["shot-10"]  # the gate stayed shut: the same maps
    assert gated["mean_diff"] == 0 and gated["verdict"] == "no change"
    assert steps["cdm-refine:unrefined>cdm-refine"] == {}  # not run: no row
    text = render(runs, summarise(runs))
    assert "| contrastive pre-training | cnn → cdm-nosynth | +2.00 ± 0.58 (3/3, helps) |" in text
    assert "cdm-refine:unrefined" not in text
