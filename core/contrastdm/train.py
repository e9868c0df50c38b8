"""The training job: raster + training vector -> ContrastDM model file (and an optional report)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .bundle import Model, save_model
from .errors import InputError
from .feedback import NullFeedback, QuietFeedback, check_cancelled
from .io.atomic import check_outputs
from .io.raster import describe, open_raster
from .io.styles import default_palette, parse_color
from .io.vectors import ClassTable, load_labels
from .io.writer import ClassInfo
from .preprocess import fit_scene, sample_pixels
from .sampling import class_mean_spectra, extract_patches, sample_unlabelled

PREPROCESS_PIXELS = 100_000  # pixel pairs sampled for the bad bands and the reduction
UNLABELLED_SAMPLES = 20_000  # label-free patches for contrastive learning, drawn over the whole scene


@dataclass
class TrainResult:
    model_path: str
    model: Model
    history: dict
    validation: dict
    counts: dict
    seconds: float
    device: str
    report_path: str | None = None
    config: dict = field(default_factory=dict)


def make_config(preset: str = "balanced", **overrides):
    """A learner configuration from a preset, with ``None`` overrides ignored."""
    from .model.config import PRESETS, LearnerConfig

    if preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}'; use one of {', '.join(PRESETS)}")
    values = PRESETS[preset].to_dict() if hasattr(PRESETS[preset], "to_dict") else dict(PRESETS[preset])
    unknown = set(overrides) - set(values)
    if unknown:
        raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = LearnerConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid training option: {exc}") from exc
    if config.patch_size < 1 or config.patch_size % 2 == 0:
        raise InputError(f"patch size must be a positive odd number, not {config.patch_size}")
    from .model.spectral import SETTINGS

    if config.spectral_member not in SETTINGS or not 0.0 <= config.spectral_weight <= 1.0:
        raise InputError(f"spectral member must be one of {', '.join(SETTINGS)} and its weight within 0..1, not "
                         f"{config.spectral_member!r} and {config.spectral_weight}")
    if config.smoothing_radius < 0 or not config.smoothing_eps > 0:
        raise InputError(f"smoothing needs a radius of 0 (off) or more pixels and a positive eps, not "
                         f"{config.smoothing_radius} and {config.smoothing_eps}")
    return config


def class_infos(table: ClassTable, colors: dict | None) -> list[ClassInfo]:
    palette = default_palette(len(table))
    colors = {str(k): v for k, v in (colors or {}).items()}
    infos = []
    for index, (class_id, name) in enumerate(zip(table.ids, table.names)):
        color = colors.get(name)
        infos.append(ClassInfo(int(class_id), name, parse_color(color) if color else tuple(palette[index])))
    return infos


def _labelled_patches(ds, info, pixels, preprocessor, patch_size, feedback, stage, source, spectra=False):
    """(patches, pixels, standardised centre bands or None) of the labelled pixels off nodata."""
    patches, valid, *centres = extract_patches(ds, info, pixels.rows, pixels.cols, patch_size, preprocessor,
                                               feedback, stage, spectra=spectra)
    if not valid.all():
        feedback.message(f"{source}: {int((~valid).sum())} labelled pixel(s) on nodata skipped", "warning")
    return patches[valid], pixels.subset(valid), centres[0][valid] if spectra else None


def _cap_per_class(pixels, limit: int, seed: int, feedback):
    """Bound training memory and time on huge polygons: keep at most ``limit`` pixels of a class."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(pixels), dtype=bool)
    for class_id in np.unique(pixels.class_ids):
        members = np.flatnonzero(pixels.class_ids == class_id)
        if members.size > limit:
            members = rng.choice(members, size=limit, replace=False)
            feedback.message(f"class {class_id}: {limit} of its pixels drawn at random for training")
        keep[members] = True
    return pixels.subset(keep)


def _band_list(value, info, option: str):
    """0-based band indices from ``--bands``/``--drop-bands`` text (or 1-based band numbers), or None."""
    from .bands import parse_band_list

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        value = ",".join(str(int(v)) for v in value)
    try:
        return parse_band_list(value, info.count, info.wavelengths)
    except InputError as exc:
        raise InputError(f"{option}: {exc}") from exc


def _fit_scene(ds, info, n_components, reduction, bands, drop_bands, seed, feedback):
    """Bad bands out and the reduction fitted on a sample of the scene: (preprocessor, selection, kept info)."""
    sample = sample_pixels(ds, info, PREPROCESS_PIXELS, seed, feedback)
    preprocessor, selection = fit_scene(sample, info.spectral, n_components, reduction,
                                        bands=_band_list(bands, info, "--bands"),
                                        drop_bands=_band_list(drop_bands, info, "--drop-bands"))
    del sample
    feedback.message(selection.summary(info.wavelengths))
    if preprocessor.components is not None:
        share = f"; {100 * preprocessor.explained_variance.sum():.1f}% of the variance" if reduction == "pca" else ""
        feedback.message(f"{reduction.upper()}: {preprocessor.out_bands} components of {preprocessor.in_bands} "
                         f"bands{share}")
    return preprocessor, selection, info.with_bands(selection.kept_indices())


def _band_metadata(full, kept, selection) -> dict:
    """What the model file records of the raster's bands: the kept ones by index and wavelength."""
    indices = list(kept.band_indices)
    spectral = full.spectral
    return {
        "raster_count": full.count,
        "indices": indices,
        "wavelengths": [full.wavelengths[i] for i in indices] if full.wavelengths else None,
        "fwhm": [spectral.fwhm[i] for i in indices] if spectral.fwhm else None,
        "selection": selection.to_dict(),
        "spectral_source": spectral.source,
    }


def _spectra_record(info, selection, means: dict) -> dict:
    """Class mean spectra on every band of the raster with the dropped bands, for the report's plot."""
    return {
        "x": list(info.wavelengths) if info.wavelengths else list(range(1, info.count + 1)),
        "unit": "nm" if info.wavelengths else "band",
        "dropped": [int(i) for i in np.flatnonzero(~selection.keep)],
        "reasons": {str(k): v for k, v in selection.reasons.items()},
        "means": {name: (None if m is None else [None if not np.isfinite(v) else round(float(v), 6) for v in m])
                  for name, m in means.items()},
    }


def train(raster, vector, class_field: str, model_path, *, validation_vector=None, validation_class_field=None,
          report=None, preset: str = "balanced", pca_components: int | None = 30, reduction: str = "pca",
          bands=None, drop_bands=None, class_colors: dict | None = None,
          device: str = "auto", max_per_class: int = 5000, max_unlabelled: int | None = None, feedback=None,
          **options) -> TrainResult:
    """Train a ContrastDM model on ``raster`` with labels from ``vector``'s ``class_field``.

    ``pca_components``: channels the reduction keeps (``reduction`` "pca" or "mnf"; 0 or None: none).
    ``bands`` / ``drop_bands``: keep only, or drop, these bands ("1-10,15" band numbers, or "1340-1460nm"
    wavelength ranges); by default bad bands are found from the metadata, absorption windows and the data.
    ``options`` override the preset's learner settings (patch_size, contrastive_epochs, diffusion_steps,
    finetune_epochs, synthetic, refine, batch_size, seed, ...). Outputs are written only on success.
    """
    from . import distributed
    from .device import describe_device, resolve_device
    from .model import spectral
    from .training import fit

    started = time.monotonic()
    config = make_config(preset, **options)
    torch_device = distributed.setup(resolve_device(device))
    ranks = distributed.current()
    feedback = feedback or NullFeedback()
    if not ranks.is_main:  # one voice per job; every rank still stops when cancelled
        feedback = QuietFeedback(feedback)
    feedback.message(f"device: {describe_device(torch_device)}")
    check_outputs([model_path, report], inputs=[raster, vector, validation_vector])

    feedback.progress("read", 0.0, "reading training data")
    with open_raster(raster) as ds:
        full_info = describe(ds)
        pixels = load_labels(vector, class_field, full_info, feedback)
        check_cancelled(feedback)

        preprocessor, selection, info = _fit_scene(ds, full_info, pca_components, reduction, bands, drop_bands,
                                                   config.seed, feedback)

        # How the labels were drawn is read before any cap thins large polygons out into scattered pixels.
        member, gate = spectral.resolve(config.spectral_member, pixels.rows, pixels.cols)
        pixels = _cap_per_class(pixels, max_per_class, config.seed, feedback)
        x_train, pixels, spectra = _labelled_patches(ds, info, pixels, preprocessor, config.patch_size, feedback,
                                                     "read", "training vector", spectra=member == "on")
        present = [cid for cid in pixels.classes.ids if np.any(pixels.class_ids == cid)]
        missing = [name for cid, name in zip(pixels.classes.ids, pixels.classes.names) if cid not in present]
        if missing:
            feedback.message(f"classes without any usable pixel left out: {', '.join(missing[:10])}", "warning")
        if len(present) < 2:
            raise InputError(f"training needs at least two classes with pixels on the raster; found {len(present)}")
        table = ClassTable(tuple(present), tuple(pixels.classes.names[pixels.classes.ids.index(c)] for c in present))
        for cid, name in zip(table.ids, table.names):
            n = int(np.sum(pixels.class_ids == cid))
            if n < 5:
                feedback.message(f"class '{name}' has only {n} training pixel(s); its accuracy will be poor", "warning")
        index_of = {cid: i for i, cid in enumerate(table.ids)}
        means = class_mean_spectra(ds, full_info, pixels, seed=config.seed)
        spectra_record = _spectra_record(full_info, selection, {n: means.get(c) for c, n in zip(table.ids, table.names)})
        y_train = np.array([index_of[c] for c in pixels.class_ids], dtype=np.int64)

        x_val = y_val = None
        if validation_vector is not None:
            val_pixels = load_labels(validation_vector, validation_class_field or class_field, info, feedback,
                                     classes=table, source="validation vector")
            x_val, val_pixels, _ = _labelled_patches(ds, info, val_pixels, preprocessor, config.patch_size, feedback,
                                                  "read", "validation vector")
            y_val = np.array([index_of[c] for c in val_pixels.class_ids], dtype=np.int64)
            if y_val.size == 0:
                raise InputError("the validation vector covers no usable pixel of the raster")

        budget = max_unlabelled or UNLABELLED_SAMPLES
        rows, cols = sample_unlabelled(info, budget, config.seed)
        unlabelled, valid = extract_patches(ds, info, rows, cols, config.patch_size, preprocessor, feedback, "read")
        unlabelled = unlabelled[valid]
        crs_wkt = info.crs.to_wkt() if info.crs else None
        raster_dtype = info.dtype
        band_info = _band_metadata(full_info, info, selection)
    check_cancelled(feedback)
    feedback.message(f"{len(y_train)} training pixels in {len(table)} classes, {len(unlabelled)} unlabelled patches")

    result = fit(unlabelled, x_train, y_train, x_val, y_val, len(table), config, torch_device,
                 feedback.progress, feedback.cancelled)
    del unlabelled
    member_net = None
    if spectra is not None:
        member_net, gate["fit"] = spectral.fit_member(
            spectra, y_train, len(table), config.seed, torch_device,
            progress=lambda f, m: feedback.progress("spectral", f, m), is_cancelled=feedback.cancelled)
        member_net.to("cpu")
        del spectra
    feedback.message(f"spectral member {member} ({gate['requested']}: {100 * gate['neighbour_share']:.0f}% of the "
                     "training pixels' neighbours are training pixels)")
    # fit() may change settings on validation evidence (e.g. switch refinement off): save what it used.
    config = result.network.config
    config.spectral_member = member
    classes = class_infos(table, class_colors)
    metadata = {
        "in_bands": preprocessor.in_bands,
        "n_features": preprocessor.out_bands,
        "band_names": [full_info.band_names[i] for i in info.band_indices],
        "wavelengths": band_info["wavelengths"],
        "bands": band_info,
        "reduction": reduction if preprocessor.components is not None else None,
        "raster_dtype": raster_dtype,
        "crs": crs_wkt,
        "config": config.to_dict(),
        "preset": preset,
        "pca_components": pca_components,
        "training": {
            "raster": str(raster), "vector": str(vector), "class_field": class_field,
            "pixels_per_class": {name: int(np.sum(y_train == i)) for i, name in enumerate(table.names)},
            "validation": result.validation, "spectral_member": gate, "device": describe_device(torch_device),
            "seconds": round(time.monotonic() - started, 1),
        },
        "history": {k: [float(x) for x in v] for k, v in result.history.items()},
        "class_spectra": spectra_record,
    }
    if ranks.active:
        metadata["training"]["ranks"] = ranks.world_size
    model = Model(result.network.to("cpu").eval(), preprocessor, classes, metadata, member_net)
    check_cancelled(feedback)
    if not ranks.is_main:  # rank 0 writes the outputs
        distributed.barrier()
        return TrainResult(str(model_path), model, metadata["history"], result.validation, {},
                           time.monotonic() - started, describe_device(torch_device), None, config.to_dict())
    feedback.progress("save", 0.0, "writing the model file")
    save_model(model_path, model, inputs=[raster, vector])
    report_path = None
    if report is not None:
        from .report import write_report

        write_report(report, title="ContrastDM training report", metrics=None, history=metadata["history"],
                     config={**config.to_dict(), "preset": preset, "pca_components": pca_components},
                     map_preview=None, classes=classes, extra={"training": metadata["training"]},
                     spectra=spectra_record)
        report_path = str(report)
    feedback.progress("save", 1.0, str(model_path))
    distributed.barrier()  # the other ranks return once the outputs exist
    return TrainResult(str(model_path), model, metadata["history"], result.validation,
                       {"training_pixels": int(len(y_train)), **{k: int(v) for k, v in pixels.counts.items()}},
                       time.monotonic() - started, describe_device(torch_device), report_path, config.to_dict())
