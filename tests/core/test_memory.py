"""Classification memory is bounded by the tile, not the scene: peak RSS stays flat when the scene grows 4x."""

import json
import os
import subprocess
import sys
from pathlib import Path

from scenes import write_scene

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
def peak_mib():  # VmHWM: this process's own peak (ru_maxrss inherits the parent's across fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
import contrastdm
contrastdm.classify(sys.argv[1], sys.argv[2], sys.argv[3], confidence=sys.argv[4], tile_size=128, device="cpu")
print(json.dumps({"peak_kib": peak_mib() * 1024}))
"""


def _peak_rss_mib(raster, model, folder):
    # A small GDAL block cache fills up on both scenes, so what is left to differ is what the engine itself holds.
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core"), "GDAL_CACHEMAX": "8"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(raster), str(model), str(folder / f"{raster.stem}_map.tif"),
                           str(folder / f"{raster.stem}_conf.tif")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])["peak_kib"] / 1024


def test_peak_memory_is_flat_when_the_scene_grows_4x(trained, tmp_path):
    # 12 bands like the trained model; 512^2 vs 1024^2 pixels. Loading the large scene whole as float32
    # would add 48 MiB on top of the small one's 12 MiB; tiled reading adds nothing that grows with it.
    small = write_scene(tmp_path / "small.tif", height=512, width=512, noise=30).raster
    large = write_scene(tmp_path / "large.tif", height=1024, width=1024, noise=30).raster
    # One process's peak varies by +-20 MiB from run to run (thread and allocator timing); the least of three
    # runs is what the scene itself needs.
    small_mib = min(_peak_rss_mib(small, trained.model, tmp_path) for _ in range(3))
    large_mib = min(_peak_rss_mib(large, trained.model, tmp_path) for _ in range(3))
    assert large_mib - small_mib < 25, (small_mib, large_mib)
