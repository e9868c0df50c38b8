"""The Markdown results table (mean ± std over seeds) and ``summary.json``, generated from the run files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .data import DATASETS, MAT_SCENES
from .methods import ABLATION_STEPS, BASELINES, METHODS, stale_reason
from .protocols import PROTOCOLS
from .record import private_tmp, write_json

DATASET_TITLES = {"indian-pines": "Indian Pines", "indian-pines-raw": "Indian Pines, raw 220 bands",
                  "urban-sim": "Generated urban scene (30 m, small objects)",
                  "fields-sim": "Generated fields scene (large and small fields)",
                  "pavia-university": "Pavia University", "salinas": "Salinas"}
# The issue's targets for ContrastDM (the default configuration) on Indian Pines.
TARGETS = {
    "ratio-10": "OA >= 99.5 and above every baseline",
    "ratio-5": "OA >= 98.5 and above every baseline",
    "shot-10": "OA >= 85 and +5 over the best baseline",
    "fields": "+5 OA over the best baseline",
    "blocks": "above every baseline",
}


def load_runs(output_dir) -> list[dict]:
    runs = []
    for path in sorted((Path(output_dir) / "runs").glob("*.json")):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # a damaged file is ignored here; the run is redone when its file is removed
    return runs


def _stats(values) -> dict:
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values)}


# Methods the ablation ladder also compares without their spectral member (``method:unfused``).
_LADDER_UNFUSED = {name.partition(":")[0] for step in ABLATION_STEPS for name in step[1:] if name.endswith(":unfused")}


def _without_member(run: dict) -> dict:
    """A run compared by the ablation ladder without its spectral member: where it had none, its map is that map
    (the ``unfused`` variant is its own scores)."""
    variants = run.get("variants") or {}
    config = (run.get("method_info") or {}).get("config") or {}
    if run.get("method") not in _LADDER_UNFUSED or "unfused" in variants or config.get("spectral_member", "off") != "off":
        return run
    own = {key: run.get(key) for key in ("oa", "aa", "kappa")}
    return {**run, "variants": {**variants, "unfused": {**own, "note": "no spectral member: the run's own map"}}}


def summarise(runs: list[dict]) -> dict:
    """{dataset: {protocol: {method: {oa, aa, kappa, train_seconds, ... : {mean, std, n}, seeds}}}}."""
    summary: dict = {}
    groups: dict = {}
    for run in map(_without_member, runs):
        groups.setdefault((run["dataset"], run["protocol"], run["method"]), []).append(run)
    for (dataset, protocol, method), members in groups.items():
        members.sort(key=lambda r: r["seed"])
        entry = {key: _stats(r.get(key) for r in members)
                 for key in ("oa", "aa", "kappa", "train_seconds", "inference_seconds", "inference_pixels_per_second",
                             "peak_rss_mb")}
        entry["seeds"] = [r["seed"] for r in members]
        entry["oa_by_seed"] = {str(r["seed"]): r.get("oa") for r in members}
        names = list(members[0].get("per_class_accuracy", {}))
        entry["per_class_accuracy"] = {n: _stats(r["per_class_accuracy"].get(n) for r in members) for n in names}
        entry["quick"] = any(r.get("quick") for r in members)
        variants = sorted({v for r in members for v in r.get("variants") or {}})
        entry["variants"] = {v: {"oa": _stats((r.get("variants") or {}).get(v, {}).get("oa") for r in members),
                                 "own_oa": _stats(r.get("oa") for r in members if v in (r.get("variants") or {})),
                                 "oa_by_seed": {str(r["seed"]): r["variants"][v].get("oa") for r in members
                                                if v in (r.get("variants") or {})}}
                             for v in variants}
        summary.setdefault(dataset, {}).setdefault(protocol, {})[method] = entry
    return summary


def _ordered(items, order) -> list:
    return [x for x in order if x in items] + sorted(x for x in items if x not in order)


def _cell(stat: dict, scale: float = 1.0, digits: int = 2, bold: bool = False, n_seeds: int = 0) -> str:
    """Mean (± std); a cell made of fewer seeds than the table's says how many."""
    if not stat or stat["mean"] is None:
        return "–"
    text = f"{stat['mean'] * scale:.{digits}f}"
    if stat["n"] > 1:
        text += f" ± {stat['std'] * scale:.{digits}f}"
    text = f"**{text}**" if bold else text
    return text + (f" [n={stat['n']}]" if 0 < stat["n"] < n_seeds else "")


def _metric_table(per_protocol: dict, protocols, methods, key: str, scale=1.0, digits=2, best="max",
                  n_seeds: int = 0) -> list[str]:
    lines = ["| method | " + " | ".join(protocols) + " |", "|---|" + "---:|" * len(protocols)]
    winners = {}
    for p in protocols:
        means = {m: per_protocol.get(p, {}).get(m, {}).get(key, {}).get("mean") for m in methods}
        means = {m: v for m, v in means.items() if v is not None}
        if means and best:
            target = max(means.values()) if best == "max" else min(means.values())
            winners[p] = {m for m, v in means.items() if v == target}
    for m in methods:
        cells = [_cell(per_protocol.get(p, {}).get(m, {}).get(key), scale, digits, m in winners.get(p, ()), n_seeds)
                 for p in protocols]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def _smoothing_lines(per_protocol: dict, protocols, methods, n_seeds: int = 0) -> list[str]:
    """Each method's OA without and with the engine's edge-preserving smoothing, over the runs that scored both."""
    lines = ["The engine's classification (cnn, cdm-*, contrastdm) ends with edge-preserving smoothing of the "
             "probabilities; the other methods' maps are scored as they come. This table scores every run both "
             "ways (the other methods' maps smoothed as one-hot probabilities), to show what the smoothing "
             "contributes. OA %, mean over the runs scored both ways: without → with.", "",
             "| method | " + " | ".join(protocols) + " |", "|---|" + "---:|" * len(protocols)]
    rows = 0
    for m in methods:
        cells = []
        for p in protocols:
            variants = per_protocol.get(p, {}).get(m, {}).get("variants") or {}
            if "smoothed" in variants:
                without, with_ = variants["smoothed"]["own_oa"], variants["smoothed"]["oa"]
            elif "unsmoothed" in variants:
                without, with_ = variants["unsmoothed"]["oa"], variants["unsmoothed"]["own_oa"]
            else:
                cells.append("–")
                continue
            cells.append(f"{without['mean']:.2f} → {with_['mean']:.2f}"
                         + (f" [n={with_['n']}]" if 0 < with_["n"] < n_seeds else ""))
        if any(c != "–" for c in cells):
            rows += 1
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines if rows else []


def _paired(ours: dict, theirs: dict) -> tuple[list[str], float, float]:
    """Seeds both methods ran, and each method's mean OA over those seeds only."""
    common = sorted((set(ours) & set(theirs)) - {s for s, v in {**ours, **theirs}.items() if v is None}, key=int)
    if not common:
        return [], float("nan"), float("nan")
    return common, float(np.mean([ours[s] for s in common])), float(np.mean([theirs[s] for s in common]))


SMOOTHED = "+smoothing"  # suffix of a baseline's rival entry scored after the engine's smoothing step


def _oa_by_seed(entries: dict, name: str) -> dict:
    """OA by seed of a method, or of one of its variants (``method:variant``)."""
    method, _, variant = name.partition(":")
    entry = entries.get(method) or {}
    if not variant:
        return entry.get("oa_by_seed") or {}
    return ((entry.get("variants") or {}).get(variant) or {}).get("oa_by_seed") or {}


def _rivals(entries: dict) -> dict:
    """Each baseline's OA by seed, and, where its map was also scored after the engine's smoothing step, that
    variant as a rival of its own (``svm+smoothing``): ContrastDM's map is smoothed, so it has to beat both."""
    rivals = {}
    for name, entry in entries.items():
        if name not in BASELINES or entry["oa"]["mean"] is None:
            continue
        rivals[name] = _oa_by_seed(entries, name)
        smoothed = _oa_by_seed(entries, name + ":smoothed")
        if smoothed:
            rivals[name + SMOOTHED] = smoothed
    return rivals


def _closest(versus: dict, names) -> tuple[str | None, dict | None]:
    names = [n for n in names if n in versus]
    if not names:
        return None, None
    name = min(names, key=lambda n: versus[n]["margin"])  # the rival ContrastDM leads by the least
    return name, versus[name]


def check_targets(per_protocol: dict, method: str = "contrastdm") -> list[dict]:
    """Whether the issue's targets are met. "Above every baseline in the same run" is judged seed by seed:
    against each baseline, on the seeds both ran, ContrastDM's mean must beat the baseline's mean (and
    ``wins`` counts the seeds it was ahead on). The rivals are the baselines' maps as they come and, where
    scored, the same maps after the engine's smoothing step. A protocol not run is 'not run'."""
    results = []
    for protocol, text in TARGETS.items():
        entries = per_protocol.get(protocol, {})
        mine = entries.get(method, {})
        ours_by_seed = mine.get("oa_by_seed") or {}
        if mine.get("oa", {}).get("mean") is None:
            results.append({"protocol": protocol, "target": text, "status": "not run"})
            continue
        ours = mine["oa"]["mean"]
        versus = {}
        for name, theirs in _rivals(entries).items():
            seeds, our_mean, their_mean = _paired(ours_by_seed, theirs)
            if seeds:
                versus[name] = {"seeds": seeds, "oa": their_mean, "ours": our_mean, "margin": our_mean - their_mean,
                                "wins": sum(ours_by_seed[s] > theirs[s] for s in seeds)}
        best_name, best = _closest(versus, [n for n in versus if not n.endswith(SMOOTHED)])
        closest_name, closest = _closest(versus, list(versus))
        margin = None if closest is None else closest["margin"]  # the strictest comparison decides
        if protocol in ("ratio-10", "ratio-5"):
            met = ours >= (99.5 if protocol == "ratio-10" else 98.5) and (margin is None or margin > 0)
        elif protocol == "shot-10":
            met = ours >= 85 and (margin is not None and margin >= 5)
        elif protocol == "fields":
            met = margin is not None and margin >= 5
        else:
            met = margin is not None and margin > 0
        results.append({"protocol": protocol, "target": text, "status": "met" if met else "not met",
                        "oa": ours, "seeds": mine.get("seeds", []), "best_baseline": best_name,
                        "best_baseline_oa": None if best is None else best["oa"],
                        "margin": None if best is None else best["margin"],
                        "paired_seeds": [] if best is None else best["seeds"],
                        "wins": None if best is None else best["wins"],
                        "closest_rival": closest_name, "closest_rival_oa": None if closest is None else closest["oa"],
                        "closest_rival_margin": margin,
                        "closest_rival_wins": None if closest is None else closest["wins"],
                        "versus": versus, "baselines_run": sorted(versus)})
    return results


def _target_lines(targets) -> list[str]:
    lines = ["ContrastDM's mean OA over its seeds against the baseline it leads by the least (or trails by the most), "
             "compared on the seeds both ran, with the number of those seeds on which ContrastDM was ahead: first "
             "the baselines' maps as they come, then including the same maps after the engine's smoothing step "
             "(`+smoothing`), which ContrastDM's own map has. The status is judged on the second, stricter "
             "comparison.", "",
             "| protocol | target | contrastdm OA | closest baseline (OA) | margin | seeds ahead "
             "| closest incl. +smoothing (OA) | margin | seeds ahead | status |",
             "|---|---|---:|---|---:|---:|---|---:|---:|---|"]

    def rival(name, oa, margin, wins, seeds):
        if name is None:
            return "– | – | –"
        return f"{name} ({oa:.2f}) | {margin:+.2f} | {wins}/{len(seeds)}"

    for t in targets:
        if t["status"] == "not run":
            lines.append(f"| {t['protocol']} | {t['target']} | – | – | – | – | – | – | – | not run |")
            continue
        closest = t["closest_rival"]
        first = rival(t["best_baseline"], t["best_baseline_oa"], t["margin"], t["wins"], t["paired_seeds"])
        second = rival(closest, t["closest_rival_oa"], t["closest_rival_margin"], t["closest_rival_wins"],
                       t["versus"][closest]["seeds"] if closest else [])
        lines.append(f"| {t['protocol']} | {t['target']} | {t['oa']:.2f} | {first} | {second} | {t['status']} |")
    return lines


def ablation_steps(per_protocol: dict) -> list[dict]:
    """Each ablation step's effect on OA per protocol: the paired differences (with - without) over the seeds
    both ran. A step "helps" (or "hurts") only when the mean difference is more than two standard errors
    from zero; otherwise its effect is not distinguishable from the spread over seeds."""
    steps = []
    for label, without, with_ in ABLATION_STEPS:
        effects = {}
        for protocol, entries in per_protocol.items():
            before, after = _oa_by_seed(entries, without), _oa_by_seed(entries, with_)
            seeds = _paired(after, before)[0]
            if not seeds:
                continue
            diffs = np.array([after[s] - before[s] for s in seeds], dtype=float)
            mean = float(diffs.mean())
            se = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
            if not diffs.any():
                verdict = "no change"  # e.g. a gated step whose gate stayed shut: the same maps
            elif len(diffs) < 3:
                verdict = "too few seeds"
            elif mean - 2 * se > 0:
                verdict = "helps"
            elif mean + 2 * se < 0:
                verdict = "hurts"
            else:
                verdict = "no clear effect"
            effects[protocol] = {"seeds": seeds, "mean_diff": mean, "std_error": se,
                                 "ahead": int((diffs > 0).sum()), "verdict": verdict}
        steps.append({"step": label, "without": without, "with": with_, "effects": effects})
    return steps


def _ablation_lines(steps, protocols) -> list[str]:
    rows = [s for s in steps if s["effects"]]
    if not rows:
        return []
    lines = ["What each step of ContrastDM adds, one step at a time: OA of the run with the step minus the run "
             "without it, mean over the seeds both ran ± its standard error, the seeds on which the step was "
             "ahead, and the verdict: \"helps\" or \"hurts\" only when the mean is more than two standard errors "
             "from zero (\"no change\" when every paired difference is zero, as for a step that stayed off).", "",
             "| step | without → with | " + " | ".join(protocols) + " |", "|---|---|" + "---:|" * len(protocols)]
    for step in rows:
        cells = []
        for p in protocols:
            e = step["effects"].get(p)
            if e is None:
                cells.append("–")
                continue
            se = "" if np.isnan(e["std_error"]) else f" ± {e['std_error']:.2f}"
            cells.append(f"{e['mean_diff']:+.2f}{se} ({e['ahead']}/{len(e['seeds'])}, {e['verdict']})")
        lines.append(f"| {step['step']} | {step['without']} → {step['with']} | " + " | ".join(cells) + " |")
    return lines


def stale_runs(runs: list[dict], output_dir=None) -> list[dict]:
    return [{"run": r.get("run_id", "?"), "reason": reason} for r in runs
            if (reason := stale_reason(r, output_dir))]


def render(runs: list[dict], summary: dict, stale: list[dict] | None = None) -> str:
    """The Markdown table; ``stale``: :func:`stale_runs` of ``runs`` when the caller has it already."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    quick = any(r.get("quick") for r in runs)
    devices = sorted({r.get("device", {}).get("device", "?") for r in runs})
    commits = sorted({(r.get("git_commit") or "unknown")[:10] + ("+changes" if (r.get("git") or {}).get("dirty") else "")
                      for r in runs})
    versions = runs[0].get("versions", {}) if runs else {}
    lines = ["# ContrastDM benchmark results", "",
             f"Generated by the benchmark harness (`make bench`, `benchmarks/contrastdm_bench`) from {len(runs)} run file(s) in `runs/` on {now}. "
             "Do not edit: rerun the harness to regenerate.", ""]
    if quick:
        lines += ["**Quick mode**: one seed, reduced epochs and a subset of methods and protocols; a smoke test of "
                  "the harness, not the benchmark's numbers.", ""]
    stale = stale_runs(runs) if stale is None else stale
    if stale:
        shown = "; ".join(f"`{s['run']}`: {s['reason']}" for s in stale[:10]) + ("; …" if len(stale) > 10 else "")
        lines += [f"**{len(stale)} run file(s) were made with another configuration than their method trains with "
                  f"now**, so their rows do not describe the current method; `make bench` redoes them. {shown}", ""]
    lines += [f"- Device(s): {', '.join(devices) or '–'}",
              f"- Code: commit {', '.join(commits) or '–'}; " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
              ""]
    for dataset in _ordered(summary, DATASETS):
        per_protocol = summary[dataset]
        protocols = _ordered(per_protocol, PROTOCOLS)
        methods = _ordered({m for p in per_protocol.values() for m in p}, tuple(METHODS))
        seeds = sorted({s for p in per_protocol.values() for e in p.values() for s in e["seeds"]})
        title = DATASET_TITLES.get(dataset, dataset)
        n = len(seeds)
        lines += [f"## {title}", "", f"Seeds: {', '.join(map(str, seeds))}. Mean ± sample std over seeds; "
                  "best mean per protocol in bold; [n=k]: a cell made of k seeds only.", ""]
        lines += ["### Overall accuracy (%)", ""] + _metric_table(per_protocol, protocols, methods, "oa",
                                                                  n_seeds=n) + [""]
        lines += ["### Average accuracy (%)", ""] + _metric_table(per_protocol, protocols, methods, "aa",
                                                                  n_seeds=n) + [""]
        lines += ["### Kappa (x100)", ""] + _metric_table(per_protocol, protocols, methods, "kappa", 100.0,
                                                          n_seeds=n) + [""]
        lines += ["### Training time (s)", ""] + _metric_table(per_protocol, protocols, methods, "train_seconds",
                                                               digits=1, best="min", n_seeds=n) + [""]
        lines += ["### Inference over the whole scene (pixels/s)", ""] + _metric_table(
            per_protocol, protocols, methods, "inference_pixels_per_second", digits=0, n_seeds=n) + [""]
        smoothing = _smoothing_lines(per_protocol, protocols, methods, n)
        if smoothing:
            lines += ["### Edge-preserving smoothing, with and without", ""] + smoothing + [""]
        ablation = _ablation_lines(ablation_steps(per_protocol), protocols)
        if ablation:
            lines += ["### Ablation: what each step contributes", ""] + ablation + [""]
        if dataset == "indian-pines":
            lines += ["### Targets (ContrastDM, default configuration)", ""] + _target_lines(check_targets(per_protocol))
            lines += [""]
        for protocol in protocols:
            entries = per_protocol[protocol]
            names = list(next(iter(entries.values()))["per_class_accuracy"])
            cols = _ordered(entries, tuple(METHODS))
            lines += [f"### Per-class accuracy (%), {protocol}", "",
                      "| class | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
            for name in names:
                cells = []
                for m in cols:
                    stat = entries[m]["per_class_accuracy"].get(name)
                    cells.append("no test pixels" if not stat or stat["n"] == 0 else _cell(stat, digits=1))
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines += [""]
    missing = [d for d in DATASETS if d not in summary]
    if missing:
        lines += ["## Other scenes", ""]
        for d in missing:
            why, option = ("its .mat files are not available here", " --data-dir DIR") if d in MAT_SCENES else ("", "")
            lines.append(f"- {DATASET_TITLES.get(d, d)}: **not run** ({why}{'; ' if why else ''}run "
                         f"`python -m contrastdm_bench --dataset {d}{option}` from `benchmarks/`).")
        lines += [""]
    lines += ["## Notes", "",
              "- Preprocessing is label-free and fitted on all pixels of the scene (allowed by the protocol): "
              "per-band standardisation for the spectral methods (svm, rf, mlp1d) and standardisation + PCA "
              "(30 components) for the patch methods, with reflect-padded patches at the scene's edges.",
              "- The semi-supervised ContrastDM variants also use unlabelled patches of the whole scene (no labels).",
              "- Test pixels never influence training, model selection or early stopping: validation data are "
              "carved from the training pixels (SVM: cross-validation on them).",
              "- Protocols: ratio-10/ratio-5 = 10%/5% of each class, stratified random; shot-10 = 10 pixels per "
              "class (half of a smaller class); fields = whole connected fields for training, single-field classes "
              "cut in two blocks with a gap of the patch radius; blocks = the demo's training rectangles, test = "
              "labelled pixels beyond the patch radius from them. Splits are stored in `splits/`.",
              "- Training time includes hyper-parameter search and model selection; inference covers every "
              "pixel of the scene. Times on a shared CPU are indicative only.", ""]
    return "\n".join(lines)


def write_table(output_dir) -> tuple[Path, dict]:
    output_dir = Path(output_dir)
    runs = load_runs(output_dir)
    summary = summarise(runs)
    targets = check_targets(summary.get("indian-pines", {}))
    ablation = {dataset: ablation_steps(per_protocol) for dataset, per_protocol in summary.items()}
    stale = stale_runs(runs, output_dir)
    write_json(output_dir / "summary.json", {"summary": summary, "targets": targets, "ablation": ablation,
                                             "stale_runs": stale, "runs": len(runs)})
    path = output_dir / "results.md"
    tmp = private_tmp(path)
    tmp.write_text(render(runs, summary, stale), encoding="utf-8")
    tmp.replace(path)
    return path, {d: {p: {m: e["oa"]["mean"] for m, e in ms.items()} for p, ms in ps.items()}
                  for d, ps in summary.items()}
