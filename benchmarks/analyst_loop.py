"""The analyst's loop on Indian Pines: label, train, look where the model is least sure, label there, retrain.

Starts from a third of the demo's rectangles (``contrastdm.datasets.training_rectangles``, drawn per seed). Round 0
trains cold; each later round adds up to ``--sites`` sites and retrains with ``--warm-start`` through the scene
cache, as the dialog's quick retrain does. A site is labelled as an analyst would: a 3 x 3 px square at the site
gets the ground truth's majority class, and is skipped where its centre is unlabelled or fewer than 6 of its 9
pixels share that class (mixed). The ways of choosing sites (``--strategies``) start from the same round-0 model:
``suggested`` (`contrastdm suggest` as by default: least sure pixels inside areas of one class, spread over the
scene and the classes), ``suggested-anywhere`` (the same over any classified pixel, ``--area-radius 0``) and
``random`` (uniform over pixels not yet labelled). OA is scored on every labelled pixel that is not a training
pixel of that round.

Every step runs as `contrastdm` in a fresh process, as the QGIS plugin runs it; the retrain seconds per round
are wall times of `contrastdm train` against the cold round 0 of the same seed. Each finished (seed, strategy)
is kept in ``<output-dir>/loop_runs.jsonl`` and skipped when the script runs again. Writes
``analyst_loop.{json,md}`` and a plot of OA against labelled pixels.

    python benchmarks/analyst_loop.py [--seeds 0 1 2 3 4] [--rounds 5] [--sites 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from large_scene import ground_truth_ids, run_step, write_rectangles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# How a round's sites are chosen: `contrastdm suggest` as it is by default (inside areas of one class), the same
# over any classified pixel (--area-radius 0), or uniformly at random.
STRATEGIES = {"suggested": ["--area-radius", "1"], "suggested-anywhere": ["--area-radius", "0"], "random": None}
MIN_AGREEING = 6  # of the 9 pixels of a site's square


def write_raster(folder: Path, cube: np.ndarray) -> Path:
    import rasterio

    from contrastdm.datasets import INDIAN_PINES_CRS, indian_pines_transform

    path = folder / "indian_pines.tif"
    profile = dict(driver="GTiff", width=cube.shape[1], height=cube.shape[0], count=cube.shape[2], dtype="uint16",
                   crs=INDIAN_PINES_CRS, transform=indian_pines_transform(), tiled=True, blockxsize=64,
                   blockysize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.transpose(cube, (2, 0, 1)).astype(np.uint16))
    return path


def write_squares(path: Path, squares) -> Path:
    from contrastdm.datasets import INDIAN_PINES_CRS, indian_pines_transform

    return write_rectangles(path, squares, indian_pines_transform(), INDIAN_PINES_CRS)


def labelled_mask(shape, squares) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for r0, c0, r1, c1, _ in squares:
        mask[r0:r1, c0:c1] = True
    return mask


def label_site(gt: np.ndarray, row: int, col: int, taken: np.ndarray):
    """The 3 x 3 square at (row, col) with its majority class, or None (unlabelled centre, mixed, edge, taken)."""
    r0, c0 = row - 1, col - 1
    if r0 < 0 or c0 < 0 or r0 + 3 > gt.shape[0] or c0 + 3 > gt.shape[1] or gt[row, col] == 0:
        return None
    window = gt[r0:r0 + 3, c0:c0 + 3]
    if taken[r0:r0 + 3, c0:c0 + 3].any():
        return None
    values, counts = np.unique(window[window > 0], return_counts=True)
    best = int(values[np.argmax(counts)])
    if counts.max() < MIN_AGREEING:
        return None
    return (r0, c0, r0 + 3, c0 + 3, best)


def suggested_sites(folder: Path, raster: Path, model: Path, count: int, options: list,
                    threads: list) -> list[tuple[int, int]]:
    import geopandas as gpd

    output = folder / "sites.gpkg"
    if output.exists():
        output.unlink()
    run_step(["suggest", "--raster", str(raster), "--model", str(model), "--output", str(output), "--count",
              str(count), *options, *threads])
    sites = gpd.read_file(output)
    return [(int(r), int(c)) for r, c in zip(sites["row"], sites["col"])]


def random_sites(shape, taken: np.ndarray, count: int, rng) -> list[tuple[int, int]]:
    free = np.flatnonzero(~taken.ravel())
    picks = rng.choice(free, size=min(count, free.size), replace=False)
    return [(int(p) // shape[1], int(p) % shape[1]) for p in picks]


def score(map_path: Path, gt: np.ndarray, taken: np.ndarray) -> float:
    test = (gt > 0) & ~taken
    return float(np.mean(ground_truth_ids(map_path)[test] == gt[test]) * 100)


def train_and_map(folder: Path, raster: Path, squares, cache: Path, seed: int, options: list, threads: list,
                  tag: str):
    vector = write_squares(folder / f"training_{tag}.gpkg", squares)
    model, output = folder / f"model_{tag}.safetensors", folder / f"map_{tag}.tif"
    train = run_step(["train", "--raster", str(raster), "--vector", str(vector), "--class-field", "class_name",
                      "--model", str(model), "--seed", str(seed), "--warm-start", "--cache-dir", str(cache),
                      *options, *threads])
    run_step(["classify", "--raster", str(raster), "--model", str(model), "--output", str(output), *threads])
    from contrastdm.bundle import read_metadata

    training = read_metadata(model)["training"]
    return model, output, {"train_seconds": train["seconds"], "stage_seconds": training.get("stage_seconds"),
                           "warm": training.get("cache", {}).get("warm")}


def one_seed(folder: Path, raster: Path, gt: np.ndarray, seed: int, args, done: set, log: Path) -> None:
    from contrastdm.datasets import training_rectangles

    threads = ["--threads", str(args.threads)] if args.threads else []
    options = ["--preset", args.preset, *[a for item in args.train_option for a in ("--set", item)]]
    rng = np.random.default_rng(seed)
    demo = training_rectangles(gt, seed=0)
    start = [demo[i] for i in sorted(rng.permutation(len(demo))[: len(demo) // 3])]
    cold_cache = folder / f"cache_{seed}"
    model0, map0, cold = train_and_map(folder, raster, start, cold_cache, seed, options, threads,
                                                   f"{seed}_0")
    for strategy in args.strategies:
        if (seed, strategy) in done:
            continue
        cache = folder / f"cache_{seed}_{strategy}"
        shutil.copytree(cold_cache, cache, dirs_exist_ok=True)
        squares, model, rows = list(start), model0, []
        taken = labelled_mask(gt.shape, squares)
        rows.append({"round": 0, "pixels": int(taken.sum()), "oa": round(score(map0, gt, taken), 2),
                     **cold, "sites_labelled": 0})
        pick_rng = np.random.default_rng(1000 + seed)
        for round_ in range(1, args.rounds + 1):
            if STRATEGIES[strategy] is not None:
                sites = suggested_sites(folder, raster, model, args.sites, STRATEGIES[strategy], threads)
            else:
                sites = random_sites(gt.shape, taken, args.sites, pick_rng)
            added = [s for s in (label_site(gt, r, c, taken) for r, c in sites) if s is not None]
            for square in added:
                squares.append(square)
                taken[square[0]:square[2], square[1]:square[3]] = True
            model, output, timing = train_and_map(folder, raster, squares, cache, seed, options, threads,
                                                  f"{seed}_{strategy}_{round_}")
            rows.append({"round": round_, "pixels": int(taken.sum()), "oa": round(score(output, gt, taken), 2),
                         **timing, "sites_labelled": len(added)})
            print(json.dumps({"seed": seed, "strategy": strategy, **rows[-1]}), flush=True)
        with log.open("a") as handle:
            handle.write(json.dumps({"seed": seed, "strategy": strategy, "rows": rows}) + "\n")


def read_log(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """--threads, --preset, --train-option and --output-dir, shared by the scripts that time training runs."""
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--train-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a learner setting for every training (repeatable), e.g. finetune_epochs=10")
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "loop"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--strategies", nargs="+", choices=list(STRATEGIES), default=["suggested", "random"])
    add_training_options(parser)
    args = parser.parse_args()
    from contrastdm.datasets import load_indian_pines

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "loop_runs.jsonl"
    cube, gt = load_indian_pines()
    with tempfile.TemporaryDirectory(prefix="contrastdm-loop-") as tmp:
        folder = Path(tmp)
        raster = write_raster(folder, cube)
        for seed in args.seeds:
            done = {(r["seed"], r["strategy"]) for r in read_log(log)}
            if all((seed, s) in done for s in args.strategies):
                continue
            one_seed(folder, raster, gt, seed, args, done, log)
    write_outputs(out, read_log(log), args)
    return 0


def write_outputs(out: Path, runs: list[dict], args) -> None:
    strategies = [s for s in STRATEGIES if any(r["strategy"] == s for r in runs)]
    table = {s: {r["seed"]: r["rows"] for r in runs if r["strategy"] == s} for s in strategies}
    both = sorted(seed for seed in table.get("suggested", {}) if seed in table.get("random", {}))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "threads": args.threads,
            "sites_per_round": args.sites, "seeds": both, "preset": args.preset, "train_options": args.train_option,
            "strategies": {s: STRATEGIES[s] for s in strategies}}
    (out / "analyst_loop.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    lines = ["# The analyst's loop on Indian Pines (generated by benchmarks/analyst_loop.py)", "",
             f"{meta['machine']}, threads {args.threads or 'all'}; up to {args.sites} sites a round, each a 3 x 3 px "
             f"square; preset {args.preset}{''.join(', ' + o for o in args.train_option)}; retrains with "
             "--warm-start. Mean over the seeds each strategy ran; the retrain ratio is `contrastdm train`'s wall "
             "time against the seed's cold round 0.", ""]
    for strategy in strategies:
        seeds = sorted(table[strategy])
        lines += [f"**{strategy}** (seeds {', '.join(map(str, seeds))})", "",
                  "| round | labelled pixels | OA % | ahead of random (seeds) | sites labelled | retrain s / cold s |",
                  "|---:|---:|---:|---:|---:|---:|"]
        rounds = min(len(table[strategy][seed]) for seed in seeds)
        for i in range(rounds):
            rows = [table[strategy][seed][i] for seed in seeds]
            paired = [seed for seed in seeds if seed in table.get("random", {})]
            ahead = "-" if i == 0 or strategy == "random" or not paired else \
                f"{sum(table[strategy][s][i]['oa'] > table['random'][s][i]['oa'] for s in paired)} of {len(paired)}"
            ratio = np.mean([table[strategy][seed][i]["train_seconds"] / table[strategy][seed][0]["train_seconds"]
                             for seed in seeds])
            lines.append(f"| {i} | {np.mean([r['pixels'] for r in rows]):.0f} | "
                         f"{np.mean([r['oa'] for r in rows]):.2f} +- {np.std([r['oa'] for r in rows]):.2f} | {ahead} | "
                         f"{np.mean([r['sites_labelled'] for r in rows]):.1f} | {ratio:.2f} |")
        lines.append("")
    (out / "analyst_loop.md").write_text("\n".join(lines))
    loop_plot(table, out / "analyst_loop.png")
    print("\n".join(lines))


def loop_plot(table: dict, path: Path) -> None:
    """OA against labelled pixels, one line per strategy (mean over seeds, a band of one standard deviation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, runs in table.items():
        seeds = sorted(runs)
        n = min(len(table[strategy][seed]) for seed in seeds)
        pixels = np.array([[table[strategy][seed][i]["pixels"] for i in range(n)] for seed in seeds]).mean(0)
        oa = np.array([[table[strategy][seed][i]["oa"] for i in range(n)] for seed in seeds])
        ax.plot(pixels, oa.mean(0), marker="o", label=f"{strategy} sites")
        ax.fill_between(pixels, oa.mean(0) - oa.std(0), oa.mean(0) + oa.std(0), alpha=0.2)
    ax.set_xlabel("labelled pixels")
    ax.set_ylabel("OA on the other labelled pixels (%)")
    ax.set_title("Indian Pines: where to label next")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
