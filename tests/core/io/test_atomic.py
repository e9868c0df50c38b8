import os

import pytest

from contrastdm.errors import Cancelled, OutputError
from contrastdm.io.atomic import atomic_outputs


def _listing(directory):
    return sorted(os.listdir(directory))


def test_success_moves_files_and_sidecars(tmp_path):
    final = tmp_path / "map.tif"
    other = tmp_path / "report.html"
    with atomic_outputs(final, None, other) as (temp, nothing, temp2):
        assert nothing is None
        assert os.path.dirname(temp) == str(tmp_path)
        assert os.path.basename(temp).startswith(".map.tmp-") and temp.endswith(".tif")
        assert not final.exists()
        with open(temp, "w") as f:
            f.write("pixels")
        stem = os.path.splitext(temp)[0]
        with open(temp + ".aux.xml", "w") as f:
            f.write("<PAMDataset/>")
        with open(stem + ".qml", "w") as f:
            f.write("<qgis/>")
        with open(temp2, "w") as f:
            f.write("<html/>")
    assert _listing(tmp_path) == ["map.qml", "map.tif", "map.tif.aux.xml", "report.html"]
    assert final.read_text() == "pixels"
    assert (tmp_path / "map.tif.aux.xml").read_text() == "<PAMDataset/>"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt(), Cancelled("stop")])
def test_exception_leaves_nothing_new_and_old_files_untouched(tmp_path, error):
    old = tmp_path / "map.tif"
    old.write_bytes(b"old file")
    (tmp_path / "map.tif.aux.xml").write_text("old aux")
    with pytest.raises(type(error)):
        with atomic_outputs(old, tmp_path / "conf.tif") as (temp, temp2):
            with open(temp, "wb") as f:
                f.write(b"new")
            with open(temp + ".aux.xml", "w") as f:
                f.write("new aux")
            with open(temp2, "wb") as f:
                f.write(b"new")
            raise error
    assert old.read_bytes() == b"old file"
    assert (tmp_path / "map.tif.aux.xml").read_text() == "old aux"
    assert _listing(tmp_path) == ["map.tif", "map.tif.aux.xml"]


def test_replaces_existing_file_and_drops_stale_sidecars(tmp_path):
    final = tmp_path / "map.tif"
    final.write_bytes(b"old")
    for name in ("map.tif.aux.xml", "map.tif.ovr", "map.qml"):
        (tmp_path / name).write_text("stale")
    (tmp_path / "notes.txt").write_text("keep")
    with atomic_outputs(final) as (temp,):
        with open(temp, "wb") as f:
            f.write(b"new")
        with open(temp + ".aux.xml", "w") as f:
            f.write("fresh")
    assert final.read_bytes() == b"new"
    assert _listing(tmp_path) == ["map.tif", "map.tif.aux.xml", "notes.txt"]
    assert (tmp_path / "map.tif.aux.xml").read_text() == "fresh"


def test_missing_directory(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        with atomic_outputs(tmp_path / "nope" / "map.tif"):
            pass


def test_file_as_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        with atomic_outputs(blocker / "map.tif"):
            pass


def test_output_is_a_directory(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        with atomic_outputs(tmp_path):
            pass


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            with atomic_outputs(locked / "map.tif"):
                pass
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_directory_even_for_root():
    # os.access() says yes to root everywhere; the placeholder file that reserves the name is the real test.
    with pytest.raises(OutputError, match="not writable"):
        with atomic_outputs("/proc/contrastdm-map.tif"):
            pass


def test_output_equal_to_input(tmp_path):
    raster = tmp_path / "in.tif"
    raster.write_bytes(b"input")
    with pytest.raises(OutputError, match="overwrite an input"):
        with atomic_outputs(tmp_path / "x" / ".." / "in.tif", inputs=[str(raster)]):
            pass
    assert raster.read_bytes() == b"input"


def test_same_output_twice(tmp_path):
    with pytest.raises(OutputError, match="twice"):
        with atomic_outputs(tmp_path / "a.tif", tmp_path / "a.tif"):
            pass


def test_errors_are_one_line(tmp_path):
    with pytest.raises(OutputError) as info:
        with atomic_outputs(tmp_path / "missing" / "deeper" / "map.tif"):
            pass
    assert "\n" not in str(info.value)
    assert _listing(tmp_path) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_final_file_has_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_outputs(tmp_path / "map.tif") as (temp,):
            with open(temp, "w") as f:
                f.write("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "map.tif").stat().st_mode & 0o777 == 0o644


def test_output_not_written_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="not written"):
        with atomic_outputs(tmp_path / "a.tif", tmp_path / "b.tif") as (temp_a, temp_b):
            with open(temp_a, "w") as f:
                f.write("x")
            os.remove(temp_b)
    assert _listing(tmp_path) == []


def test_failed_commit_rolls_back(tmp_path):
    (tmp_path / "a.tif").write_bytes(b"old a")
    (tmp_path / "a.tif.aux.xml").write_text("old aux")
    with pytest.raises(OutputError, match="cannot replace output"):
        with atomic_outputs(tmp_path / "a.tif", tmp_path / "b.tif") as (temp_a, temp_b):
            for temp in (temp_a, temp_b):
                with open(temp, "wb") as f:
                    f.write(b"new")
            with open(temp_a + ".aux.xml", "w") as f:
                f.write("new aux")
            (tmp_path / "b.tif").mkdir()  # appears after the checks: the second rename fails
            (tmp_path / "b.tif" / "busy").write_text("x")
    assert (tmp_path / "a.tif").read_bytes() == b"old a"
    assert (tmp_path / "a.tif.aux.xml").read_text() == "old aux"
    assert _listing(tmp_path) == ["a.tif", "a.tif.aux.xml", "b.tif"]
