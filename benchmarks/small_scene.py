"""A user's first run on a small scene: train + classify wall time and OA, with the fixed and the data budget.

A 100 x 100 px crop of the real Indian Pines scene (corrected, 200 bands, wavelengths in the band metadata;
the window holding the most classes) with about 150 training pixels in small rectangles, as a user draws them
(``contrastdm.datasets.training_rectangles``), scored on the crop's labelled pixels beyond the patch radius of
every training pixel. For each seed (it draws the rectangles), `contrastdm train` + `contrastdm classify` run in
fresh processes with each budget back to back, so the two are timed in the same conditions.
Writes benchmarks/small/small_scene.{json,md}.

    python benchmarks/small_scene.py [--seeds 0 1 2] [--threads 2] [--budgets fixed data]
        [--cpu-precisions float32 bfloat16] [--train-option choose_patch_size=true ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from large_scene import ground_truth_ids, run_step, write_rectangles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = 100
FRACTION = 0.012  # of each class's pixels in the crop: about 150 training pixels (at least 3 per class)


def crop_window(gt: np.ndarray, size: int = SIZE, step: int = 5) -> tuple[int, int]:
    """The top-left corner of the ``size`` x ``size`` window with the most classes of at least 20 pixels (then
    the most labelled pixels)."""
    best, corner = None, (0, 0)
    for r in range(0, gt.shape[0] - size + 1, step):
        for c in range(0, gt.shape[1] - size + 1, step):
            window = gt[r:r + size, c:c + size]
            counts = np.bincount(window.ravel(), minlength=gt.max() + 1)[1:]
            score = (int((counts >= 20).sum()), int(counts.sum()))
            if best is None or score > best:
                best, corner = score, (r, c)
    return corner


def write_scene(folder: Path, cube: np.ndarray, corner: tuple[int, int]) -> Path:
    import rasterio
    from affine import Affine

    from contrastdm.datasets import INDIAN_PINES_CRS, indian_pines_transform

    r0, c0 = corner
    crop = cube[r0:r0 + SIZE, c0:c0 + SIZE]
    transform = indian_pines_transform() * Affine.translation(c0, r0)
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=crop.shape[2], dtype="uint16",
                   crs=INDIAN_PINES_CRS, transform=transform, tiled=True, blockxsize=64, blockysize=64)
    path = folder / "crop.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.transpose(crop, (2, 0, 1)).astype(np.uint16))
    return path


def write_training(folder: Path, raster: Path, rectangles, seed: int) -> Path:
    import rasterio

    with rasterio.open(raster) as ds:
        return write_rectangles(folder / f"training_{seed}.gpkg", rectangles, ds.transform, ds.crs)


def one_run(folder: Path, raster: Path, training: Path, budget: str, seed: int, threads: list, truth, valid,
            options=(), precision: str = "float32") -> dict:
    model, output = (folder / f"model_{budget}_{precision}_{seed}.safetensors",
                     folder / f"map_{budget}_{precision}_{seed}.tif")
    settings = [arg for option in options for arg in ("--set", option)]
    train = run_step(["train", "--raster", str(raster), "--vector", str(training), "--class-field", "class_name",
                      "--model", str(model), "--seed", str(seed), "--set", f"budget={budget}", *settings,
                      "--cpu-precision", precision, "--no-cache", *threads])
    classify = run_step(["classify", "--raster", str(raster), "--model", str(model), "--output", str(output),
                         *threads])
    oa = float(np.mean(ground_truth_ids(output)[valid] == truth[valid]) * 100)
    from contrastdm.bundle import read_metadata

    training_record = read_metadata(model)["training"]
    return {"budget": budget, "cpu_precision": precision, "seed": seed, "train_seconds": train["seconds"],
            "stage_seconds": training_record.get("stage_seconds"),
            "classify_seconds": classify["seconds"], "oa": round(oa, 2),
            "patch_choice": next((m for m in train["messages"] if "patch size" in m), None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", default=["fixed", "data"])
    parser.add_argument("--cpu-precisions", nargs="+", default=["float32"],
                        help="training precisions to compare, run in turn for each seed and budget")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "small"))
    parser.add_argument("--train-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a learner setting for every training (repeatable), e.g. choose_patch_size=true")
    args = parser.parse_args()
    from contrastdm.datasets import load_indian_pines, training_rectangles, validation_mask

    cube, gt = load_indian_pines()
    corner = crop_window(gt)
    truth = gt[corner[0]:corner[0] + SIZE, corner[1]:corner[1] + SIZE]
    threads = ["--threads", str(args.threads)] if args.threads else []
    rows = []
    with tempfile.TemporaryDirectory(prefix="contrastdm-small-") as tmp:
        folder = Path(tmp)
        raster = write_scene(folder, cube, corner)
        for seed in args.seeds:
            rectangles = training_rectangles(truth, fraction=FRACTION, seed=seed)
            training = write_training(folder, raster, rectangles, seed)
            valid = validation_mask(truth, rectangles, 11)
            pixels = int(sum((r1 - r0) * (c1 - c0) for r0, c0, r1, c1, _ in rectangles))
            for budget in args.budgets:
                for precision in args.cpu_precisions:
                    rows.append({**one_run(folder, raster, training, budget, seed, threads, truth, valid,
                                           args.train_option, precision),
                                 "training_pixels": pixels, "scored_pixels": int(valid.sum())})
                    print(json.dumps(rows[-1]), flush=True)
    write_outputs(Path(args.output_dir), rows, corner, args)
    return 0


def write_outputs(out: Path, rows: list, corner, args) -> None:
    meta = {"crop": f"{SIZE} x {SIZE} px of Indian Pines at row {corner[0]}, col {corner[1]}",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "threads": args.threads,
            "train_options": args.train_option}
    out.mkdir(parents=True, exist_ok=True)
    (out / "small_scene.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# First run on a small scene (generated by benchmarks/small_scene.py)", "",
             f"{meta['crop']}; {meta['machine']}, threads {args.threads or 'all'}"
             + (f"; settings {', '.join(args.train_option)}" if args.train_option else "") + ".", "",
             "| budget | CPU precision | seeds | training pixels | train s (mean) | classify s | OA % (mean +- std) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for budget, precision in ((b, p) for b in args.budgets for p in args.cpu_precisions):
        mine = [r for r in rows if r["budget"] == budget and r.get("cpu_precision", "float32") == precision]
        oa = np.array([r["oa"] for r in mine])
        lines.append(f"| {budget} | {precision} | {', '.join(str(r['seed']) for r in mine)} | "
                     f"{np.mean([r['training_pixels'] for r in mine]):.0f} | "
                     f"{np.mean([r['train_seconds'] for r in mine]):.1f} | "
                     f"{np.mean([r['classify_seconds'] for r in mine]):.1f} | "
                     f"{oa.mean():.2f} +- {oa.std(ddof=1) if len(oa) > 1 else 0:.2f} |")
    (out / "small_scene.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
