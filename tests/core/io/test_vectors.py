import geopandas as gpd
import numpy as np
import pytest
from scenes import pixel_box, training_boxes, write_polygons, write_scene
from shapely.geometry import LineString, Point, Polygon

from contrastdm.errors import InputError
from contrastdm.feedback import RecordingFeedback
from contrastdm.io.raster import describe, open_raster
from contrastdm.io.vectors import build_class_table, load_labels


def _info(scene):
    with open_raster(scene.raster) as ds:
        return describe(ds)


def _pixel_set(pixels):
    return set(zip(pixels.rows.tolist(), pixels.cols.tolist()))


def test_polygons_in_4326_land_on_the_same_pixels_as_in_utm(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    boxes = training_boxes(scene)
    utm = write_polygons(tmp_path / "utm.gpkg", scene, boxes)
    geo = write_polygons(tmp_path / "geo.gpkg", scene, boxes, to_crs="EPSG:4326")
    feedback = RecordingFeedback()
    a = load_labels(utm, "class_name", _info(scene))
    b = load_labels(geo, "class_name", _info(scene), feedback)
    assert _pixel_set(a) == _pixel_set(b)
    assert len(a) == sum((r1 - r0) * (c1 - c0) for r0, c0, r1, c1, _ in boxes)
    assert any("reprojected" in e[-1] for e in feedback.events if e[0] == "message")
    truth = scene.truth[b.rows, b.cols]
    names = [b.classes.names[b.classes.ids.index(c)] for c in b.class_ids]
    assert [scene.names[t - 1] for t in truth] == names


def test_string_classes_get_sorted_ids_and_integer_classes_keep_their_values():
    strings = build_class_table(["Woods", "Corn", None, "Corn"])
    assert strings.names == ("Corn", "Woods") and strings.ids == (1, 2)
    ints = build_class_table([5, 2, 2.0, None])
    assert ints.ids == (2, 5) and ints.names == ("2", "5")


def test_integer_class_field(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    path = write_polygons(tmp_path / "v.gpkg", scene, training_boxes(scene), field="code",
                          values={1: 10, 2: 20, 3: 30})
    pixels = load_labels(path, "code", _info(scene))
    assert pixels.classes.ids == (10, 20, 30)
    assert set(np.unique(pixels.class_ids)) == {10, 20, 30}


def test_polygons_partly_outside_are_clipped_and_fully_outside_are_counted(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=20, width=20)
    boxes = [(-5, -5, 3, 3, 1), (50, 50, 60, 60, 2), (10, 10, 12, 12, 2)]
    path = write_polygons(tmp_path / "v.gpkg", scene, boxes)
    feedback = RecordingFeedback()
    pixels = load_labels(path, "class_name", _info(scene), feedback)
    assert _pixel_set(pixels) == {(r, c) for r in range(3) for c in range(3)} | {
        (r, c) for r in (10, 11) for c in (10, 11)}
    assert pixels.counts["features_outside"] == 1


def test_overlap_of_different_classes_is_dropped_and_counted(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    path = write_polygons(tmp_path / "v.gpkg", scene, [(0, 0, 4, 4, 1), (2, 2, 6, 6, 2), (0, 0, 2, 2, 1)])
    pixels = load_labels(path, "class_name", _info(scene))
    assert pixels.counts["conflicting_pixels"] == 4
    assert (2, 2) not in _pixel_set(pixels) and (0, 0) in _pixel_set(pixels)
    assert len(pixels) == 16 + 16 - 2 * 4


def test_points_label_the_pixel_they_fall_in(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    x, y = scene.transform * (7.5, 3.5)
    frame = gpd.GeoDataFrame({"c": ["Corn", "Woods"]}, geometry=[Point(x, y), Point(*(scene.transform * (20.2, 9.9)))],
                             crs="EPSG:32616")
    frame.to_file(tmp_path / "p.gpkg", driver="GPKG")
    pixels = load_labels(tmp_path / "p.gpkg", "c", _info(scene))
    assert _pixel_set(pixels) == {(3, 7), (9, 20)}


def test_bad_vectors_get_one_clear_error(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    info = _info(scene)
    with pytest.raises(InputError, match="not found"):
        load_labels(tmp_path / "missing.gpkg", "c", info)
    path = write_polygons(tmp_path / "v.gpkg", scene, training_boxes(scene))
    with pytest.raises(InputError, match="class field 'nope' not found.*class_name"):
        load_labels(path, "nope", info)
    nulls = gpd.GeoDataFrame({"c": [None, None]}, geometry=[pixel_box(scene.transform, 0, 0, 2, 2)] * 2, crs=32616)
    nulls.to_file(tmp_path / "nulls.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="all values are NULL"):
        load_labels(tmp_path / "nulls.gpkg", "c", info)
    lines = gpd.GeoDataFrame({"c": ["a"]}, geometry=[LineString([(500000, 4479800), (500100, 4479700)])], crs=32616)
    lines.to_file(tmp_path / "lines.gpkg", driver="GPKG")
    with pytest.raises(InputError, match="polygons or points"):
        load_labels(tmp_path / "lines.gpkg", "c", info)
    far = write_polygons(tmp_path / "far.gpkg", scene, [(500, 500, 510, 510, 1)])
    with pytest.raises(InputError, match="no training vector feature covers"):
        load_labels(far, "class_name", info)


def test_invalid_geometry_is_repaired(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    x0, y0 = scene.transform * (0, 0)
    bowtie = Polygon([(x0, y0), (x0 + 60, y0 - 60), (x0 + 60, y0), (x0, y0 - 60)])  # self-intersecting
    gpd.GeoDataFrame({"c": ["Corn"]}, geometry=[bowtie], crs=32616).to_file(tmp_path / "b.gpkg", driver="GPKG")
    pixels = load_labels(tmp_path / "b.gpkg", "c", _info(scene))
    assert pixels.counts["repaired_geometry"] == 1 and len(pixels) > 0


def test_vector_without_crs_is_assumed_in_raster_crs(tmp_path):
    scene = write_scene(tmp_path / "s.tif")
    frame = gpd.GeoDataFrame({"c": ["Corn"]}, geometry=[pixel_box(scene.transform, 0, 0, 3, 3)])
    frame.to_file(tmp_path / "nocrs.gpkg", driver="GPKG")
    feedback = RecordingFeedback()
    pixels = load_labels(tmp_path / "nocrs.gpkg", "c", _info(scene), feedback)
    assert len(pixels) == 9
    assert any("no CRS" in e[-1] for e in feedback.events if e[0] == "message")
