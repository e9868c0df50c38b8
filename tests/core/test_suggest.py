"""Where to label next: sites where a real (tiny) model is least sure, against the probabilities
`contrastdm classify` writes, through the Python API and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from scenes import write_scene

from contrastdm.errors import Cancelled, InputError, ModelFileError, OutputError
from contrastdm.feedback import RecordingFeedback
from contrastdm.suggest import FIELDS, LAYER, suggest_sites

ROOT = Path(__file__).resolve().parents[2]


def cli(*args):
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    return subprocess.run([sys.executable, "-m", "contrastdm", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


def read_sites(path) -> gpd.GeoDataFrame:
    return gpd.read_file(path, layer=LAYER)


@pytest.fixture(scope="module")
def probabilities(trained, tmp_path_factory):
    """The class probabilities of the map, written separately by `contrastdm classify`."""
    folder = tmp_path_factory.mktemp("classified")
    done = cli("classify", "--raster", trained.raster, "--model", trained.model, "--output", folder / "map.tif",
               "--probabilities", folder / "probs.tif", "--device", "cpu", "--progress", "none")
    assert done.returncode == 0, done.stderr
    with rasterio.open(folder / "probs.tif") as probs, rasterio.open(folder / "map.tif") as labels:
        ids = [int(probs.tags(band)["CLASS_ID"]) for band in range(1, probs.count + 1)]
        return probs.read(), labels.read(1), ids


def within_areas(labels, radius):
    """The map's labels, 0 where a pixel's square window of ``radius`` holds another label or leaves the map."""
    out = np.zeros_like(labels)
    h, w = labels.shape
    for r in range(radius, h - radius):
        for c in range(radius, w - radius):
            window = labels[r - radius:r + radius + 1, c - radius:c + radius + 1]
            if labels[r, c] != 0 and (window == labels[r, c]).all():
                out[r, c] = labels[r, c]
    return out


def greedy_sites(probs, labels, count, distance, area_radius=1) -> list[tuple[int, int]]:
    """The documented rule, over every classified pixel at once."""
    rows, cols = np.nonzero(within_areas(labels, area_radius))
    p = probs[:, rows, cols].astype(np.float64)
    order = np.argsort(-p, axis=0, kind="stable")
    margin = p[order[0], np.arange(rows.size)] - p[order[1], np.arange(rows.size)]
    queues = {}
    for k in np.unique(order[0]):
        mine = np.flatnonzero(order[0] == k)
        queues[k] = sorted((margin[i], rows[i], cols[i]) for i in mine)
    classes = sorted(queues, key=lambda k: queues[k][0])
    chosen = []
    while len(chosen) < count:
        picks = []
        for k in classes:
            while queues[k]:
                site = queues[k].pop(0)
                if all((site[1] - r) ** 2 + (site[2] - c) ** 2 >= distance ** 2 for _, r, c in chosen + picks):
                    picks.append(site)
                    break
        if not picks:
            break
        chosen += sorted(picks)
    return [(int(r), int(c)) for _, r, c in chosen[:count]]


def test_sites_are_spread_ranked_and_described(trained, tmp_path):
    output = tmp_path / "sites.gpkg"
    feedback = RecordingFeedback()
    result = suggest_sites(trained.raster, trained.model, output, count=12, min_distance=5, device="cpu",
                           tile_size=16, feedback=feedback)
    sites = read_sites(output)
    assert result.sites == len(sites) == 12 and result.min_distance == 5
    assert list(sites.columns) == [*FIELDS, "geometry"]
    assert sites.crs.to_epsg() == 32616
    assert list(sites["rank"]) == list(range(1, 13))
    xy = np.column_stack([sites.geometry.x, sites.geometry.y])
    expected = np.array([trained.transform * (c + 0.5, r + 0.5) for r, c in zip(sites["row"], sites["col"])])
    assert np.allclose(xy, expected)  # pixel centres
    pixels = sites[["row", "col"]].to_numpy(float)
    gaps = np.hypot(*(pixels[:, None, :] - pixels[None, :, :]).transpose(2, 0, 1))
    assert gaps[~np.eye(12, dtype=bool)].min() >= 5
    assert set(sites["predicted"]) == {"Corn", "Soybean", "Woods"} and result.sites_per_class == {
        "Corn": 4, "Soybean": 4, "Woods": 4}  # one site per class per round
    for _name, group in sites.groupby("predicted"):
        assert list(group["margin"]) == sorted(group["margin"])  # least sure first within a class
    for start in range(0, 12, 3):  # and within a round
        assert list(sites["margin"][start:start + 3]) == sorted(sites["margin"][start:start + 3])
    assert (sites["predicted_id"] != sites["runner_up_id"]).all()
    assert sites["margin"].between(0, 1).all()
    assert np.allclose(sites["margin"], sites["probability"] - sites["runner_up_probability"])
    names = dict(zip(sites["predicted_id"], sites["predicted"])) | dict(zip(sites["runner_up_id"], sites["runner_up"]))
    assert names == {1: "Corn", 2: "Soybean", 3: "Woods"}
    assert "suggest" in feedback.stages and "classify" in feedback.stages


def test_margins_are_those_of_the_classified_map(trained, probabilities, tmp_path):
    probs, labels, ids = probabilities
    output = tmp_path / "sites.gpkg"
    suggest_sites(trained.raster, trained.model, output, count=20, min_distance=3, device="cpu")
    sites = read_sites(output)
    for site in sites.itertuples():
        at = probs[:, site.row, site.col].astype(np.float64)
        first, second = np.argsort(-at, kind="stable")[:2]
        assert abs(site.margin - (at[first] - at[second])) < 1e-6
        assert (site.predicted_id, site.runner_up_id) == (ids[first], ids[second])
        assert labels[site.row, site.col] == site.predicted_id


@pytest.mark.parametrize("candidates", [1, 200_000])
def test_sites_follow_the_rule_over_every_pixel_whatever_the_memory_budget(trained, probabilities, tmp_path,
                                                                           candidates):
    probs, labels, _ids = probabilities
    output = tmp_path / "sites.gpkg"
    result = suggest_sites(trained.raster, trained.model, output, count=30, min_distance=4, device="cpu",
                           tile_size=16, candidates=candidates)
    sites = read_sites(output)
    assert list(zip(sites["row"], sites["col"])) == greedy_sites(probs, labels, 30, 4)
    assert result.sites == 30


def test_default_distance_and_too_few_sites_for_the_count(trained, probabilities, tmp_path):
    feedback = RecordingFeedback()
    result = suggest_sites(trained.raster, trained.model, tmp_path / "sites.gpkg", count=500, device="cpu",
                           feedback=feedback)
    assert result.min_distance == 10  # the larger of 10 and the model's 5-pixel patch
    sites = read_sites(tmp_path / "sites.gpkg")
    assert 3 <= len(sites) < 500 and result.sites == len(sites)
    assert list(zip(sites["row"], sites["col"])) == greedy_sites(*probabilities[:2], 500, 10)
    warnings = [text for kind, level, *text in feedback.events if kind == "message" and level == "warning"]
    assert any(f"only {len(sites)} sites at least 10 pixels apart" in t[0] for t in warnings)


def test_nodata_pixels_are_never_suggested(trained, tmp_path):
    border = write_scene(tmp_path / "border.tif", nodata=0, nodata_border=6)
    suggest_sites(border.raster, trained.model, tmp_path / "sites.gpkg", count=60, min_distance=2, device="cpu")
    sites = read_sites(tmp_path / "sites.gpkg")
    assert len(sites) == 60
    assert sites["row"].between(6, 40 - 7).all() and sites["col"].between(6, 48 - 7).all()


@pytest.mark.parametrize("case", ["count", "distance", "area", "format", "raster", "model", "bands", "folder"])
def test_bad_input_is_one_clear_error_and_leaves_the_old_file(trained, tmp_path, case):
    output = tmp_path / "sites.gpkg"
    output.write_bytes(b"previous sites")
    other = write_scene(tmp_path / "five.tif", bands=5).raster if case == "bands" else trained.raster
    kwargs = dict(raster=other, model=trained.model, output=output, count=5)
    error, text = {
        "count": (InputError, "the number of sites must be 1 or more, not 0"),
        "distance": (InputError, "minimum distance between sites must be 0 or more pixels"),
        "area": (InputError, "the area radius must be 0 or more pixels, not -1"),
        "format": (OutputError, "give the output a .gpkg name"),
        "raster": (InputError, "raster not found"),
        "model": (ModelFileError, "model file not found"),
        "bands": (ModelFileError, "5"),
        "folder": (OutputError, "output folder does not exist"),
    }[case]
    kwargs.update({"count": {"count": 0}, "distance": {"min_distance": -1},
                   "area": {"area_radius": -1}, "format": {"output": tmp_path / "s.shp"},
                   "raster": {"raster": tmp_path / "nope.tif"}, "model": {"model": tmp_path / "nope.safetensors"},
                   "folder": {"output": tmp_path / "missing" / "s.gpkg"}}.get(case, {}))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(error, match=None) as raised:
        suggest_sites(device="cpu", **kwargs)
    assert text in str(raised.value) and "\n" not in str(raised.value)
    assert output.read_bytes() == b"previous sites"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("after", [1, 3])  # while classifying, while reading the probabilities
def test_cancelled_run_leaves_the_old_file(trained, tmp_path, after):
    output = tmp_path / "sites.gpkg"
    output.write_bytes(b"previous sites")
    with pytest.raises(Cancelled):
        suggest_sites(trained.raster, trained.model, output, count=5, device="cpu", tile_size=16,
                      feedback=RecordingFeedback(cancel_after=after))
    assert output.read_bytes() == b"previous sites"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.gpkg"]


def test_command_line(trained, tmp_path):
    output = tmp_path / "sites.gpkg"
    done = cli("suggest", "--raster", trained.raster, "--model", trained.model, "--output", output, "--count", 6,
               "--min-distance", 4, "--device", "cpu", "--progress", "jsonl")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    result = events[-1]
    assert result["type"] == "result" and result["command"] == "suggest"
    assert result["outputs"] == {"sites": str(output)} and result["metrics"]["sites"] == 6
    assert {e["stage"] for e in events if e["type"] == "progress"} == {"classify", "suggest"}
    assert len(read_sites(output)) == 6
    done = cli("suggest", "--raster", trained.raster, "--model", trained.model, "--output", output, "--count", 3,
               "--device", "cpu", "--cpu-precision", "bfloat16")
    assert done.returncode == 0 and "sites" in done.stdout and len(read_sites(output)) == 3  # replaced


@pytest.mark.parametrize("args, expected", [
    (["--count", "0"], "the number of sites must be 1 or more, not 0"),
    (["--min-distance", "-2"], "the minimum distance between sites must be 0 or more pixels, not -2"),
])
def test_command_line_bad_input_is_one_line_and_exit_1(trained, tmp_path, args, expected):
    output = tmp_path / "sites.gpkg"
    done = cli("suggest", "--raster", trained.raster, "--model", trained.model, "--output", output, *args,
               "--device", "cpu")
    assert done.returncode == 1
    assert done.stderr == f"contrastdm: error: {expected}\n"
    assert not output.exists() and list(tmp_path.iterdir()) == []


def test_command_line_band_mismatch(trained, tmp_path):
    other = write_scene(tmp_path / "five.tif", bands=5)
    done = cli("suggest", "--raster", other.raster, "--model", trained.model, "--output", tmp_path / "sites.gpkg",
               "--progress", "jsonl")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["type"] == "error"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["five.tif"]


@pytest.mark.parametrize("radius", [0, 2])
def test_sites_lie_inside_areas_of_one_class_unless_told_otherwise(trained, probabilities, tmp_path, radius):
    probs, labels, _ids = probabilities
    output = tmp_path / "sites.gpkg"
    suggest_sites(trained.raster, trained.model, output, count=15, min_distance=3, device="cpu", tile_size=16,
                  area_radius=radius)
    sites = read_sites(output)
    assert list(zip(sites["row"], sites["col"])) == greedy_sites(probs, labels, 15, 3, area_radius=radius)
    inside = within_areas(labels, 1)
    if radius == 0:  # any classified pixel: the least sure ones lie on boundaries between the classes
        assert not all(inside[r, c] for r, c in zip(sites["row"], sites["col"]))
    else:
        assert all(within_areas(labels, radius)[r, c] for r, c in zip(sites["row"], sites["col"]))
