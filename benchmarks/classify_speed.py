"""Classification speed and memory on the real Indian Pines spectra, at two scene sizes.

Builds mosaics of the Indian Pines scene (200 bands) of N x N pixels, then measures, each in a fresh process:
- `contrastdm classify` pixels per second with the given model (default: the demo's model),
- the time to only read the same raster tile by tile (with the halo) and write a class map of the same size,
- peak RSS of both, and the ratio of the two speeds.
Each process imports its libraries before its clock starts (torch too, which `contrastdm.classify` would
otherwise import on its first call); the torch import is reported on its own. The load average is recorded:
on a shared machine the two measurements compete with other programs differently.
Writes JSON and Markdown next to each other (default benchmarks/speed/).

    python benchmarks/classify_speed.py --model demo_output/indian_pines_model.safetensors --sizes 512 1024
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))  # the mosaic is built in this process from the engine's dataset loader

CLASSIFY = """
import json, sys, time
def peak_mib():  # VmHWM: this process's own peak (ru_maxrss inherits the parent's across fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
import contrastdm
t = time.perf_counter()
import torch  # noqa: F401
imported = time.perf_counter() - t
t = time.perf_counter()
options = {"precision": sys.argv[7]} if sys.argv[7] != "default" else {}
r = contrastdm.classify(sys.argv[1], sys.argv[2], sys.argv[3], confidence=sys.argv[4], device=sys.argv[5],
                        tile_size=int(sys.argv[6]), **options)
print(json.dumps({"seconds": time.perf_counter() - t, "device": r.device, "torch_import_seconds": imported,
                  "peak_rss_mib": peak_mib()}))
"""

READ_WRITE = """
import json, sys, time
def peak_mib():  # VmHWM: this process's own peak (ru_maxrss inherits the parent's across fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
import numpy as np
from contrastdm.io.raster import describe, iter_tiles, open_raster, read_padded
from contrastdm.io.writer import ClassInfo, ClassificationWriter
t = time.perf_counter()
with open_raster(sys.argv[1]) as ds:
    info = describe(ds)
    classes = [ClassInfo(i, f"c{i}", (i, i, i)) for i in range(1, 17)]
    with ClassificationWriter(sys.argv[2], width=info.width, height=info.height, crs=info.crs,
                              transform=info.transform, classes=classes, confidence_path=sys.argv[3]) as out:
        for w in iter_tiles(info.width, info.height, int(sys.argv[4])):
            data, valid = read_padded(ds, w, 5, info)
            h, wd = int(w.height), int(w.width)
            out.write(w, np.ones((h, wd), np.int64), np.ones((h, wd), np.float32))
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mib": peak_mib()}))
"""


def mosaic(path: Path, size: int) -> None:
    import rasterio

    from contrastdm.datasets import indian_pines_transform, load_indian_pines

    cube, _ = load_indian_pines()
    bands = np.transpose(cube, (2, 0, 1))
    cols = np.arange(size) % bands.shape[2]
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=200, dtype="uint16",
                       crs="EPSG:32616", transform=indian_pines_transform(), tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate", predictor=2, num_threads="all_cpus") as dst:
        for row in range(0, size, 256):
            h = min(256, size - row)
            rows = np.arange(row, row + h) % bands.shape[1]
            strip = bands[:, rows][:, :, cols]
            dst.write(strip, window=((row, row + h), (0, size)))


def child(code: str, *args) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "core"),
                                                                     os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "demo_output" / "indian_pines_model.safetensors"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="default", help="the classify precision (default: the engine's)")
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "speed"))
    args = parser.parse_args()
    if not Path(args.model).is_file():
        raise SystemExit(f"model not found: {args.model} (run `make demo` first)")
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            raster = tmp / f"mosaic_{size}.tif"
            mosaic(raster, size)
            io = child(READ_WRITE, raster, tmp / "io_map.tif", tmp / "io_conf.tif", args.tile_size)
            run = child(CLASSIFY, raster, args.model, tmp / "map.tif", tmp / "conf.tif", args.device, args.tile_size,
                        args.precision)
            pixels = size * size
            rows.append({"size": size, "pixels": pixels, "classify_seconds": round(run["seconds"], 2),
                         "classify_pixels_per_second": round(pixels / run["seconds"]),
                         "classify_peak_rss_mib": round(run["peak_rss_mib"]),
                         "read_write_seconds": round(io["seconds"], 2),
                         "read_write_pixels_per_second": round(pixels / io["seconds"]),
                         "read_write_peak_rss_mib": round(io["peak_rss_mib"]), "device": run["device"],
                         "classify_vs_read_write": round(io["seconds"] / run["seconds"], 3),
                         "torch_import_seconds": round(run["torch_import_seconds"], 2),
                         "load_average": round(os.getloadavg()[0], 2)})
            print(json.dumps(rows[-1]))
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "torch": torch.__version__,
            "threads": torch.get_num_threads(), "model": Path(args.model).name, "tile_size": args.tile_size,
            "precision": args.precision}
    (out / "classify_speed.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"Classification speed ({meta['machine']}, torch {meta['torch']}, tile {args.tile_size}, precision "
             f"{args.precision}), generated by benchmarks/classify_speed.py; libraries imported before the clocks "
             f"start (torch's import on its own)", "",
             "| scene | pixels | classify s | classify px/s | peak RSS MiB | read+write only s | read+write px/s "
             "| its peak RSS MiB | classify / read+write | torch import s | load average |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['size']}x{r['size']}x200 | {r['pixels']:,} | {r['classify_seconds']} | "
                     f"{r['classify_pixels_per_second']:,} | {r['classify_peak_rss_mib']} | {r['read_write_seconds']} | "
                     f"{r['read_write_pixels_per_second']:,} | {r['read_write_peak_rss_mib']} | "
                     f"{r['classify_vs_read_write']} | {r['torch_import_seconds']} | {r['load_average']} |")
    (out / "classify_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
