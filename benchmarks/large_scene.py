"""A sensor-sized scene end to end: train + classify wall time, classification pixels/s and peak memory.

Builds, from the real Indian Pines scene, what an imaging spectrometer delivers: a 7 x 7 mosaic (1015 x 1015
pixels), the 20 water-absorption bands put back (``contrastdm.datasets.raw_indian_pines``) plus 4 bands beyond
2500 nm filled with the nodata value and flagged ``bbl=0`` (224 bands), int16 with nodata -32768, a 40-pixel
nodata strip along the left edge, every band's wavelength in the GDAL band metadata. Trains on the demo's
rectangles in the top-left copy, classifies the whole mosaic, and scores the map on the demo's validation
pixels of every copy. Each step runs as `contrastdm` in a fresh process; its peak RSS is read from the kernel
(``wait4``). Writes JSON and Markdown (default benchmarks/large/).

``--layout sparse`` builds instead a 21 x 21 canvas (3045 x 3045 px, 4.2 GB of int16 pixels) that holds data in
three copies only (the training copy and two on the diagonal) and is nodata elsewhere (99.3% of the pixels): the
scene a user gets from a swath along a large map grid, which must be handled in bounded memory.

    python benchmarks/large_scene.py [--preset balanced] [--threads 2] [--layout mosaic|sparse]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 7
NODATA = -32768
STRIP = 40
# (copies per side, the copies holding data: None for every one); the training rectangles lie in copy (0, 1).
LAYOUTS = {"mosaic": (REPEAT, None), "sparse": (21, {(0, 1), (10, 10), (20, 20)})}


def _copies(plane: np.ndarray, repeat: int, kept, fill) -> np.ndarray:
    """``plane`` tiled ``repeat`` x ``repeat`` times, with the copies not in ``kept`` set to ``fill``."""
    tiled = np.tile(plane, (repeat, repeat))
    if kept is not None:
        h, w = plane.shape
        keep = np.zeros((repeat, repeat), dtype=bool)
        for i, j in kept:
            keep[i, j] = True
        tiled[~np.kron(keep, np.ones((h, w), dtype=bool))] = fill
    return tiled


def build_scene(folder: Path, layout: str = "mosaic") -> dict:
    import rasterio

    from contrastdm.datasets import (
        INDIAN_PINES_CRS,
        indian_pines_transform,
        load_indian_pines,
        raw_indian_pines,
        training_rectangles,
        validation_mask,
    )

    cube, gt = load_indian_pines()
    raw, wavelengths = raw_indian_pines(cube)
    extra = [2510.0, 2520.0, 2530.0, 2540.0]
    bands = raw.shape[2] + len(extra)
    repeat, kept = LAYOUTS[layout]
    size = repeat * 145
    transform = indian_pines_transform()
    profile = dict(driver="GTiff", width=size, height=size, count=bands, dtype="int16", nodata=NODATA,
                   crs=INDIAN_PINES_CRS, transform=transform, tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", interleave="band", BIGTIFF="IF_SAFER")
    raster = folder / "mosaic.tif"
    with rasterio.open(raster, "w", **profile) as dst:
        for band in range(bands):
            if band < raw.shape[2]:
                plane = _copies(np.minimum(raw[:, :, band], 32767).astype(np.int16), repeat, kept, NODATA)
                plane[:, :STRIP] = NODATA
            else:
                plane = np.full((size, size), NODATA, dtype=np.int16)
            dst.write(plane, band + 1)
            wl = wavelengths[band] if band < raw.shape[2] else extra[band - raw.shape[2]]
            dst.update_tags(band + 1, wavelength=f"{wl:.2f}", wavelength_units="Nanometers",
                            bbl="0" if band >= raw.shape[2] else "1")
    rectangles = training_rectangles(gt, seed=0)
    valid = _copies(validation_mask(gt, rectangles, 11), repeat, kept, False)
    valid[:, :STRIP] = False
    valid[:145, 145:290] = False  # the copy that holds the training rectangles
    rectangles = [(r0, c0 + 145, r1, c1 + 145, v) for r0, c0, r1, c1, v in rectangles]
    truth = np.tile(gt, (repeat, repeat))
    write_rectangles(folder / "training.gpkg", rectangles, transform, INDIAN_PINES_CRS)
    return {"raster": raster, "training": folder / "training.gpkg", "truth": truth, "valid": valid, "layout": layout,
            "data_share": 1.0 if kept is None else len(kept) / repeat ** 2,
            "bands": bands, "size": size, "training_pixels": int(sum((r[2] - r[0]) * (r[3] - r[1]) for r in rectangles))}


def write_rectangles(path: Path, rectangles, transform, crs) -> Path:
    """Pixel rectangles ``(row0, col0, row1, col1, class)`` (exclusive ends, Indian Pines class numbers) as a
    GeoPackage of polygons with their class names (field ``class_name``), replacing ``path``."""
    import geopandas as gpd
    from shapely.geometry import box

    from contrastdm.datasets import INDIAN_PINES_CLASSES

    boxes = []
    for r0, c0, r1, c1, _ in rectangles:
        (x0, y0), (x1, y1) = transform * (c0, r1), transform * (c1, r0)
        boxes.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    frame = gpd.GeoDataFrame({"class_name": [INDIAN_PINES_CLASSES[v - 1] for *_, v in rectangles]},
                             geometry=boxes, crs=crs)
    Path(path).unlink(missing_ok=True)
    frame.to_file(path, driver="GPKG")
    return Path(path)


WRAPPER = """
import sys
from contrastdm.cli import main
code = main(sys.argv[1:])
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
sys.stderr.write(f"PEAK_RSS_KIB {peak}\\n")
sys.exit(code)
"""


def ground_truth_ids(map_path) -> np.ndarray:
    """The map in the ground truth's class numbers (the engine numbers classes by their names' order)."""
    import rasterio

    from contrastdm.datasets import INDIAN_PINES_CLASSES
    from contrastdm.io.writer import read_class_map_info

    lookup = np.zeros(65536, dtype=np.int64)
    for c in read_class_map_info(map_path):
        lookup[c.id] = INDIAN_PINES_CLASSES.index(c.name) + 1
    with rasterio.open(map_path) as ds:
        return lookup[ds.read(1)]


def run_step(args: list[str]) -> dict:
    """One `contrastdm` command in a fresh process: wall seconds, its own peak RSS (MiB), its messages."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *args, "--progress", "jsonl"], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()
        raise SystemExit(f"contrastdm {args[0]} failed: {tail[-2] if len(tail) > 1 else tail}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KIB"))
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    messages = [e.get("text") or e.get("message") for e in events if e.get("type") == "message"]
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak / 1024), "messages": messages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="mosaic",
                        help="mosaic: 7 x 7 copies of the scene; sparse: 21 x 21, data in 3 copies, nodata elsewhere")
    parser.add_argument("--output-dir", default=str(ROOT / "benchmarks" / "large"))
    parser.add_argument("--work-dir", default=None, help="where the mosaic is built (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="contrastdm-large-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scene = build_scene(work, args.layout)
    build_seconds = time.perf_counter() - started
    threads = ["--threads", str(args.threads)] if args.threads else []
    train = run_step(["train", "--raster", str(scene["raster"]), "--vector", str(scene["training"]),
                      "--class-field", "class_name", "--model", str(work / "model.safetensors"),
                      "--preset", args.preset, *threads])
    classify = run_step(["classify", "--raster", str(scene["raster"]), "--model", str(work / "model.safetensors"),
                         "--output", str(work / "map.tif"), "--confidence", str(work / "confidence.tif"), *threads])
    labels = ground_truth_ids(work / "map.tif")
    valid = scene["valid"]
    oa = float(np.mean(labels[valid] == scene["truth"][valid]) * 100)
    pixels = scene["size"] ** 2
    record = {
        "scene": f"{scene['size']} x {scene['size']} px, {scene['bands']} bands, int16, nodata strip {STRIP} px"
                 + ("" if args.layout == "mosaic" else f", data in {scene['data_share']:.1%} of the canvas"),
        "layout": args.layout,
        "preset": args.preset, "training_pixels": scene["training_pixels"],
        "build_seconds": round(build_seconds, 1),
        "train_seconds": train["seconds"], "classify_seconds": classify["seconds"],
        "classify_pixels_per_second": round(pixels / classify["seconds"]),
        "peak_rss_mib_train": train["peak_rss_mib"], "peak_rss_mib_classify": classify["peak_rss_mib"],
        "oa_on_validation_pixels": round(oa, 2), "validation_pixels": int(valid.sum()),
        "band_messages": [m for m in train["messages"] if m and "band" in m],
        "machine": {"cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "threads": args.threads},
    }
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "large_scene" if args.layout == "mosaic" else f"large_scene_{args.layout}"
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Sensor-sized scene, {args.layout} layout (generated by benchmarks/large_scene.py)", "",
             f"Scene: {record['scene']}; preset {args.preset}; {record['training_pixels']} training pixels.", "",
             "| step | wall time (s) | peak RSS (MiB) |", "|---|---:|---:|",
             f"| train | {record['train_seconds']} | {record['peak_rss_mib_train']} |",
             f"| classify ({record['classify_pixels_per_second']:,} px/s) | {record['classify_seconds']} | "
             f"{record['peak_rss_mib_classify']} |", "",
             f"OA on {record['validation_pixels']:,} validation pixels outside the training copy: "
             f"{record['oa_on_validation_pixels']}.", "", "Bands: " + "; ".join(record["band_messages"]), ""]
    (out / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
