"""Scene-dependent settings chosen on held-out polygons, after training and without retraining.

The network chosen on the training polygons (before the refit on every label) and a spectral member trained on
the same polygons classify windows around the held-out polygons, through the very tile pipeline classification
uses. Each candidate smoothing radius and member weight is then scored on the held-out pixels from those
probabilities alone. A candidate replaces the configured setting only when it classifies clearly more held-out
pixels correctly (:data:`MARGIN`): with few held-out polygons, a tie or a pixel or two is noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RADII = (0, 1, 2, 3, 5)
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MARGIN = (2, 0.01)  # a candidate must win by more than max(2 pixels, 1% of the held-out pixels)
TILE = 64


@dataclass
class HeldOut:
    """Held-out pixels: ``rows``, ``cols`` on the raster's grid and ``labels`` (class indices 0..K-1)."""

    rows: np.ndarray
    cols: np.ndarray
    labels: np.ndarray


def _windows(held_out: HeldOut, width: int):
    """``(window, pixel indices)``: the held-out pixels grouped by TILE x TILE square of the raster, each window
    bounding its group."""
    from .io.raster import pixel_blocks

    return pixel_blocks(held_out.rows, held_out.cols, width, TILE)


def correct_counts(model, raster, info, held_out: HeldOut, device, radii, weights) -> np.ndarray:
    """Held-out pixels classified correctly ``[len(radii), len(weights)]`` by each (radius, weight); ``info``:
    the raster's description with the model's bands selected, as training read it."""
    import torch

    from .classify import _Pipeline
    from .feedback import NullFeedback
    from .io.raster import open_raster

    pipeline = _Pipeline(model, device, max(radii), 1.0, torch.float32, NullFeedback())
    counts = np.zeros((len(radii), len(weights)), dtype=np.int64)
    with open_raster(raster) as ds:
        for window, index in _windows(held_out, info.width):
            parts = pipeline.parts(*pipeline.read(ds, window, info))
            rows = held_out.rows[index] - int(window.row_off)
            cols = held_out.cols[index] - int(window.col_off)
            for i, radius in enumerate(radii):
                for j, weight in enumerate(weights):
                    labels = pipeline.combine(*parts, weight, radius).argmax(0)[rows, cols]
                    counts[i, j] += int(np.sum(labels == held_out.labels[index]))
    return counts


def choose(counts: np.ndarray, radii, weights, current: tuple[int, float], n: int) -> dict:
    """The (radius, weight) to keep: the best-scoring candidate when it beats ``current`` by the margin, else
    ``current``; ties go to the smaller radius, then the weight nearest the current one."""
    radii, weights = list(radii), list(weights)
    here = counts[radii.index(current[0]), weights.index(current[1])]
    order = sorted((-counts[i, j], radii[i], abs(weights[j] - current[1]), i, j)
                    for i in range(len(radii)) for j in range(len(weights)))
    _, _, _, i, j = order[0]
    better = counts[i, j] - here > max(MARGIN[0], MARGIN[1] * n)
    radius, weight = (radii[i], weights[j]) if better else current
    return {"radius": int(radius), "weight": float(weight), "changed": bool(better), "held_out_pixels": int(n),
            "configured": {"radius": int(current[0]), "weight": float(current[1]),
                           "oa": round(float(here) / max(n, 1), 4)},
            "candidates": [{"radius": int(r), "weight": float(w), "oa": round(float(counts[a, b]) / max(n, 1), 4)}
                           for a, r in enumerate(radii) for b, w in enumerate(weights)]}


def choose_settings(model, raster, info, held_out: HeldOut, device, current: tuple[int, float],
                    member: str, weights_too: bool = True) -> dict:
    """Smoothing radius and member weight for ``model`` (the network and member trained without the held-out
    polygons) from its held-out probabilities. ``member``: the requested setting, "auto" (any weight), "on"
    (weight above 0) or "off" (weight 0, the member ignored); ``weights_too`` False keeps the current weight."""
    radii = tuple(sorted(set(RADII) | {int(current[0])}))
    if not weights_too:
        weights = (float(current[1]),)
    elif member == "off" or model.spectral is None:
        weights = (0.0,)
        current = (current[0], 0.0)
    else:
        weights = tuple(sorted(set(WEIGHTS) | {float(current[1])}))
        weights = tuple(w for w in weights if w > 0) if member == "on" else weights
    counts = correct_counts(model, raster, info, held_out, device, radii, weights)
    return choose(counts, radii, weights, current, len(held_out.labels))


def selection_callback(raster, data, config, device, split, feedback):
    """For training with held-out polygons (``split``: training and validation indices into ``data``, a
    :class:`~contrastdm.train.TrainingData`): a callback for :func:`~contrastdm.training.fit` that scores the
    smoothing radii and member weights on the held-out polygons with the network chosen before the refit and a
    member trained on the same polygons (:func:`choose_settings`), and the dict it fills with the choice."""
    import copy

    from .bundle import Model
    from .model import spectral

    found: dict = {}

    def on_selected(net) -> None:
        training, validation = split
        member = None
        if data.spectra is not None:
            member, _ = spectral.fit_member(data.spectra[training], data.y_train[training], len(data.table),
                                            config.seed, device, epochs=config.spectral_epochs,
                                            is_cancelled=feedback.cancelled)
        selected = Model(copy.deepcopy(net).eval(), data.preprocessor, [], {"config": config.to_dict()}, member)
        held_out = HeldOut(data.pixels.rows[validation], data.pixels.cols[validation], data.y_train[validation])
        weights_too = config.held_out_settings == "radius,weight"
        weight = config.spectral_weight if weights_too or data.member == "on" else 0.0
        found.update(choose_settings(selected, raster, data.info, held_out, device,
                                     (config.smoothing_radius, weight), config.spectral_member, weights_too))
        feedback.message(f"on {found['held_out_pixels']} held-out pixels: smoothing radius {found['radius']}, "
                         f"spectral member weight {found['weight']:g} "
                         f"({'chosen' if found['changed'] else 'kept: no candidate was clearly better'})")

    return on_selected, found


def apply_choice(choice: dict, network_config, data) -> None:
    """The held-out choice into the saved settings; a member weight chosen 0 leaves the member out."""
    network_config.smoothing_radius = choice["radius"]
    if network_config.held_out_settings != "radius,weight":
        return  # the member and its weight stay as the neighbour rule and the configuration set them
    network_config.spectral_weight = choice["weight"]
    if data.spectra is not None and data.gate["requested"] == "auto":
        data.member = "on" if choice["weight"] > 0 else "off"
        data.gate.update(member=data.member, decided_by="held-out polygons")
        if data.member == "off":
            data.spectra = None
