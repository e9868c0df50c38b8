"""The classification job: raster + model -> class map GeoTIFF (and confidence / probabilities), tile by tile.

Each tile is read with a halo of ``patch_size // 2`` and evaluated densely by the network in one pass, so
memory is bounded by the tile size, not the scene size, and results equal patch-by-patch prediction.
With edge-preserving smoothing on, the halo grows by the filter's reach: tiles still give the same map as
one tile over the whole scene. On a CPU two tiles are computed at a time, which gives the same map too.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.errors import RasterioError

from .bundle import Model, load_model, match_bands
from .choices import PRECISIONS
from .errors import InputError, OutputError
from .feedback import NullFeedback, QuietFeedback, check_cancelled
from .io.atomic import check_outputs
from .io.raster import (
    describe,
    halo_cache_bytes,
    iter_tiles,
    open_raster,
    read_with_halo,
    reflect_pad,
)
from .io.writer import CONFIDENCE_NODATA, ClassificationWriter
from .spatial import guide_from_features, smooth_probabilities
from .spatial import halo as smoothing_halo


@dataclass
class ClassifyResult:
    map_path: str
    confidence_path: str | None
    probabilities_path: str | None
    pixels: int
    seconds: float
    pixels_per_second: float
    device: str
    class_counts: dict


def _predict(network, features: np.ndarray, device, dtype=None) -> np.ndarray:
    """Class probabilities ``[K, h, w]`` for a padded feature tile ``[C, H, W]`` (any strides: a pixel-major
    array's transpose goes in without a copy)."""
    import torch

    with torch.inference_mode():
        tile = torch.from_numpy(features).unsqueeze(0).to(device)
        return network.predict_dense(tile, dtype=dtype or torch.float32).float().cpu().numpy()


def _predict_split(network, features: np.ndarray, halo: int, device, feedback, dtype=None) -> np.ndarray:
    """:func:`_predict`; on GPU out-of-memory, halve the tile and retry."""
    import torch

    try:
        return _predict(network, features, device, dtype)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        height = features.shape[1] - 2 * halo
        if height < 8:
            raise
        feedback.message("GPU out of memory: halving the tile and retrying", "warning")
        middle = height // 2
        top = _predict_split(network, features[:, : middle + 2 * halo], halo, device, feedback, dtype)
        bottom = _predict_split(network, features[:, middle:], halo, device, feedback, dtype)
        return np.concatenate([top, bottom], axis=1)


class _Member:
    """The spectral member for inference: BatchNorm folded into the linear layers, evaluated band-major
    (weights @ bands), so the tile's standardised bands go in without a transpose and the probabilities
    come out as maps ``[K, h, w]``. Chunks of a few thousand pixels keep each layer's output in cache
    (about twice as fast as chunks of 65536)."""

    def __init__(self, member, dtype, chunk: int = 4096) -> None:
        from torch import nn

        from .model.encoder import fold_batchnorm

        layers = []  # [linear, its BatchNorm, ReLU after it]
        for module in member:
            if isinstance(module, nn.Linear):
                layers.append([module, None, False])
            elif isinstance(module, nn.BatchNorm1d):
                layers[-1][1] = module
            elif isinstance(module, nn.ReLU):
                layers[-1][2] = True
            elif not isinstance(module, nn.Dropout):
                raise TypeError(f"unexpected layer in the spectral member: {module}")
        self.layers = []
        for linear, bn, relu in layers:
            weight, bias = fold_batchnorm(linear, bn)
            self.layers.append((weight.to(dtype), bias.to(dtype)[:, None], relu))
        self.dtype, self.chunk = dtype, chunk

    def __call__(self, bands: np.ndarray) -> np.ndarray:
        """Probabilities ``[K, h, w]`` of standardised bands ``[B, h, w]``."""
        import torch

        spectra = torch.from_numpy(bands.reshape(bands.shape[0], -1))
        out = torch.empty((self.layers[-1][0].shape[0], spectra.shape[1]))
        device = self.layers[0][0].device
        with torch.inference_mode():
            for start in range(0, spectra.shape[1], self.chunk):
                h = spectra[:, start:start + self.chunk].to(device=device, dtype=self.dtype)
                for weight, bias, relu in self.layers:
                    h = torch.addmm(bias, weight, h)
                    if relu:
                        h.relu_()
                out[:, start:start + self.chunk] = torch.softmax(h.float(), dim=0).cpu()
        return out.numpy().reshape(-1, *bands.shape[1:])


def _map_tags(model: Model, info) -> dict:
    """What the map records of the bands it was made from (1-based band numbers, wavelengths in nm)."""
    bands = [i + 1 for i in info.band_indices]
    wavelengths = [info.wavelengths[i] for i in info.band_indices] if info.wavelengths else None
    return {"CONTRASTDM_BANDS": json.dumps({"bands": bands, "wavelengths": wavelengths,
                                            "reduction": model.metadata.get("reduction")})}


class _Pipeline:
    """Per-tile work between reading and writing: preprocessing, the network, the spectral member, fusion and
    smoothing. Per-pixel steps run on the part of the tile inside the scene and are reflect-padded after,
    which equals padding the raw bands first (they commute) at a fraction of the cost."""

    def __init__(self, model: Model, device, radius: int, weight: float, dtype, feedback) -> None:
        self.model, self.device, self.radius, self.dtype, self.feedback = model, device, radius, dtype, feedback
        self.config = model.network.config
        self.patch_halo = model.patch_size // 2
        self.halo = self.patch_halo + smoothing_halo(radius)
        self.weight = weight
        self.member = None if model.spectral is None or weight == 0 else _Member(model.spectral, dtype)
        from .model.spectral import fuse

        self.fuse = fuse
        self.guide_scale = model.preprocessor.output_std()
        self.local = threading.local()

    def read(self, ds, window, info):
        side = int(max(window.width, window.height)) + 2 * self.halo
        buffer = getattr(self.local, "buffer", None)  # one per thread, reused: a fresh one costs page faults
        if buffer is None or buffer.size < info.read_count * side * side:
            buffer = self.local.buffer = np.empty(info.read_count * side * side, dtype=np.float32)
        try:
            return read_with_halo(ds, window, self.halo, info, out=buffer)
        except RasterioError as exc:
            raise InputError(f"cannot read the raster at {window}: {exc}") from exc

    def parts(self, data, valid, pads):
        """``(network probabilities [K, h, w], member probabilities or None, smoothing guide or None, validity)``
        of a tile read with :meth:`read`, the patch halo removed and the smoothing reach still around it."""
        features, bands = self.model.preprocessor.apply_in_place(data, valid)
        empty = _nothing_valid(valid)
        member = None if self.member is None or empty else self.member(bands)
        features, valid = reflect_pad(features, pads, axes=(0, 1)), reflect_pad(valid, pads)
        r = self.patch_halo
        inner = (slice(r, features.shape[0] - r), slice(r, features.shape[1] - r))
        if empty:  # no valid pixel within the tile's reach: its maps are nodata, so the network is not run
            probs = np.zeros((self.model.network.n_classes, features.shape[0] - 2 * r, features.shape[1] - 2 * r),
                             np.float32)
        else:
            probs = _predict_split(self.model.network, features.transpose(2, 0, 1), r, self.device, self.feedback,
                                   self.dtype)
        if member is not None:
            member = reflect_pad(member, pads)[(slice(None), *inner)]
        guide = guide_from_features(features[inner].transpose(2, 0, 1), self.guide_scale) if self.radius else None
        return probs, member, guide, valid[inner]

    def combine(self, probs, member, guide, valid, weight: float, radius: int) -> np.ndarray:
        """The tile's :meth:`parts` fused with ``weight`` and smoothed with ``radius`` (at most the pipeline's),
        the pipeline's smoothing reach cut off."""
        if member is not None:
            probs = self.fuse(probs, member, weight)
        if radius and valid.any():
            probs = smooth_probabilities(probs, guide, radius, self.config.smoothing_eps, valid)
        reach = smoothing_halo(self.radius)
        return probs[:, reach: probs.shape[1] - reach, reach: probs.shape[2] - reach]

    def probabilities(self, data, valid, pads) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities ``[K, h, w]`` of a tile and its validity ``[h, w]``, halo removed."""
        parts = self.parts(data, valid, pads)
        valid, reach = parts[3], smoothing_halo(self.radius)
        return (self.combine(*parts, self.weight, self.radius),
                valid[reach: valid.shape[0] - reach, reach: valid.shape[1] - reach])


def _nothing_valid(valid: np.ndarray) -> bool:
    """True for a tile read (with its halo) that holds no valid pixel: a swath's empty corners, a masked area."""
    return not valid.any()


def _reading_cache(ds, info, tile_size: int, halo: int):
    """A context that grows the engine's GDAL block cache to what tiled reading with a halo needs (see
    :func:`~contrastdm.io.raster.halo_cache_bytes`), at most to GDAL's own default (5% of the memory).
    A cache size the user chose is left alone."""
    import rasterio
    from rasterio.env import getenv, hasenv

    from .io.gdal_env import CACHE_MAX_BYTES

    current = getenv().get("GDAL_CACHEMAX") if hasenv() else None
    if os.environ.get("GDAL_CACHEMAX") or current not in (None, CACHE_MAX_BYTES):
        return contextlib.nullcontext()
    wanted = min(halo_cache_bytes(ds, info, tile_size, halo), _memory_bytes() // 20)
    return rasterio.Env(GDAL_CACHEMAX=wanted) if wanted > CACHE_MAX_BYTES else contextlib.nullcontext()


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): assume a modest machine
        return 8 << 30


def _tile_probabilities(pipeline, ds, info, windows, workers: int):
    """``(window, probabilities, validity)`` per tile, in order. With ``workers`` > 1 that many tiles are
    computed at once, each on one thread: unlike threads splitting every layer, a worker never waits for
    another at a barrier (costly when other programs take turns on the cores), and reading, smoothing and
    the rest that numpy runs on one core overlap too. Reads take turns (one dataset handle)."""
    if workers <= 1:
        for window in windows:
            yield (window, *pipeline.probabilities(*pipeline.read(ds, window, info)))
        return
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()

    def job(window):
        with lock:
            tile = pipeline.read(ds, window, info)
        return pipeline.probabilities(*tile)

    queue = collections.deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="contrastdm-tile") as pool:
        try:
            for window in windows:
                queue.append((window, pool.submit(job, window)))
                if len(queue) > workers:
                    window, future = queue.popleft()
                    yield (window, *future.result())
            while queue:
                window, future = queue.popleft()
                yield (window, *future.result())
        finally:
            for _, future in queue:
                future.cancel()


@contextlib.contextmanager
def _tile_workers(device):
    """How many tiles to compute at once: two on a CPU with several threads, each with half of them (torch's
    thread setting is restored after); one on a GPU."""
    import torch

    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield 1
        return
    torch.set_num_threads(threads // 2)
    try:
        yield 2
    finally:
        torch.set_num_threads(threads)


def _write_tiles(writer, tiles, class_ids: np.ndarray, total: int, feedback) -> np.ndarray:
    """Labels and confidence of each tile written; pixel counts per class (index 0: unclassified)."""
    counts = np.zeros(class_ids.size + 1, dtype=np.int64)
    for done, (window, probs, centre) in enumerate(tiles):
        check_cancelled(feedback)
        best = probs.argmax(axis=0)
        labels = np.where(centre, class_ids[best], 0).astype(np.int64)
        conf = np.where(centre, probs.max(axis=0), CONFIDENCE_NODATA).astype(np.float32)
        counts += np.bincount(np.where(centre, best + 1, 0).ravel(), minlength=counts.size)
        writer.write(window, labels, conf if writer.confidence_path else None,
                     probs if writer.probabilities_path else None)
        feedback.progress("classify", (done + 1) / total, f"tile {done + 1} of {total}")
    check_cancelled(feedback)
    return counts


def _compute_dtype(device, precision: str):
    """The network's compute precision: bfloat16 where asked for, or ("auto") on a CPU that computes in
    bfloat16 natively (AVX512-BF16 or AMX); float32 otherwise."""
    import torch

    from .device import native_bfloat16

    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return torch.bfloat16 if native_bfloat16(device) else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def _part_folder(output) -> Path:
    """Where the ranks of one torchrun job leave their tiles: beside the output (a shared file system across
    nodes), named after the output and the job so that every rank finds the same folder."""
    output = Path(output)
    job = os.environ.get("TORCHELASTIC_RUN_ID") or os.environ.get("MASTER_PORT") or "job"
    return output.parent / f".{output.name}.{job}.parts"


def _save_tiles(tiles, indices, folder: Path) -> None:
    """This rank's tiles as plain .npy files (loaded without pickle), each moved into place whole, so the rank
    that writes never reads half a file."""
    for index, (_window, probs, centre) in zip(indices, tiles):
        for kind, array in (("v", centre), ("p", probs)):  # "p" last: its presence says the tile is complete
            np.save(folder / f".{index}.{kind}.npy", array)
            os.replace(folder / f".{index}.{kind}.npy", folder / f"{index}.{kind}.npy")


def _arrived(pending: list, windows, folder: Path):
    """Yield the other ranks' tiles among ``pending`` whose files are complete; return those still missing."""
    missing = []
    for index in pending:
        if (folder / f"{index}.p.npy").is_file():
            yield (windows[index], np.load(folder / f"{index}.p.npy", allow_pickle=False),
                   np.load(folder / f"{index}.v.npy", allow_pickle=False))
        else:
            missing.append(index)
    return missing


def _merged_tiles(mine, indices, windows, folder: Path, feedback):
    """What rank 0 writes: its own tiles as it computes them and, between them, the other ranks' tiles as their
    files appear, so writing overlaps the other ranks' work (the map does not depend on the order)."""
    from .distributed import TIMEOUT

    pending = sorted(set(range(len(windows))) - set(indices))
    with contextlib.closing(mine):
        for tile in mine:
            yield tile
            pending = yield from _arrived(pending, windows, folder)
    waited = time.monotonic()
    while pending:
        check_cancelled(feedback)
        before = len(pending)
        pending = yield from _arrived(pending, windows, folder)
        if len(pending) < before:
            waited = time.monotonic()
        elif time.monotonic() - waited > TIMEOUT.total_seconds():
            raise InputError(f"no tile came from the other ranks for {TIMEOUT}; {len(pending)} still missing")
        else:
            time.sleep(0.05)


def _classified_tiles(pipeline, ds, info, windows, workers, output, feedback, shard: bool = True):
    """The tiles' ``(window, probabilities, validity)``, for the rank that writes (None for the others).

    One process computes them as it writes. Under torchrun the ranks share the tiles, each a contiguous run of
    them in reading order (a band of the scene: a tile's halo reaches into its neighbours' blocks, which a
    rank then decompresses once rather than for tiles of another rank); the others save theirs beside the
    output, and rank 0 writes its own as it computes them and the others' as they arrive, so the maps equal
    one process's; nothing is written if a rank fails."""
    from . import distributed

    ranks = distributed.current()
    if not ranks.active or not shard:
        return contextlib.closing(_tile_probabilities(pipeline, ds, info, windows, workers))
    folder = _part_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    first, last = (len(windows) * r // ranks.world_size for r in (ranks.rank, ranks.rank + 1))
    indices = range(first, last)
    mine = _tile_probabilities(pipeline, ds, info, [windows[i] for i in indices], workers)
    if ranks.is_main:
        return _parts(folder, _merged_tiles(mine, indices, windows, folder, feedback))
    with contextlib.closing(mine):
        _save_tiles(_reporting(mine, len(indices), feedback), indices, folder)
    return _parts(folder, None)


@contextlib.contextmanager
def _parts(folder: Path, tiles):
    import shutil

    try:
        yield tiles
    finally:
        from . import distributed

        distributed.barrier()  # rank 0 has written: the parts can go
        if distributed.current().is_main:
            shutil.rmtree(folder, ignore_errors=True)


def _reporting(tiles, total: int, feedback):
    for done, tile in enumerate(tiles):
        check_cancelled(feedback)
        feedback.progress("classify", (done + 1) / max(1, total), f"tile {done + 1} of {total}")
        yield tile


def classify(raster, model, output, *, confidence=None, probabilities=None, tile_size: int = 256,
             device: str = "auto", smoothing_radius: int | None = None, spectral_weight: float | None = None,
             cog: bool = False, precision: str = "float32", shard_tiles: bool = True,
             feedback=None) -> ClassifyResult:
    """Classify every pixel of ``raster`` with ``model`` (a path or a loaded :class:`Model`).

    ``smoothing_radius``: edge-preserving smoothing of the probabilities (0 = off); None takes the model's.
    ``spectral_weight``: the spectral member's share of the probabilities (0 = the network alone, 1 = the member
    alone), for a model that has one; None takes the model's.
    ``cog``: write the outputs as Cloud-Optimized GeoTIFFs with overviews.
    ``precision``: "float32" (exact); "bfloat16" runs the 2D convolutions and the spectral member in bfloat16,
    about a fifth less CPU time where the processor computes it natively, at the price of a few near-tied
    labels (0.05-0.06% of Indian Pines'); "auto" takes bfloat16 on such a processor, float32 elsewhere.
    The raster's bands are matched to the model's by wavelength when both carry wavelengths, else by index.
    Under ``torchrun`` the ranks share the tiles and rank 0 writes the maps, equal to one process's
    (``shard_tiles=False``: this rank classifies the whole raster and writes its maps alone, as
    :func:`~contrastdm.batch.classify_many` has each rank do with its share of a list).
    """
    from . import distributed
    from .device import describe_device, resolve_device

    feedback = feedback or NullFeedback()
    started = time.monotonic()
    if int(tile_size) < 1:
        raise InputError(f"tile size must be a positive number of pixels, not {tile_size}")
    torch_device = distributed.setup(resolve_device(device))
    if not distributed.current().is_main:  # one voice per job; every rank still stops when cancelled
        feedback = QuietFeedback(feedback)
    dtype = _compute_dtype(torch_device, precision)
    model_path = None
    if not isinstance(model, Model):
        model_path = model
        model = load_model(model, device="cpu")
    check_outputs([output, confidence, probabilities], inputs=[raster, model_path])
    model.network.to(torch_device).eval()
    if model.spectral is not None:
        model.spectral.to(torch_device).eval()
    radius = model.network.config.smoothing_radius if smoothing_radius is None else smoothing_radius
    if int(radius) < 0:
        raise InputError(f"smoothing radius must be 0 (off) or a positive number of pixels, not {radius}")
    weight = model.network.config.spectral_weight if spectral_weight is None else float(spectral_weight)
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"spectral member weight must lie within 0..1, not {spectral_weight}")
    pipeline = _Pipeline(model, torch_device, int(radius), weight, dtype, feedback)
    with open_raster(raster) as ds:
        info = describe(ds)
        info = info.with_bands(match_bands(model, info))
        windows = list(iter_tiles(info.width, info.height, tile_size))
        writer = functools.partial(ClassificationWriter, output, width=info.width, height=info.height, crs=info.crs,
                                   transform=info.transform, classes=model.classes, confidence_path=confidence,
                                   probabilities_path=probabilities,
                                   inputs=[raster] + ([model_path] if model_path else []),
                                   tags=_map_tags(model, info), cog=cog)
        try:
            with _reading_cache(ds, info, tile_size, pipeline.halo), _tile_workers(torch_device) as workers, \
                    _classified_tiles(pipeline, ds, info, windows, workers, output, feedback,
                                      shard_tiles) as tiles:
                counts = None
                if tiles is not None:
                    with writer() as maps:
                        counts = _write_tiles(maps, tiles, model.class_ids, len(windows), feedback)
        except (OSError, RasterioError) as exc:  # reads are handled above: this is the disk or the folder
            raise OutputError(f"cannot write the outputs (disk full or folder not writable?): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if counts is None:  # another rank of a torchrun job wrote the maps
        return ClassifyResult(str(output), None, None, 0, time.monotonic() - started, 0.0,
                              describe_device(torch_device), {})
    seconds = time.monotonic() - started
    pixels = info.width * info.height
    names = {"unclassified": int(counts[0])}
    names.update({c.name: int(n) for c, n in zip(model.classes, counts[1:])})
    return ClassifyResult(str(output), str(confidence) if confidence else None,
                          str(probabilities) if probabilities else None, pixels, seconds,
                          pixels / max(seconds, 1e-9), describe_device(torch_device), names)
