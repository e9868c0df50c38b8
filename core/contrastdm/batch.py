"""Classifying a list of rasters with one model: a campaign's scenes, shared among torchrun's ranks.

Raster ``i`` goes to rank ``i % world``, which classifies it alone (its tiles are not split further) and writes
its maps; one process runs the same command over every raster in turn. Each map is written atomically, so a
rank that fails leaves no partial file, only the maps finished before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .feedback import NullFeedback, check_cancelled


@dataclass
class BatchResult:
    outputs: list[dict]  # per raster, in list order: {"raster", "map", "confidence"}
    classified: list  # this rank's ClassifyResults
    ranks: int = 1
    seconds: float = 0.0
    device: str = ""
    pixels: int = field(default=0)


def read_raster_list(path) -> list[str]:
    """The rasters named in a text file, one per line (blank lines and ``#`` comments skipped; relative paths
    are taken from the file's folder). Every one must exist."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the raster list {path}: {exc}") from exc
    rasters = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            raster = Path(line) if Path(line).is_absolute() else path.parent / line
            rasters.append(str(raster))
    if not rasters:
        raise InputError(f"the raster list {path} names no raster")
    missing = [r for r in rasters if not Path(r).is_file()]
    if missing:
        raise InputError(f"{len(missing)} raster(s) of the list not found, first: {missing[0]}")
    return rasters


def output_paths(rasters, output_dir, confidence: bool = True) -> list[dict]:
    """``<stem>_classes.tif`` (and ``<stem>_confidence.tif``) in ``output_dir`` for each raster; two rasters of
    the same name are refused, since their maps would overwrite each other."""
    output_dir = Path(output_dir)
    seen: dict[str, str] = {}
    outputs = []
    for raster in rasters:
        stem = Path(raster).stem
        if stem in seen:
            raise InputError(f"two rasters of the list are named '{stem}' ({seen[stem]} and {raster}): their maps "
                             "would have the same name; rename or copy one")
        seen[stem] = raster
        outputs.append({"raster": str(raster), "map": str(output_dir / f"{stem}_classes.tif"),
                        "confidence": str(output_dir / f"{stem}_confidence.tif") if confidence else None})
    return outputs


class _Share:
    """Progress of one raster of this rank's share, as a fraction of the whole share."""

    def __init__(self, inner, done: int, total: int) -> None:
        self.inner, self.done, self.total = inner, done, total

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        self.inner.progress(stage, (self.done + fraction) / self.total,
                            f"raster {self.done + 1} of {self.total}: {message}")

    def message(self, text: str, level: str = "info") -> None:
        self.inner.message(text, level)

    def cancelled(self) -> bool:
        return self.inner.cancelled()


def classify_many(rasters, model, output_dir, *, confidence: bool = True, feedback=None, **options) -> BatchResult:
    """Classify every raster of ``rasters`` with ``model`` (a path or a loaded Model) into ``output_dir``
    (:func:`output_paths`); ``options`` go to :func:`~contrastdm.classify.classify` (tile_size, device,
    smoothing_radius, cog, precision...). Under torchrun the ranks share the rasters; every rank returns
    once all are done."""
    import time

    from . import distributed
    from .bundle import Model, load_model
    from .classify import classify
    from .device import resolve_device

    started = time.monotonic()
    feedback = feedback or NullFeedback()
    outputs = output_paths(rasters, output_dir, confidence)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    distributed.setup(resolve_device(options.get("device", "auto")))
    ranks = distributed.current()
    if not isinstance(model, Model):
        model = load_model(model, device="cpu")
    mine = list(range(ranks.rank, len(outputs), ranks.world_size)) if ranks.active else list(range(len(outputs)))
    results = []
    for done, index in enumerate(mine):
        check_cancelled(feedback)
        out = outputs[index]
        results.append(classify(out["raster"], model, out["map"], confidence=out["confidence"], shard_tiles=False,
                                feedback=_Share(feedback, done, len(mine)), **options))
        feedback.message(f"{out['raster']} -> {out['map']}")
    distributed.barrier()
    return BatchResult(outputs, results, ranks.world_size if ranks.active else 1, time.monotonic() - started,
                       results[0].device if results else "", sum(r.pixels for r in results))
