"""The classification job: raster + model -> class map GeoTIFF (and confidence / probabilities), tile by tile.

Each tile is read with a halo of ``patch_size // 2`` and evaluated densely by the network in one pass, so
memory is bounded by the tile size, not the scene size, and results equal patch-by-patch prediction.
With edge-preserving smoothing on, the halo grows by the filter's reach: tiles still give the same map as
one tile over the whole scene.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
from rasterio.errors import RasterioError

from .bundle import Model, load_model, match_bands
from .errors import InputError, OutputError
from .feedback import NullFeedback, check_cancelled
from .io.atomic import check_outputs
from .io.raster import describe, iter_tiles, open_raster, read_padded, tile_count
from .io.writer import ClassificationWriter
from .spatial import guide_from_features, smooth_probabilities
from .spatial import halo as smoothing_halo

CONFIDENCE_NODATA = -1.0


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


def _predict(network, features: np.ndarray, device) -> np.ndarray:
    """Class probabilities ``[K, h, w]`` for a padded feature tile; on GPU out-of-memory, halve the tile."""
    import torch

    try:
        with torch.no_grad():
            tile = torch.from_numpy(features).unsqueeze(0).to(device)
            return network.predict_dense(tile).float().cpu().numpy()
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise


def _predict_split(network, features: np.ndarray, halo: int, device, feedback) -> np.ndarray:
    import torch

    try:
        return _predict(network, features, device)
    except torch.cuda.OutOfMemoryError:
        height = features.shape[1] - 2 * halo
        if height < 8:
            raise
        feedback.message("GPU out of memory: halving the tile and retrying", "warning")
        middle = height // 2
        top = _predict_split(network, features[:, : middle + 2 * halo], halo, device, feedback)
        bottom = _predict_split(network, features[:, middle:], halo, device, feedback)
        return np.concatenate([top, bottom], axis=1)


def _member_probabilities(model: Model, standardised: np.ndarray, device) -> np.ndarray:
    """The spectral member's class probabilities ``[K, h, w]`` for standardised bands ``[h, w, B]``."""
    from .model.spectral import member_probabilities

    height, width, bands = standardised.shape
    spectra = standardised.reshape(-1, bands)
    return member_probabilities(model.spectral, spectra, device).T.reshape(-1, height, width)


def _map_tags(model: Model, info) -> dict:
    """What the map records of the bands it was made from (1-based band numbers, wavelengths in nm)."""
    bands = [i + 1 for i in info.band_indices]
    wavelengths = [info.wavelengths[i] for i in info.band_indices] if info.wavelengths else None
    return {"CONTRASTDM_BANDS": json.dumps({"bands": bands, "wavelengths": wavelengths,
                                            "reduction": model.metadata.get("reduction")})}


def classify(raster, model, output, *, confidence=None, probabilities=None, tile_size: int = 256,
             device: str = "auto", smoothing_radius: int | None = None, cog: bool = False,
             feedback=None) -> ClassifyResult:
    """Classify every pixel of ``raster`` with ``model`` (a path or a loaded :class:`Model`).

    ``smoothing_radius``: edge-preserving smoothing of the probabilities (0 = off); None takes the model's.
    ``cog``: write the outputs as Cloud-Optimized GeoTIFFs with overviews.
    The raster's bands are matched to the model's by wavelength when both carry wavelengths, else by index.
    """
    from .device import describe_device, resolve_device
    from .model.spectral import fuse as spectral_fuse

    feedback = feedback or NullFeedback()
    started = time.monotonic()
    if int(tile_size) < 1:
        raise InputError(f"tile size must be a positive number of pixels, not {tile_size}")
    torch_device = resolve_device(device)
    model_path = None
    if not isinstance(model, Model):
        model_path = model
        model = load_model(model, device="cpu")
    check_outputs([output, confidence, probabilities], inputs=[raster, model_path])
    network = model.network.to(torch_device).eval()
    if model.spectral is not None:
        model.spectral.to(torch_device).eval()
    config = network.config
    radius = config.smoothing_radius if smoothing_radius is None else smoothing_radius
    if int(radius) < 0:
        raise InputError(f"smoothing radius must be 0 (off) or a positive number of pixels, not {radius}")
    radius = int(radius)
    patch_halo = model.patch_size // 2
    halo = patch_halo + smoothing_halo(radius)
    guide_scale = model.preprocessor.output_std()
    class_ids = model.class_ids
    counts = np.zeros(class_ids.size + 1, dtype=np.int64)
    with open_raster(raster) as ds:
        info = describe(ds)
        info = info.with_bands(match_bands(model, info))
        total = tile_count(info.width, info.height, tile_size)
        inputs = [raster] + ([model_path] if model_path else [])
        try:
            with ClassificationWriter(output, width=info.width, height=info.height, crs=info.crs,
                                      transform=info.transform, classes=model.classes, confidence_path=confidence,
                                      probabilities_path=probabilities, inputs=inputs,
                                      tags=_map_tags(model, info), cog=cog) as writer:
                for done, window in enumerate(iter_tiles(info.width, info.height, tile_size)):
                    check_cancelled(feedback)
                    try:
                        data, valid = read_padded(ds, window, halo, info)
                    except RasterioError as exc:
                        raise InputError(f"cannot read the raster at {window}: {exc}") from exc
                    features, standardised = model.preprocessor.transform_with_bands(data, valid)
                    inner = (slice(patch_halo, features.shape[1] - patch_halo),
                             slice(patch_halo, features.shape[2] - patch_halo))
                    # the member runs first so the tile's standardised bands are freed before the network's pass
                    member = None if model.spectral is None else \
                        _member_probabilities(model, standardised[inner], torch_device)
                    del standardised
                    probs = _predict_split(network, features, patch_halo, torch_device, feedback)
                    if member is not None:
                        probs = spectral_fuse(probs, member, config.spectral_weight)
                    if radius:
                        guide = guide_from_features(features[(slice(None), *inner)], guide_scale)
                        probs = smooth_probabilities(probs, guide, radius, config.smoothing_eps, valid[inner])
                        reach = smoothing_halo(radius)
                        probs = probs[:, reach: reach + int(window.height), reach: reach + int(window.width)]
                    centre = valid[halo: halo + int(window.height), halo: halo + int(window.width)]
                    best = probs.argmax(axis=0)
                    labels = np.where(centre, class_ids[best], 0).astype(np.int64)
                    conf = np.where(centre, probs.max(axis=0), CONFIDENCE_NODATA).astype(np.float32)
                    counts += np.bincount(np.where(centre, best + 1, 0).ravel(), minlength=counts.size)
                    writer.write(window, labels, conf if confidence else None, probs if probabilities else None)
                    feedback.progress("classify", (done + 1) / total, f"tile {done + 1} of {total}")
                check_cancelled(feedback)
        except (OSError, RasterioError) as exc:  # reads are handled above: this is the disk or the folder
            raise OutputError(f"cannot write the outputs (disk full or folder not writable?): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    seconds = time.monotonic() - started
    pixels = info.width * info.height
    names = {"unclassified": int(counts[0])}
    names.update({c.name: int(n) for c, n in zip(model.classes, counts[1:])})
    return ClassifyResult(str(output), str(confidence) if confidence else None,
                          str(probabilities) if probabilities else None, pixels, seconds,
                          pixels / max(seconds, 1e-9), describe_device(torch_device), names)
