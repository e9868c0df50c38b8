"""The engine's GPU path in one command, with its figures written to a file (`make gpu-check`).

On a machine with CUDA it runs, each step in its own process and under its own time limit:
1. the demo (Indian Pines: dataset, train, classify, evaluate) on the GPU, timed per step;
2. the same training started by ``torchrun --nproc-per-node 1`` (the distributed entry point);
3. classification speed against reading the scene and writing one band (benchmarks/classify_speed.py);
4. optionally, benchmark runs on the GPU until a time budget is spent (resumable, like `make bench`).
A step that fails is recorded with the end of its output and the check goes on. Writes gpu_check.json and
gpu_check.md in --output-dir (default benchmarks/gpu/).

    python benchmarks/gpu_check.py --output-dir benchmarks/gpu [--bench-until 480]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"demo_train_seconds": ("<", 30.0), "classify_pixels_per_second": (">=", 1_000_000)}


class StepLog(list):
    """The steps so far; each new one rewrites the figures file, so a run stopped by a time limit keeps them."""

    save = staticmethod(lambda: None)

    def append(self, entry) -> None:
        super().append(entry)
        self.save()


def step(name: str, command: list, limit: float, log: list) -> dict:
    command = [str(part) for part in command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "core"), str(ROOT / "benchmarks"),
                                                                     os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, env=env, cwd=ROOT)
        rc, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
    seconds = round(time.perf_counter() - start, 2)
    entry = {"step": name, "rc": rc, "seconds": seconds, "command": " ".join(command)}
    if rc != 0:
        entry["output_tail"] = out[-3000:]
    log.append(entry)
    print(json.dumps({k: v for k, v in entry.items() if k != "output_tail"}), flush=True)
    if rc != 0:
        print(out[-3000:], flush=True)
    return entry


def gpu_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def engine(*args) -> list[str]:
    return [sys.executable, "-m", "contrastdm", *map(str, args)]


def demo(work: Path, device: str, preset: str, log: list, figures: dict) -> None:
    data = work / "data"
    training = ["--raster", data / "indian_pines.tif", "--vector", data / "training.gpkg", "--class-field",
                "class_name", "--preset", preset, "--device", device]
    if step("dataset", engine("dataset", "indian-pines", "--output-dir", data), 300, log)["rc"] != 0:
        return
    trained = step("demo_train", engine("train", *training, "--model", work / "model.safetensors",
                                        "--report", work / "train.html"), 600, log)
    if trained["rc"] != 0:
        return
    figures["demo_train_seconds"] = trained["seconds"]
    figures["demo_stage_seconds"] = stage_seconds(work / "model.safetensors")
    classified = step("demo_classify", engine("classify", "--raster", data / "indian_pines.tif", "--model",
                                              work / "model.safetensors", "--output", work / "map.tif",
                                              "--device", device), 300, log)
    figures["demo_classify_seconds"] = classified["seconds"]
    evaluated = step("demo_evaluate", engine("evaluate", "--map", work / "map.tif", "--vector",
                                             data / "validation.gpkg", "--class-field", "class_name",
                                             "--report", work / "evaluate.html"), 300, log)
    if evaluated["rc"] == 0:
        metrics = json.loads((work / "evaluate.json").read_text())
        figures["demo_oa"] = round(float(_find(metrics, "overall_accuracy")), 2)
    ddp = step("torchrun_1_process", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                      "--nproc-per-node", "1", "-m", "contrastdm", "train", *map(str, training),
                                      "--model", work / "model_torchrun.safetensors"], 600, log)
    figures["torchrun_train_seconds"] = ddp["seconds"] if ddp["rc"] == 0 else None


def stage_seconds(model: Path) -> dict:
    """The per-stage training seconds a model file records (its safetensors header, read without torch)."""
    with open(model, "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    return json.loads(header["__metadata__"]["contrastdm"])["training"].get("stage_seconds", {})


def other_presets(work: Path, device: str, presets: list[str], log: list, figures: dict) -> None:
    """Training time of further presets on the demo data (the dataset step must have run)."""
    data = work / "data"
    for preset in presets:
        model = work / f"model_{preset}.safetensors"
        entry = step(f"train_{preset}", engine("train", "--raster", data / "indian_pines.tif", "--vector",
                                               data / "training.gpkg", "--class-field", "class_name", "--preset",
                                               preset, "--device", device, "--model", model), 600, log)
        if entry["rc"] == 0:
            figures[f"train_seconds_{preset}"] = entry["seconds"]
            figures[f"stage_seconds_{preset}"] = stage_seconds(model)


def _find(tree, key):
    """The first value under ``key`` anywhere in a JSON tree (reports nest their metrics)."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        children = tree.values()
    elif isinstance(tree, list):
        children = tree
    else:
        return None
    for child in children:
        found = _find(child, key)
        if found is not None:
            return found
    return None


def speed(work: Path, device: str, sizes: list[int], out: Path, log: list) -> dict:
    entry = step("classify_speed", [sys.executable, str(ROOT / "benchmarks" / "classify_speed.py"), "--model",
                                    str(work / "model.safetensors"), "--device", device, "--sizes",
                                    *map(str, sizes), "--output-dir", str(out / "speed")], 600, log)
    if entry["rc"] != 0:
        return {}
    rows = json.loads((out / "speed" / "classify_speed.json").read_text())["rows"]
    best = max(rows, key=lambda r: r["pixels"])
    return {"classify_pixels_per_second": best["classify_pixels_per_second"],
            "read_write_pixels_per_second": best["read_write_pixels_per_second"],
            "classify_vs_read_write": round(best["classify_pixels_per_second"]
                                            / best["read_write_pixels_per_second"], 3),
            "speed_scene": f"{best['size']}x{best['size']}x200"}


def write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"GPU check on {result['gpu']} (torch {result['torch']}, preset {result['preset']}), "
             f"generated by benchmarks/gpu_check.py on {result['date']}", "",
             "| figure | value | target | met |", "|---|---:|---|---|"]
    for key, value in result["figures"].items():
        target = TARGETS.get(key)
        met = "" if target is None or value is None else (
            "yes" if (value < target[1] if target[0] == "<" else value >= target[1]) else "no")
        lines.append(f"| {key} | {value} | {'' if target is None else f'{target[0]} {target[1]:,}'} | {met} |")
    lines += ["", "| step | exit | seconds |", "|---|---|---:|"]
    lines += [f"| {s['step']} | {s['rc']} | {s['seconds']} |" for s in result["steps"]]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "gpu"))
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to try the script itself")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--also-presets", default="", help="comma-separated presets whose training is timed too")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 2048],
                        help="mosaic sizes for the classification speed (none: skip that step)")
    parser.add_argument("--bench-until", type=float, default=0,
                        help="then run benchmark runs until this many seconds after the start (0: none)")
    parser.add_argument("--bench-args", default="--dataset indian-pines-raw --protocols shot-10,blocks,fields "
                        "--methods contrastdm,cnn --seeds 0,1,2,3,4")
    args = parser.parse_args()
    started = time.perf_counter()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is usable here (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    out, log = Path(args.output_dir), StepLog()
    result = {"gpu": gpu_name(args.device), "torch": torch.__version__, "preset": args.preset,
              "python": platform.python_version(), "cpu_cores": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "steps": log, "figures": {}}
    log.save = lambda: write(out, result)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo(work, args.device, args.preset, log, result["figures"])
        if (work / "data" / "training.gpkg").is_file():
            other_presets(work, args.device, [p for p in args.also_presets.split(",") if p], log, result["figures"])
        if args.sizes and (work / "model.safetensors").is_file():
            result["figures"].update(speed(work, args.device, args.sizes, out, log))
        write(out, result)
    remaining = args.bench_until - (time.perf_counter() - started) - 15
    if remaining > 30:
        harness = [sys.executable, "-m", "contrastdm_bench", "--device", args.device, "--output-dir", out / "bench",
                   *args.bench_args.split()]
        step("bench", [str(a) for a in harness], remaining, log)
        write(out, result)
    return 0 if all(s["rc"] == 0 for s in log if s["step"] != "bench") else 1


if __name__ == "__main__":
    sys.exit(main())
