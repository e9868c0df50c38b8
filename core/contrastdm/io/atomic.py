"""All-or-nothing output files.

:func:`atomic_outputs` hands out temporary paths next to the final ones; the caller writes there,
and only when the ``with`` block ends without an exception are the temporaries (and every sidecar a
writer put next to them: ``.aux.xml``, ``.ovr``, ``.msk``, ``.qml``...) moved into place with
:func:`os.replace`. On any exception -- including ``KeyboardInterrupt`` and
:class:`~contrastdm.errors.Cancelled` -- every temporary is deleted and files that existed before are
left byte-identical.

Naming: the temporary for ``/d/map.tif`` is ``/d/.map.tmp-XXXXXXXX.tif`` (same directory, so the final
rename never crosses file systems, and same suffix, so drivers that look at the extension behave).
A sidecar of the temporary is any file whose name starts with the temporary's stem plus a dot, and it
is renamed by swapping that stem for the final stem: ``.map.tmp-XXXXXXXX.tif.aux.xml`` becomes
``map.tif.aux.xml`` and ``.map.tmp-XXXXXXXX.qml`` becomes ``map.qml``.

Sidecars that described an older file at the final path (``map.tif.aux.xml``, ``map.tif.ovr``,
``map.tif.msk``, ``map.qml``) are removed on success when the new output does not come
with its own, so they can never describe the new file wrongly.

The commit is two-phase: old finals and their stale sidecars are first renamed to backups, then the
new files are moved in; if any rename fails (on Windows: a file open in another program) everything
is rolled back and :class:`~contrastdm.errors.OutputError` is raised.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

from ..errors import OutputError

PathLike = Union[str, "os.PathLike[str]"]

# Sidecars GDAL/QGIS attach to ``<final>``: suffixes appended to the full name, and ones replacing the
# extension. Only these are treated as stale when an output is replaced.
_FULLNAME_SIDECARS = (".aux.xml", ".ovr", ".msk")
_STEM_SIDECARS = (".qml",)


def _split(name: str) -> tuple[str, str]:
    """``map.tif`` -> (``map``, ``.tif``); ``map`` -> (``map``, ``""``); ``.hidden`` -> (``.hidden``, ``""``)."""
    stem, suffix = os.path.splitext(name)
    return stem, suffix


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_output_path(path: PathLike, inputs: Iterable[PathLike] = ()) -> Path:
    """Raise :class:`OutputError` (one line) when ``path`` cannot be an output; return it absolute."""
    text = os.fspath(path)
    if not text:
        raise OutputError("output path is empty")
    final = Path(os.path.abspath(text))
    parent = final.parent
    if final.is_dir():
        raise OutputError(f"output path is a directory, not a file: {final}")
    if not parent.exists():
        raise OutputError(f"output folder does not exist: {parent}")
    if not parent.is_dir():
        raise OutputError(f"output folder is not a folder: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"output folder is not writable: {parent}")
    for item in inputs:
        if item is None:
            continue
        if _same_file(str(final), os.fspath(item)):
            raise OutputError(f"output would overwrite an input file: {final}")
    return final


def _sidecars(directory: Path, stem: str) -> list[str]:
    """Names in ``directory`` that start with ``stem + '.'`` (the file itself included)."""
    prefix = stem + "."
    try:
        return [entry.name for entry in os.scandir(directory) if entry.name.startswith(prefix)]
    except OSError:
        return []


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _reserve(directory: Path, prefix: str, suffix: str) -> Path:
    """Create an empty placeholder with a fresh name. Unlike :func:`tempfile.mkstemp` (mode 0600) it is
    created with mode 0666 minus the umask, so the final file gets the permissions of a normal file."""
    for _attempt in range(100):
        path = directory / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"output folder is not writable: {directory} ({exc.strerror or exc})") from None
        os.close(fd)
        return path
    raise OutputError(f"cannot create a temporary file in {directory}")


class _Output:
    def __init__(self, final: Path) -> None:
        self.final = final
        stem, suffix = _split(final.name)
        self.final_stem = stem
        self.suffix = suffix
        self.temp = _reserve(final.parent, f".{stem}.tmp-", suffix)
        self.temp_stem = self.temp.name[: len(self.temp.name) - len(suffix)] if suffix else self.temp.name

    def temp_files(self) -> list[str]:
        return _sidecars(self.temp.parent, self.temp_stem)

    def moves(self) -> list[tuple[Path, Path]]:
        """(temporary, final) pairs: sidecars first, the main file last."""
        pairs = []
        for name in sorted(self.temp_files()):
            if name == self.temp.name:
                continue
            pairs.append((self.temp.parent / name, self.final.parent / (self.final_stem + name[len(self.temp_stem):])))
        pairs.append((self.temp, self.final))
        return pairs

    def stale(self) -> list[Path]:
        """Existing files at the final path and its known sidecars that the commit will replace or retire."""
        candidates = [self.final]
        candidates += [self.final.parent / (self.final.name + s) for s in _FULLNAME_SIDECARS]
        if self.suffix:
            candidates += [self.final.parent / (self.final_stem + s) for s in _STEM_SIDECARS]
        found = []
        for path in candidates:
            if path in found:
                continue
            if path.exists() or path.is_symlink():
                if path.is_dir():
                    continue
                found.append(path)
        # Sidecars that new ones replace are listed too: all are backed up, then superseded or dropped.
        return found

    def cleanup(self) -> None:
        for name in self.temp_files():
            _remove(self.temp.parent / name)
        _remove(self.temp)


def _commit(outputs: Sequence[_Output]) -> None:
    for out in outputs:
        if not out.temp.exists():
            raise OutputError(f"output was not written: {out.final}")
    moves = [pair for out in outputs for pair in out.moves()]
    stale = list(dict.fromkeys(path for out in outputs for path in out.stale()))

    backups: list[tuple[Path, Path]] = []  # (backup, original)
    moved: list[Path] = []
    try:
        for path in stale:
            backup = _reserve(path.parent, f".{path.name}.old-", "")
            os.replace(path, backup)
            backups.append((backup, path))
        for src, dst in moves:
            os.replace(src, dst)
            moved.append(dst)
    except BaseException as exc:
        for dst in moved:
            with contextlib.suppress(OSError):
                os.remove(dst)
        for backup, original in reversed(backups):
            with contextlib.suppress(OSError):
                os.replace(backup, original)
        for backup, _original in backups:
            with contextlib.suppress(OSError):
                os.remove(backup)
        if isinstance(exc, OSError):
            target = exc.filename2 or exc.filename or ""
            raise OutputError(
                f"cannot replace output {target} ({exc.strerror or exc}); is it open in another program?"
            ) from None
        raise
    for backup, _original in backups:
        with contextlib.suppress(OSError):
            os.remove(backup)


@contextlib.contextmanager
def atomic_outputs(
    *paths: Optional[PathLike], inputs: Iterable[Optional[PathLike]] = ()
) -> Iterator[tuple[Optional[str], ...]]:
    """Yield one temporary path (``str``) per output path, moved into place only on success.

    ``None`` in ``paths`` stands for an output that is not wanted and yields ``None`` at that position,
    so optional outputs need no special casing. Raises :class:`OutputError` before yielding when an
    output folder is missing or not writable, an output is a directory, two outputs are the same
    file, or an output is one of ``inputs``. The caller must write every temporary path it is given
    (an empty placeholder exists there already, so any writer that truncates or replaces works).
    """
    inputs = [os.fspath(p) for p in inputs if p is not None]
    finals: list[Optional[Path]] = []
    for path in paths:
        if path is None:
            finals.append(None)
            continue
        final = check_output_path(path, inputs)
        for other in finals:
            if other is not None and _same_file(str(other), str(final)):
                raise OutputError(f"the same output path is given twice: {final}")
        stem, suffix = _split(final.name)
        for other in finals:
            if other is not None and suffix and _split(other.name)[0] == stem and other.parent == final.parent:
                # map.tif and map.json may coexist; map.tif and map.qml would collide on sidecars.
                if suffix.lower() == ".qml" or _split(other.name)[1].lower() == ".qml":
                    raise OutputError(f"output {final} would collide with the style file of {other}")
        finals.append(final)

    outputs: list[_Output] = []
    try:
        for final in finals:
            if final is not None:
                outputs.append(_Output(final))
        temps = []
        it = iter(outputs)
        for final in finals:
            temps.append(None if final is None else str(next(it).temp))
        yield tuple(temps)
        _commit(outputs)
    finally:
        for out in outputs:
            out.cleanup()


def check_outputs(paths: Iterable[Optional[PathLike]], inputs: Iterable[Optional[PathLike]] = ()) -> None:
    """Check every output up front (before any long work): usable, distinct, and not one of the inputs."""
    finals = [check_output_path(p, inputs) for p in paths if p is not None]
    seen: set[str] = set()
    for final in finals:
        key = os.path.normcase(os.path.realpath(final))
        if key in seen:
            raise OutputError(f"the same file is given for two outputs: {final}")
        seen.add(key)
