"""Bad inputs through the public API: one clear error, and nothing left at any output path.

Each test here is referenced from a row of docs/errors.md (a test keeps that table and the tests in step).
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from scenes import TINY, pixel_box, training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.errors import InputError, ModelFileError, OutputError

ROOT = Path(__file__).resolve().parents[2]


def _names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def test_raster_without_crs_and_vector_with_crs_is_refused(tmp_path):
    scene = write_scene(tmp_path / "s.tif", crs=None)
    vector = write_polygons(tmp_path / "v.gpkg", scene, training_boxes(scene))
    with pytest.raises(InputError, match="raster has no CRS"):
        contrastdm.train(scene.raster, vector, "class_name", tmp_path / "m.safetensors", **TINY)
    assert "m.safetensors" not in _names(tmp_path)


def test_raster_without_crs_works_with_vectors_in_its_coordinates(tmp_path):
    scene = write_scene(tmp_path / "s.tif", crs=None)
    frame = gpd.GeoDataFrame({"c": [scene.names[k - 1] for *_, k in training_boxes(scene)]},
                             geometry=[pixel_box(scene.transform, *b[:4]) for b in training_boxes(scene)])
    frame.to_file(tmp_path / "v.gpkg", driver="GPKG")
    result = contrastdm.run(scene.raster, tmp_path / "v.gpkg", "c", tmp_path / "m.safetensors", tmp_path / "map.tif",
                            **TINY)
    assert result.classification.pixels == 40 * 48
    with rasterio.open(tmp_path / "map.tif") as m:
        assert m.crs is None and m.transform == scene.transform


def test_all_nodata_raster_is_refused(tmp_path):
    scene = write_scene(tmp_path / "s.tif", nodata=0, nodata_border=30)
    vector = write_polygons(tmp_path / "v.gpkg", scene, training_boxes(scene))
    with pytest.raises(InputError, match="no valid pixels"):
        contrastdm.train(scene.raster, vector, "class_name", tmp_path / "m.safetensors", **TINY)


def test_extreme_integer_values_do_not_overflow(tmp_path):
    scene = write_scene(tmp_path / "s.tif", dtype="int32", noise=5)
    with rasterio.open(scene.raster, "r+") as ds:
        data = ds.read().astype(np.int64) * 1_000_000 - 2_000_000_000
        ds.write(np.clip(data, -(2**31), 2**31 - 1).astype("int32"))
    vector = write_polygons(tmp_path / "v.gpkg", scene, training_boxes(scene))
    result = contrastdm.run(scene.raster, vector, "class_name", tmp_path / "m.safetensors", tmp_path / "map.tif",
                            test_vector=vector, **TINY)
    assert result.metrics["overall_accuracy"] > 90


def test_vector_without_features_is_refused(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    gpd.GeoDataFrame({"c": []}, geometry=[], crs=32616).to_file(tmp_path / "empty.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="no features"):
        contrastdm.train(scene.raster, tmp_path / "empty.gpkg", "c", tmp_path / "m.safetensors", **TINY)


def test_single_class_is_refused(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    vector = write_polygons(tmp_path / "v.gpkg", scene, [(0, 0, 4, 4, 1), (10, 2, 14, 6, 1)])
    with pytest.raises(InputError, match="at least two classes"):
        contrastdm.train(scene.raster, vector, "class_name", tmp_path / "m.safetensors", **TINY)
    assert _names(tmp_path) == ["s.tif", "v.gpkg"]


def test_class_with_a_single_pixel_trains_with_a_warning(tmp_path):
    from contrastdm.feedback import RecordingFeedback

    scene = write_scene(tmp_path / "s.tif")
    boxes = training_boxes(scene)[:4] + [(20, 40, 21, 41, 3)]
    vector = write_polygons(tmp_path / "v.gpkg", scene, boxes)
    feedback = RecordingFeedback()
    contrastdm.train(scene.raster, vector, "class_name", tmp_path / "m.safetensors", feedback=feedback, **TINY)
    warnings = [e[2] for e in feedback.events if e[0] == "message" and e[1] == "warning"]
    assert any("'Woods' has only 1 training pixel" in w for w in warnings)
    assert contrastdm.load_model(tmp_path / "m.safetensors").metadata["training"]["pixels_per_class"]["Woods"] == 1


def test_truncated_model_file_is_refused(trained, tmp_path):
    data = Path(trained.model).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        contrastdm.classify(trained.raster, cut, tmp_path / "map.tif")
    assert _names(tmp_path) == ["cut.safetensors"]


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['CONTRASTDM_PWNED']}",))


def test_model_file_crafted_to_run_code_is_refused_without_running_it(trained, tmp_path, monkeypatch):
    marker = tmp_path / "code-was-executed"
    monkeypatch.setenv("CONTRASTDM_PWNED", str(marker))
    import torch

    for name, writer in (("pickle.safetensors", lambda f: pickle.dump(_Payload(), f)),
                         ("torchsave.safetensors", lambda f: torch.save({"w": _Payload()}, f))):
        path = tmp_path / name
        with open(path, "wb") as handle:
            writer(handle)
        with pytest.raises(ModelFileError, match="not a ContrastDM model file"):
            contrastdm.classify(trained.raster, path, tmp_path / "map.tif")
        done = subprocess.run([sys.executable, "-m", "contrastdm", "info", "--model", str(path)], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "core")})
        assert done.returncode == 1 and "not a ContrastDM model file" in done.stderr
    assert not marker.exists()


def test_model_for_other_band_names_is_refused(trained, tmp_path):
    other = write_scene(tmp_path / "o.tif")
    with rasterio.open(other.raster, "r+") as ds:
        for band in range(1, 13):
            ds.set_band_description(band, f"{400 + 10 * band} nm")
    model = contrastdm.load_model(trained.model)
    model.metadata["band_names"] = [f"{500 + 10 * b} nm" for b in range(1, 13)]
    with pytest.raises(ModelFileError, match="band names differ"):
        contrastdm.classify(other.raster, model, tmp_path / "map.tif")


@pytest.mark.parametrize("case", ["missing folder", "not a folder", "is a directory", "equals input", "duplicate"])
def test_unusable_output_paths_are_refused_before_training(scene, tmp_path, case):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    model, output = tmp_path / "m.safetensors", tmp_path / "map.tif"
    if case == "missing folder":
        output = tmp_path / "nowhere" / "map.tif"
    elif case == "not a folder":
        output = tmp_path / "afile" / "map.tif"
    elif case == "is a directory":
        output = tmp_path / "adir"
    elif case == "equals input":
        output = scene.raster
    else:
        output = model
    before = scene.raster.read_bytes()
    with pytest.raises(OutputError):
        contrastdm.run(scene.raster, scene.training, "class_name", model, output, **TINY)
    assert not model.exists() and scene.raster.read_bytes() == before


DISK_FULL_PROBE = """
import resource, signal, sys
import contrastdm
from contrastdm.errors import ContrastDMError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    contrastdm.classify(sys.argv[1], sys.argv[2], sys.argv[3], confidence=sys.argv[4], tile_size=64)
except ContrastDMError as exc:
    print("ERROR", exc)
    sys.exit(1)
"""


def test_disk_full_during_write_leaves_no_output(trained, tmp_path):
    big = write_scene(tmp_path / "big.tif", height=300, width=300)
    out = tmp_path / "out"
    out.mkdir()
    (out / "map.tif").write_bytes(b"old map")
    done = subprocess.run([sys.executable, "-c", DISK_FULL_PROBE, str(big.raster), str(trained.model),
                           str(out / "map.tif"), str(out / "conf.tif")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "core")}, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR" in done.stdout and "write" in done.stdout.lower()
    assert _names(out) == ["map.tif"] and (out / "map.tif").read_bytes() == b"old map"
