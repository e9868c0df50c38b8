"""The scene cache: the raster fingerprint, the settings key and the store, on real files in tmp_path."""

import ast
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from contrastdm import cache as cache_module
from contrastdm.cache import (
    FOOTPRINT_BYTES,
    SAMPLE_BYTES,
    SceneCache,
    cache_dir,
    fingerprint_windows,
    raster_fingerprint,
    settings_key,
)
from contrastdm.feedback import RecordingFeedback

TRANSFORM = from_origin(500_000.0, 4_480_000.0, 10.0, 10.0)


def write_raster(path, data, transform=TRANSFORM, crs="EPSG:32616", nodata=None, **options):
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
                       crs=crs, transform=transform, nodata=nodata, **options) as dst:
        dst.write(data)
    return Path(path)


def cube(bands=4, height=40, width=48, dtype="uint16", seed=0):
    return np.random.default_rng(seed).integers(1, 5000, size=(bands, height, width)).astype(dtype)


def fingerprint(path):
    with rasterio.open(path) as ds:
        return raster_fingerprint(ds)


def warnings_of(feedback):
    return [e for e in feedback.events if e[0] == "message" and e[1] == "warning"]


def entry_files(directory):
    return sorted(p.name for p in Path(directory).glob("*.safetensors"))


class CountingDataset:
    """An open dataset that counts the pixel bytes its reads return."""

    def __init__(self, ds):
        self._ds = ds
        self.bytes_read = 0
        self.reads = 0

    def read(self, *args, **kwargs):
        out = self._ds.read(*args, **kwargs)
        self.bytes_read += out.nbytes
        self.reads += 1
        return out

    def read_masks(self, *args, **kwargs):
        out = self._ds.read_masks(*args, **kwargs)
        self.bytes_read += out.nbytes
        self.reads += 1
        return out

    def __getattr__(self, name):
        return getattr(self._ds, name)


ARRAYS = {
    "float32": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
    "float64": np.array([np.pi, -0.0, 1e300]),
    "float16": np.array([0.5, 2.0], dtype=np.float16),
    "int64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
    "int32": np.array([[-7, 7]], dtype=np.int32),
    "int16": np.array([-3], dtype=np.int16),
    "int8": np.array([-128, 127], dtype=np.int8),
    "uint64": np.array([2**63 + 5], dtype=np.uint64),
    "uint32": np.array([4_000_000_000], dtype=np.uint32),
    "uint16": np.array([65535], dtype=np.uint16),
    "uint8": np.arange(256, dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "empty": np.zeros((0, 5), dtype=np.float32),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "big_endian": np.array([1.5, -2.25], dtype=">f8"),
    "strided": np.arange(20, dtype=np.int64)[::3],
}


# ------------------------------------------------------------------------------------------------ keys

def test_settings_key_is_canonical_and_sensitive():
    base = settings_key("reduce", {"method": "pca", "components": 30, "bands": [1, 2, 3]})
    assert len(base) == 64 and int(base, 16) >= 0
    assert settings_key("reduce", {"bands": (1, 2, 3), "components": np.int64(30), "method": "pca"}) == base
    assert settings_key("reduce", {"method": "pca", "components": 31, "bands": [1, 2, 3]}) != base
    assert settings_key("reduce", {"method": "mnf", "components": 30, "bands": [1, 2, 3]}) != base
    assert settings_key("reduce", {"method": "pca", "components": 30, "bands": [1, 2]}) != base
    assert settings_key("bands", {"method": "pca", "components": 30, "bands": [1, 2, 3]}) != base
    with pytest.raises(TypeError):
        settings_key("reduce", {"callback": object()})
    with pytest.raises(ValueError):
        settings_key("", {})


# ------------------------------------------------------------------------------------------------ store and load

def test_store_then_load_round_trips_every_dtype_and_the_meta(tmp_path):
    feedback = RecordingFeedback()
    store = SceneCache(tmp_path / "scenes", feedback=feedback)
    meta = {"kept_bands": [0, 2, 5], "explained": 0.97, "note": "été"}
    assert store.store("f" * 64, "reduce", {"components": 3}, ARRAYS, meta) is True
    assert len(entry_files(tmp_path / "scenes")) == 1
    hit = store.load("f" * 64, "reduce", {"components": 3})
    assert hit is not None
    arrays, got_meta = hit
    assert got_meta == meta
    assert sorted(arrays) == sorted(ARRAYS)
    for name, expected in ARRAYS.items():
        assert arrays[name].dtype == expected.dtype.newbyteorder("<"), name
        assert arrays[name].shape == expected.shape, name
        np.testing.assert_array_equal(arrays[name], expected, err_msg=name)
        assert arrays[name].flags.writeable, name
    assert warnings_of(feedback) == []
    # Stored in a temporary next to the final file and moved into place: nothing else is left behind.
    assert sorted(os.listdir(tmp_path / "scenes")) == entry_files(tmp_path / "scenes")


def test_entry_is_safetensors_with_the_record_in_the_header(tmp_path):
    from safetensors import safe_open

    store = SceneCache(tmp_path)
    settings = {"components": 3, "method": "pca"}
    assert store.store("ab" * 32, "reduce", settings, {"mean": np.ones(4, np.float32)}, {"k": 1})
    (path,) = tmp_path.glob("*.safetensors")
    assert path == store.path_for("ab" * 32, "reduce", settings)
    assert path.name.startswith("reduce-")
    with safe_open(str(path), framework="numpy") as handle:
        record = json.loads(handle.metadata()["contrastdm-cache"])
        assert list(handle.keys()) == ["mean"]
    assert record["format"] == "contrastdm-scene-cache"
    assert record["format_version"] == 1
    assert record["stage"] == "reduce"
    assert record["settings"] == settings
    assert record["settings_key"] == settings_key("reduce", settings)
    assert record["fingerprint"] == "ab" * 32
    assert record["meta"] == {"k": 1}
    assert len(record["arrays_sha256"]) == 64
    assert b"pickle" not in path.read_bytes()


def test_a_changed_settings_value_misses_without_a_warning(tmp_path):
    feedback = RecordingFeedback()
    store = SceneCache(tmp_path, feedback=feedback)
    assert store.store("f1", "select_bands", {"threshold": 0.5, "max_bands": 60}, {"keep": np.arange(60)}, {})
    assert store.load("f1", "select_bands", {"threshold": 0.6, "max_bands": 60}) is None
    assert store.load("f1", "select_bands", {"threshold": 0.5, "max_bands": 61}) is None
    assert store.load("f1", "encoder", {"threshold": 0.5, "max_bands": 60}) is None
    assert store.load("f2", "select_bands", {"threshold": 0.5, "max_bands": 60}) is None
    assert warnings_of(feedback) == []
    assert len(entry_files(tmp_path)) == 1  # a miss leaves the other entry alone
    assert store.load("f1", "select_bands", {"max_bands": 60, "threshold": 0.5}) is not None


def test_an_entry_of_another_engine_version_is_not_used(tmp_path, monkeypatch):
    store = SceneCache(tmp_path)
    monkeypatch.setattr(cache_module, "__version__", "0.0.1")
    assert store.store("f", "reduce", {}, {"a": np.ones(3)}, {})
    monkeypatch.undo()
    assert store.load("f", "reduce", {}) is None
    assert store.store("f", "reduce", {}, {"a": np.zeros(3)}, {})
    np.testing.assert_array_equal(store.load("f", "reduce", {})[0]["a"], np.zeros(3))


def test_arrays_that_cannot_be_stored_raise_and_write_nothing(tmp_path):
    store = SceneCache(tmp_path)
    with pytest.raises(TypeError):
        store.store("f", "reduce", {}, {"z": np.zeros(2, dtype=complex)}, {})
    with pytest.raises(TypeError):
        store.store("f", "reduce", {}, {"z": [1, 2, 3]}, {})
    with pytest.raises(TypeError):
        store.store("f", "reduce", {}, {"z": np.zeros(2)}, {"when": object()})
    assert entry_files(tmp_path) == []


def test_disabled_cache_neither_stores_nor_loads(tmp_path):
    enabled = SceneCache(tmp_path / "on")
    assert enabled.store("f", "reduce", {}, {"a": np.ones(2)}, {})
    disabled = SceneCache(tmp_path / "on", enabled=False)
    assert disabled.load("f", "reduce", {}) is None
    off = SceneCache(tmp_path / "off", enabled=False)
    assert off.store("f", "reduce", {}, {"a": np.ones(2)}, {}) is False
    assert not (tmp_path / "off").exists()


def test_default_directory_follows_the_cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRASTDM_CACHE_DIR", str(tmp_path / "root"))
    assert cache_dir("products") == tmp_path / "root" / "products"
    store = SceneCache()
    assert store.directory == tmp_path / "root" / "scenes"
    assert store.store("f", "reduce", {}, {"a": np.ones(2)}, {})
    assert len(entry_files(tmp_path / "root" / "scenes")) == 1


# ------------------------------------------------------------------------------------------------ damaged entries

def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _garbage(path):
    path.write_bytes(b"this is not a safetensors file at all")


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _flip_last_byte, _garbage, _empty])
def test_damaged_entry_is_a_miss_with_one_warning_and_is_rebuilt(tmp_path, damage):
    feedback = RecordingFeedback()
    store = SceneCache(tmp_path, feedback=feedback)
    arrays = {"weights": np.arange(1000, dtype=np.float64), "flags": np.ones(7, bool)}
    assert store.store("f", "encoder", {"epochs": 3}, arrays, {"loss": 0.25})
    path = store.path_for("f", "encoder", {"epochs": 3})
    damage(path)
    assert store.load("f", "encoder", {"epochs": 3}) is None
    warnings = warnings_of(feedback)
    assert len(warnings) == 1
    assert "encoder" in warnings[0][2] and str(path) in warnings[0][2]
    assert not path.exists()
    assert store.store("f", "encoder", {"epochs": 3}, arrays, {"loss": 0.25})
    hit = store.load("f", "encoder", {"epochs": 3})
    assert hit is not None and hit[1] == {"loss": 0.25}
    np.testing.assert_array_equal(hit[0]["weights"], arrays["weights"])
    assert len(warnings_of(feedback)) == 1


def test_an_entry_moved_to_another_key_is_a_mismatch(tmp_path):
    feedback = RecordingFeedback()
    store = SceneCache(tmp_path, feedback=feedback)
    assert store.store("f", "reduce", {"components": 10}, {"a": np.ones(10)}, {})
    wrong = store.path_for("f", "reduce", {"components": 20})
    shutil.copyfile(store.path_for("f", "reduce", {"components": 10}), wrong)
    assert store.load("f", "reduce", {"components": 20}) is None
    assert len(warnings_of(feedback)) == 1
    assert not wrong.exists()
    assert store.load("f", "reduce", {"components": 10}) is not None


# ------------------------------------------------------------------------------------------------ unwritable folders

def test_uncreatable_directory_store_returns_false_with_one_warning(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    feedback = RecordingFeedback()
    store = SceneCache(blocker / "scenes", feedback=feedback)
    assert store.store("f", "reduce", {}, {"a": np.ones(3)}, {}) is False
    assert store.store("f", "encoder", {}, {"a": np.ones(3)}, {}) is False
    assert len(warnings_of(feedback)) == 1
    assert str(blocker / "scenes") in warnings_of(feedback)[0][2]
    assert store.load("f", "reduce", {}) is None
    assert store.entries() == [] and store.clear() == 0

    as_file = SceneCache(blocker, feedback=RecordingFeedback())  # the folder itself is a file
    assert as_file.store("f", "reduce", {}, {"a": np.ones(3)}, {}) is False
    assert len(warnings_of(as_file.feedback)) == 1
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores directory permissions, so chmod cannot make a folder read-only")
def test_read_only_directory_store_returns_false_with_one_warning(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    writer = SceneCache(folder)
    assert writer.store("f", "reduce", {}, {"a": np.ones(3)}, {})
    os.chmod(folder, 0o555)
    try:
        feedback = RecordingFeedback()
        store = SceneCache(folder, feedback=feedback)
        assert store.store("f", "encoder", {}, {"a": np.ones(3)}, {}) is False
        assert len(warnings_of(feedback)) == 1
        assert store.load("f", "reduce", {}) is not None  # reading still works
        assert len(warnings_of(feedback)) == 1
    finally:
        os.chmod(folder, 0o755)
    assert len(entry_files(folder)) == 1
    assert [n for n in os.listdir(folder) if n.startswith(".")] == []


# ------------------------------------------------------------------------------------------------ size bound

def _age(path, seconds_ago):
    when = time.time() - seconds_ago
    os.utime(path, (when, when))


def test_size_bound_evicts_the_least_recently_used_entry(tmp_path):
    arrays = {"a": np.zeros(2000, dtype=np.float64)}
    probe = SceneCache(tmp_path / "probe")
    probe.store("f", "stage_a", {}, arrays, {})
    size = probe.entries()[0].size

    store = SceneCache(tmp_path / "scenes", max_bytes=int(2.5 * size))
    assert store.store("f", "stage_a", {}, arrays, {})
    assert store.store("f", "stage_b", {}, arrays, {})
    path_a, path_b = store.path_for("f", "stage_a", {}), store.path_for("f", "stage_b", {})
    _age(path_a, 300)  # a is the oldest...
    _age(path_b, 200)
    assert store.load("f", "stage_a", {}) is not None  # ...until it is used again
    assert os.path.getmtime(path_a) > os.path.getmtime(path_b)
    assert store.store("f", "stage_c", {}, arrays, {})
    assert path_a.exists()
    assert not path_b.exists()
    assert store.path_for("f", "stage_c", {}).exists()
    assert store.total_bytes() <= store.max_bytes
    assert [e.stage for e in store.entries()] == ["stage_a", "stage_c"]


def test_the_entry_just_stored_stays_even_when_others_look_newer(tmp_path):
    arrays = {"a": np.zeros(2000, dtype=np.float64)}
    probe = SceneCache(tmp_path / "probe")
    probe.store("f", "stage_a", {}, arrays, {})
    store = SceneCache(tmp_path / "scenes", max_bytes=int(1.5 * probe.entries()[0].size))
    assert store.store("f", "stage_a", {}, arrays, {})
    _age(store.path_for("f", "stage_a", {}), -3600)  # a clock set ahead, another machine on a shared folder
    assert store.store("f", "stage_b", {}, arrays, {})
    assert [e.stage for e in store.entries()] == ["stage_b"]


def test_an_entry_larger_than_the_bound_is_not_kept(tmp_path):
    feedback = RecordingFeedback()
    store = SceneCache(tmp_path, max_bytes=50_000, feedback=feedback)
    assert store.store("f", "small", {}, {"a": np.zeros(100)}, {})
    assert store.store("f", "huge", {}, {"a": np.zeros(10_000)}, {}) is False
    assert entry_files(tmp_path) == [store.path_for("f", "small", {}).name]
    assert store.load("f", "huge", {}) is None
    assert any(e[0] == "message" and e[1] == "info" and "huge" in e[2] for e in feedback.events)
    assert warnings_of(feedback) == []


def test_stale_temporaries_of_interrupted_writes_are_removed(tmp_path):
    stale = tmp_path / ".reduce-abc.tmp-0123abcd.safetensors"
    fresh = tmp_path / ".reduce-def.tmp-4567cdef.safetensors"
    other = tmp_path / "notes.txt"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    _age(stale, 2 * 3600)
    store = SceneCache(tmp_path)
    assert store.store("f", "reduce", {}, {"a": np.ones(2)}, {})
    assert not stale.exists()
    assert fresh.exists()  # may be another process's write in progress
    assert other.exists()


def test_entries_and_clear(tmp_path):
    store = SceneCache(tmp_path)
    assert store.store("fp1", "reduce", {"n": 1}, {"a": np.ones(2)}, {})
    assert store.store("fp2", "encoder", {"n": 2}, {"a": np.ones(3)}, {})
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    listed = {e.stage: e for e in store.entries()}
    assert set(listed) == {"reduce", "encoder", None}
    assert listed["reduce"].fingerprint == "fp1" and listed["reduce"].settings == {"n": 1}
    assert listed["encoder"].size == os.path.getsize(listed["encoder"].path)
    assert store.clear() == 3
    assert entry_files(tmp_path) == []
    assert (tmp_path / "notes.txt").read_text() == "keep"


# ------------------------------------------------------------------------------------------------ fingerprint

def test_small_raster_is_hashed_whole(tmp_path):
    data = cube()
    path = write_raster(tmp_path / "scene.tif", data)
    with rasterio.open(path) as ds:
        assert [(w.height, w.width) for w in fingerprint_windows(ds)] == [(40, 48)]
    before = fingerprint(path)
    assert len(before) == 64 and before == fingerprint(path)
    with rasterio.open(path, "r+") as ds:
        ds.write(np.array([[data[3, 39, 47] + 1]], dtype="uint16"), 4, window=Window(47, 39, 1, 1))
    assert fingerprint(path) != before


def test_large_raster_fingerprint_follows_sampled_pixels_only(tmp_path):
    data = cube(bands=4, height=640, width=640, dtype="float32")
    assert data.nbytes > SAMPLE_BYTES
    path = write_raster(tmp_path / "scene.tif", data)
    with rasterio.open(path) as ds:
        windows = fingerprint_windows(ds)
    assert len(windows) > 1
    before = fingerprint(path)

    sampled = windows[len(windows) // 2]
    row, col = int(sampled.row_off) + int(sampled.height) - 1, int(sampled.col_off) + int(sampled.width) - 1
    with rasterio.open(path, "r+") as ds:
        ds.write(np.array([[data[2, row, col] + 0.5]], dtype="float32"), 3, window=Window(col, row, 1, 1))
    changed = fingerprint(path)
    assert changed != before

    covered = np.zeros((640, 640), bool)
    for w in windows:
        covered[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] = True
    row, col = map(int, np.argwhere(~covered)[0])
    with rasterio.open(path, "r+") as ds:
        ds.write(np.array([[12345.0]], dtype="float32"), 1, window=Window(col, row, 1, 1))
    assert fingerprint(path) == changed  # a sample: pixels outside the windows are not covered


def test_fingerprint_follows_georeferencing_bands_and_metadata(tmp_path):
    data = cube()
    base = fingerprint(write_raster(tmp_path / "base.tif", data))
    shifted = from_origin(500_010.0, 4_480_000.0, 10.0, 10.0)
    variants = {
        "transform": write_raster(tmp_path / "transform.tif", data, transform=shifted),
        "pixel size": write_raster(tmp_path / "pixel.tif", data, transform=from_origin(500_000.0, 4_480_000.0, 20, 20)),
        "crs": write_raster(tmp_path / "crs.tif", data, crs="EPSG:32617"),
        "band count": write_raster(tmp_path / "bands.tif", np.concatenate([data, data[:1]])),
        "fewer bands": write_raster(tmp_path / "fewer.tif", data[:3]),
        "nodata": write_raster(tmp_path / "nodata.tif", data, nodata=0),
        "dtype": write_raster(tmp_path / "dtype.tif", data.astype("int32")),
    }
    prints = {name: fingerprint(path) for name, path in variants.items()}
    for name, value in prints.items():
        assert value != base, name
    assert len(set(prints.values())) == len(prints)

    path = write_raster(tmp_path / "edited.tif", data)
    assert fingerprint(path) == base
    with rasterio.open(path, "r+") as ds:
        ds.transform = shifted
    assert fingerprint(path) == prints["transform"]
    with rasterio.open(path, "r+") as ds:
        ds.set_band_description(1, "Band 1 (450.0 nm)")
        ds.update_tags(2, wavelength="500")
    assert fingerprint(path) not in (base, prints["transform"])


def test_a_copied_raster_hits_the_same_entry(tmp_path):
    (tmp_path / "a").mkdir()
    original = write_raster(tmp_path / "a" / "scene.tif", cube())
    copy = tmp_path / "b" / "renamed copy.tif"
    copy.parent.mkdir()
    shutil.copyfile(original, copy)
    _age(copy, 10_000)
    assert fingerprint(copy) == fingerprint(original)

    store = SceneCache(tmp_path / "cache")
    settings = {"components": 4}
    assert store.store(fingerprint(original), "reduce", settings, {"mean": np.ones(4)}, {})
    assert store.load(fingerprint(copy), "reduce", settings) is not None

    with rasterio.open(copy, "r+") as ds:  # the content changes: a miss
        ds.write(np.full((1, 1), 7, dtype="uint16"), 1, window=Window(0, 0, 1, 1))
    assert store.load(fingerprint(copy), "reduce", settings) is None
    with rasterio.open(copy, "r+") as ds:
        ds.transform = from_origin(0, 100, 1, 1)
    assert store.load(fingerprint(copy), "reduce", settings) is None


@pytest.mark.parametrize("layout", [{}, {"tiled": True, "blockxsize": 256, "blockysize": 256},
                                    {"interleave": "band"}], ids=["strips", "tiles", "band-interleaved"])
def test_fingerprint_of_a_4000x4000x50_raster_reads_a_few_mb(tmp_path, layout):
    path = tmp_path / "big.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4000, height=4000, count=50, dtype="float32",
                       crs="EPSG:32616", transform=TRANSFORM, sparse_ok=True, **layout) as dst:
        dst.write(np.ones((50, 16, 16), "float32"), window=Window(0, 0, 16, 16))  # 3.2 GB, stored sparse
    assert os.path.getsize(path) < 50 * 1024**2
    with rasterio.open(path) as ds:
        counting = CountingDataset(ds)
        start = time.monotonic()
        value = raster_fingerprint(counting)
        elapsed = time.monotonic() - start
        windows = fingerprint_windows(ds)
        block_h, block_w = ds.block_shapes[0]
        assert value == raster_fingerprint(ds)
    assert 4 <= len(windows) <= 64
    assert 0 < counting.bytes_read <= SAMPLE_BYTES
    assert counting.bytes_read == sum(int(w.height * w.width) for w in windows) * 50 * 4
    blocks = {(int(w.row_off) // block_h, int(w.col_off) // block_w) for w in windows}
    for w in windows:  # each window lies in one block
        assert (int(w.row_off + w.height - 1) // block_h, int(w.col_off + w.width - 1) // block_w) == \
            (int(w.row_off) // block_h, int(w.col_off) // block_w)
    assert len(blocks) * block_h * block_w * 50 * 4 <= FOOTPRINT_BYTES
    assert elapsed < 30.0


# ------------------------------------------------------------------------------------------------ imports

def test_module_stays_light():
    tree = ast.parse(Path(cache_module.__file__).read_text())
    everywhere, top_level = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            roots = {n.split(".")[0] for n in names if not (isinstance(node, ast.ImportFrom) and node.level)}
            everywhere |= roots
            if node in tree.body:
                top_level |= roots
    assert not everywhere & {"torch", "pickle", "dill", "joblib", "cloudpickle"}
    assert top_level <= {"__future__", "contextlib", "hashlib", "json", "os", "re", "time", "dataclasses",
                         "pathlib", "numpy"}
    assert {"rasterio", "safetensors"} <= everywhere
