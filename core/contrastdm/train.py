"""The training job: raster + training vector -> ContrastDM model file (and an optional report)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import patch_choice
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
    """A learner configuration from a preset, with ``None`` overrides ignored; invalid settings are refused
    (:meth:`~contrastdm.model.config.LearnerConfig.validate`)."""
    from .model.config import PRESETS, LearnerConfig

    if preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}'; use one of {', '.join(PRESETS)}")
    values = PRESETS[preset].to_dict()
    unknown = set(overrides) - set(values)
    if unknown:
        raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = LearnerConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid training option: {exc}") from exc
    return config.validate()


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


def _fit_scene(ds, info, n_components, reduction, bands, drop_bands, seed, feedback, cache=None):
    """Bad bands out and the reduction fitted on a sample of the scene, or both taken from the scene ``cache``
    (a :class:`~contrastdm.cache.SceneCache` or None; see :mod:`contrastdm.prepare`): (preprocessor,
    selection, kept info, :class:`~contrastdm.prepare.CacheUse`). A hit gives the very arrays a miss
    computes."""
    from .prepare import CacheUse, lookup, stage_settings, store

    bands, drop_bands = _band_list(bands, info, "--bands"), _band_list(drop_bands, info, "--drop-bands")
    settings = stage_settings(n_components, reduction, bands, drop_bands, seed, PREPROCESS_PIXELS)
    found, key, entry = lookup(ds, info, cache, settings)
    if found is not None:
        preprocessor, selection = found
        use = CacheUse("hit", entry, key, settings)
        feedback.progress("preprocess", 1.0, "preprocessing from the scene cache")
        feedback.message(f"preprocessing (band selection and reduction) taken from the scene cache: {entry}")
    else:
        sample = sample_pixels(ds, info, PREPROCESS_PIXELS, seed, feedback)
        preprocessor, selection = fit_scene(sample, info.spectral, n_components, reduction, bands=bands,
                                            drop_bands=drop_bands)
        del sample
        use = CacheUse("off" if key is None else "miss", entry, key, settings)
        store(cache, key, settings, preprocessor, selection)
    feedback.message(selection.summary(info.wavelengths))
    if preprocessor.components is not None:
        share = f"; {100 * preprocessor.explained_variance.sum():.1f}% of the variance" if reduction == "pca" else ""
        feedback.message(f"{reduction.upper()}: {preprocessor.out_bands} components of {preprocessor.in_bands} "
                         f"bands{share}")
    return preprocessor, selection, info.with_bands(selection.kept_indices()), use


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


@dataclass
class TrainingData:
    """What training reads from the raster and the vectors: the fitted preprocessing, the labelled patches
    (and the spectral member's spectra), the validation patches and the label-free patches."""

    full_info: object  # io.raster.RasterInfo of every band
    info: object  # the kept bands
    preprocessor: object
    selection: object
    table: ClassTable
    pixels: object  # io.vectors.LabelledPixels after the cap
    x_train: np.ndarray
    y_train: np.ndarray
    spectra: np.ndarray | None  # standardised bands of the training pixels, when the spectral member is on
    member: str  # the spectral member as decided: "on" or "off"
    gate: dict
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    unlabelled: np.ndarray
    spectra_record: dict
    cache: str = "off"  # the preprocessing from the scene cache: "hit", "miss" (computed) or "off"
    cache_use: object = None  # prepare.CacheUse of the preprocessing (its key keys the later stages' entries)
    cache_status: dict = field(default_factory=dict)  # the later stages' use of the cache, by stage


def _present_classes(pixels, feedback) -> ClassTable:
    """The classes left with pixels on the raster (at least two), with a warning for the others."""
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
    return table


def _validation_patches(ds, info, vector, class_field, table, preprocessor, patch_size, feedback):
    """(patches, class indices) of the validation vector's pixels, in the training's classes."""
    pixels = load_labels(vector, class_field, info, feedback, classes=table, source="validation vector")
    x_val, pixels, _ = _labelled_patches(ds, info, pixels, preprocessor, patch_size, feedback, "read",
                                         "validation vector")
    index_of = {cid: i for i, cid in enumerate(table.ids)}
    y_val = np.array([index_of[c] for c in pixels.class_ids], dtype=np.int64)
    if y_val.size == 0:
        raise InputError("the validation vector covers no usable pixel of the raster")
    return x_val, y_val


def read_training_data(raster, vector, class_field: str, config, *, validation_vector=None,
                       validation_class_field=None, pca_components=30, reduction="pca", bands=None,
                       drop_bands=None, max_per_class: int = 5000, max_unlabelled: int | None = None,
                       feedback=None, cache=None) -> TrainingData:
    """Read the labels, fit the label-free preprocessing on a sample of the scene and extract every patch
    training needs (see :func:`train` for the parameters; ``cache``: a SceneCache or None)."""
    from .model import spectral

    feedback = feedback or NullFeedback()
    feedback.progress("read", 0.0, "reading training data")
    with open_raster(raster) as ds:
        full_info = describe(ds)
        pixels = load_labels(vector, class_field, full_info, feedback)
        check_cancelled(feedback)
        preprocessor, selection, info, cache_use = _fit_scene(ds, full_info, pca_components, reduction, bands,
                                                              drop_bands, config.seed, feedback, cache=cache)
        # How the labels were drawn is read before any cap thins large polygons out into scattered pixels.
        member, gate = spectral.resolve(config.spectral_member, pixels.rows, pixels.cols)
        pixels = _cap_per_class(pixels, max_per_class, config.seed, feedback)
        # On held-out polygons the evidence decides the member's weight, so its spectra are read whatever the gate.
        chosen_later = (config.choose_on_held_out and config.held_out_settings == "radius,weight"
                        and config.spectral_member == "auto")
        x_train, pixels, spectra = _labelled_patches(ds, info, pixels, preprocessor, config.patch_size, feedback,
                                                     "read", "training vector", spectra=member == "on" or chosen_later)
        table = _present_classes(pixels, feedback)
        index_of = {cid: i for i, cid in enumerate(table.ids)}
        means = class_mean_spectra(ds, full_info, pixels, seed=config.seed)
        spectra_record = _spectra_record(full_info, selection, {n: means.get(c) for c, n in zip(table.ids, table.names)})
        y_train = np.array([index_of[c] for c in pixels.class_ids], dtype=np.int64)
        x_val = y_val = None
        if validation_vector is not None:
            x_val, y_val = _validation_patches(ds, info, validation_vector, validation_class_field or class_field,
                                               table, preprocessor, config.patch_size, feedback)
        rows, cols = sample_unlabelled(info, max_unlabelled or UNLABELLED_SAMPLES, config.seed)
        unlabelled, valid = extract_patches(ds, info, rows, cols, config.patch_size, preprocessor, feedback, "read")
    check_cancelled(feedback)
    feedback.message(f"{len(y_train)} training pixels in {len(table)} classes, {int(valid.sum())} unlabelled patches")
    return TrainingData(full_info, info, preprocessor, selection, table, pixels, x_train, y_train, spectra, member,
                        gate, x_val, y_val, unlabelled[valid], spectra_record, cache_use.status, cache_use)


def _fit_member(data: TrainingData, config, device, feedback):
    """The spectral member on the training pixels' spectra, when it is on (None otherwise)."""
    from .model import spectral

    member_net = None
    if data.spectra is not None:
        member_net, data.gate["fit"] = spectral.fit_member(
            data.spectra, data.y_train, len(data.table), config.seed, device, epochs=config.spectral_epochs,
            progress=lambda f, m: feedback.progress("spectral", f, m), is_cancelled=feedback.cancelled)
        member_net.to("cpu")
    feedback.message(f"spectral member {data.member} ({data.gate['requested']}: "
                     f"{100 * data.gate['neighbour_share']:.0f}% of the training pixels' neighbours are training "
                     "pixels)")
    return member_net


def _held_out_polygons(data: TrainingData, config):
    """With ``validation_split="polygons"`` (and no validation vector): training and validation indices that
    hold out whole polygons and their patch halo (:func:`~contrastdm.sampling.grouped_split`); else None."""
    from .sampling import grouped_split

    if config.validation_split != "polygons" or data.x_val is not None:
        return None
    pixels = data.pixels
    return grouped_split(data.y_train, pixels.feature_ids, pixels.rows, pixels.cols, config.validation_fraction,
                         config.seed, halo=config.patch_size // 2)


def _other_scenes(rasters, data: TrainingData, config, budget: int, feedback) -> list[np.ndarray]:
    """Label-free patches from other scenes of the same sensor, for pre-training over several rasters: their
    bands matched to the training raster's kept bands (by wavelength, else by index) and preprocessed alike."""
    from .bundle import match_band_record
    from .errors import ModelFileError

    record = _band_metadata(data.full_info, data.info, data.selection)
    names = [data.full_info.band_names[i] for i in data.info.band_indices]
    parts = []
    for path in rasters:
        with open_raster(path) as ds:
            info = describe(ds)
            try:
                info = info.with_bands(match_band_record(record, names, info))
            except ModelFileError as exc:
                raise InputError(f"unlabelled raster {path}: its bands do not match the training raster's: "
                                 f"{exc}") from exc
            rows, cols = sample_unlabelled(info, budget, config.seed)
            patches, valid = extract_patches(ds, info, rows, cols, config.patch_size, data.preprocessor, feedback,
                                             "read")
        parts.append(patches[valid])
        feedback.message(f"{int(valid.sum())} unlabelled patches from {path}")
    return parts


def _read_all(raster, vector, class_field, config, unlabelled_rasters, share: int, feedback, cache, **options):
    """The training data of ``raster``, with label-free patches from ``unlabelled_rasters`` joined in."""
    data = read_training_data(raster, vector, class_field, config, max_unlabelled=share, feedback=feedback,
                              cache=cache, **options)
    if unlabelled_rasters:
        data.unlabelled = np.concatenate([data.unlabelled, *_other_scenes(unlabelled_rasters, data, config, share,
                                                                           feedback)])
    return data


def _fit_network(raster, data: TrainingData, config, scene_cache, share: int, other_rasters, device, feedback):
    """``(FitResult, held-out choice or {})``: the network trained on ``data``, with its epoch (and, when asked,
    settings) chosen on held-out polygons where configured and modules from the scene cache where they apply.
    Drops what ``data`` no longer needs (the label-free patches; spectra read for a choice not made)."""
    from . import distributed, heldout
    from .training import fit

    split = _held_out_polygons(data, config)
    on_selected, choice = heldout.selection_callback(raster, data, config, device, split, feedback) \
        if split is not None and config.choose_on_held_out else (None, {})
    pretrain_cache, warm = _scene_modules(scene_cache, data, config, share, other_rasters, distributed.current(),
                                          device)
    fitted = fit(data.unlabelled, data.x_train, data.y_train, data.x_val, data.y_val, len(data.table), config,
                 device, feedback.progress, feedback.cancelled, split=split, on_selected=on_selected,
                 pretrain_cache=pretrain_cache, warm=warm)
    _cache_outcome(data, feedback, pretrain_cache, warm, fitted.network)
    if choice:
        heldout.apply_choice(choice, fitted.network.config, data)
    elif data.member != "on":
        data.spectra = None  # read for a choice that was not made
    data.unlabelled = None
    return fitted, choice


def _read_and_choose(raster, vector, class_field, config, unlabelled_rasters, share, feedback, scene_cache, clock,
                     device, ranks, **options):
    """``(data, config, choices)``: the training data, read at the largest candidate patch size when the size is
    chosen on held-out polygons and cropped to the choice, else at the configured size; the config with the
    patch size and, when asked, the smoothing radius, member weight and patch shift from the scene's scale; the
    records of those choices."""
    skipped = patch_choice.skipped_because(config, options.get("validation_vector"), ranks)
    read_size = max(patch_choice.candidates(config.patch_size)) if skipped is None else config.patch_size
    with clock("read"):
        data = _read_all(raster, vector, class_field, config.replace(patch_size=read_size), unlabelled_rasters,
                         share, feedback, scene_cache, **options)
    choices = {}
    if config.smoothing_from_scene or config.member_from_scene or config.shift_from_scene:
        config, choices["smoothing_scale"] = _scene_scale(data, config, clock, feedback)
    if skipped != "off":
        with clock("patch_choice"):
            config, choices["patch_choice"] = _choose_patch_size(data, config, skipped, device, feedback)
    return data, config, choices


def _scene_scale(data: TrainingData, config, clock, feedback):
    """``(config, choice)``: the smoothing radius, the spectral member's weight and the patch shift from the scene's
    spatial scale (:mod:`contrastdm.scene_scale`), each where its setting asks for it; measured on the patches as
    read, the widest reach a chosen patch size may narrow."""
    from . import scene_scale

    with clock("scene_scale"):
        choice = scene_scale.radius_for_scene(data.unlabelled, config.smoothing_radius, data.preprocessor.components)
    choice["applied"] = bool(config.smoothing_from_scene)
    if config.member_from_scene:
        choice["member_weight"] = scene_scale.member_weight(choice, config.spectral_weight)
        config = config.replace(spectral_weight=choice["member_weight"])
    if config.shift_from_scene:
        choice["patch_shift"] = scene_scale.patch_shift(choice, config.aug_shift)
        config = config.replace(aug_shift=choice["patch_shift"])
    if config.smoothing_from_scene:
        config = config.replace(smoothing_radius=choice["radius"])
    feedback.message(scene_scale.describe(choice))
    return config, choice


def _choose_patch_size(data: TrainingData, config, skipped, device, feedback):
    """``(config, choice)``: the patch size chosen on held-out polygons (:mod:`contrastdm.patch_choice`) in the
    config and the training and label-free patches of ``data`` cropped to it (``skipped``: why it is not made,
    then the configured size stays; with a validation vector, for one, there is nothing else to crop)."""
    if skipped is not None:
        feedback.message(f"patch size {config.patch_size} kept: {skipped}")
        return config, {"patch_size": int(config.patch_size), "changed": False, "skipped": skipped}
    choice = patch_choice.choose_patch_size(data.x_train, data.y_train, data.pixels, len(data.table), config,
                                            device, feedback)
    size = choice["patch_size"]
    data.x_train = patch_choice.centre_crop(data.x_train, size)
    data.unlabelled = patch_choice.centre_crop(data.unlabelled, size)
    return config.replace(patch_size=size), choice


def _scene_modules(scene_cache, data: TrainingData, config, drawn: int, other_rasters, ranks, device):
    """``(pre-training entry, warm-start entry)`` of this scene in the cache, each None where it does not apply:
    no cache, several ranks (each would need the entry) or label-free patches from other rasters too; for
    pre-training, one that learns from labels; for the warm start, ``warm_start`` off."""
    from .training import module_cache as mc
    from .training.warm import WarmStart

    use = data.cache_use
    if scene_cache is None or use is None or use.fingerprint is None or other_rasters or ranks.active:
        return None, None
    pretrain = mc.CachedModule(scene_cache, mc.PRETRAIN, use.fingerprint, mc.pretrain_settings(
        config, use.settings, drawn, len(data.unlabelled), device)) \
        if mc.label_free(config, len(data.unlabelled) > 0) else None
    warm = WarmStart(mc.CachedModule(scene_cache, mc.WARM, use.fingerprint, mc.warm_settings(
        config, use.settings, device)), data.table.names) if config.warm_start else None
    return pretrain, warm


def _cache_outcome(data: TrainingData, feedback, pretrain_cache, warm, network) -> None:
    """Say what came from the scene cache, record it, and keep the network for the next warm start."""
    data.cache_status["pretrain"] = "off" if pretrain_cache is None else pretrain_cache.status
    if data.cache_status["pretrain"] == "hit":
        feedback.message(f"contrastive pre-training taken from the scene cache: {pretrain_cache.entry}")
    data.cache_status["warm"] = "off" if warm is None else warm.status
    if warm is not None and warm.status != "miss":
        what = {"hit": "network", "matched": "network (its classes matched by name; new ones start afresh)",
                "encoder": "encoder (a network of another shape)"}[warm.status]
        feedback.message(f"warm start: the {what} of the last run on this raster, from the scene cache: "
                         f"{warm.entry.entry}")
    if warm is not None:
        warm.store(network)


def _model_metadata(data: TrainingData, config, fitted, sources: dict, settings: dict, device_name: str,
                    seconds: float, stage_seconds: dict) -> dict:
    """What the model file records besides the weights: bands, reduction, settings, training, history."""
    band_info = _band_metadata(data.full_info, data.info, data.selection)
    y_train, names = data.y_train, data.table.names
    return {
        "in_bands": data.preprocessor.in_bands,
        "n_features": data.preprocessor.out_bands,
        "band_names": [data.full_info.band_names[i] for i in data.info.band_indices],
        "wavelengths": band_info["wavelengths"],
        "bands": band_info,
        "reduction": settings["reduction"] if data.preprocessor.components is not None else None,
        "raster_dtype": data.info.dtype,
        "crs": data.info.crs.to_wkt() if data.info.crs else None,
        "config": config.to_dict(),
        "preset": settings["preset"],
        "pca_components": settings["pca_components"],
        "training": {
            **sources,
            "pixels_per_class": {name: int(np.sum(y_train == i)) for i, name in enumerate(names)},
            "validation": fitted.validation, "spectral_member": data.gate, "device": device_name,
            "seconds": round(seconds, 1), "stage_seconds": stage_seconds, "cache": {"preprocess": data.cache, **data.cache_status},
        },
        "history": {k: [float(x) for x in v] for k, v in fitted.history.items()},
        "class_spectra": data.spectra_record,
    }


def _write_outputs(model_path, report, model: Model, settings: dict, inputs, feedback) -> str | None:
    """The model file and, when asked, the training report; the report's path or None."""
    feedback.progress("save", 0.0, "writing the model file")
    save_model(model_path, model, inputs=inputs)
    if report is not None:
        from .report import write_report

        metadata = model.metadata
        write_report(report, title="ContrastDM training report", metrics=None, history=metadata["history"],
                     config={**metadata["config"], "preset": settings["preset"],
                             "pca_components": settings["pca_components"]},
                     map_preview=None, classes=model.classes, extra={"training": metadata["training"]},
                     spectra=metadata["class_spectra"])
    feedback.progress("save", 1.0, str(model_path))
    return None if report is None else str(report)


def train(raster, vector, class_field: str, model_path, *, validation_vector=None, validation_class_field=None,
          report=None, preset: str = "balanced", pca_components: int | None = 30, reduction: str = "pca",
          bands=None, drop_bands=None, class_colors: dict | None = None,
          device: str = "auto", max_per_class: int = 5000, max_unlabelled: int | None = None,
          unlabelled_rasters=(), feedback=None, cache="default", **options) -> TrainResult:
    """Train a ContrastDM model on ``raster`` with labels from ``vector``'s ``class_field``.

    ``pca_components``: channels the reduction keeps (``reduction`` "pca" or "mnf"; 0 or None: none).
    ``bands`` / ``drop_bands``: keep only, or drop, these bands ("1-10,15" band numbers, or "1340-1460nm"
    wavelength ranges); by default bad bands are found from the metadata, absorption windows and the data.
    ``max_per_class``: pixels of a class drawn at random beyond which its polygons are thinned out;
    ``max_unlabelled``: label-free patches drawn over the scene (default 20,000).
    ``unlabelled_rasters``: other scenes of the same sensor whose patches join the label-free ones (contrastive
    pre-training over several rasters); the patches are shared equally among all the scenes.
    ``cache``: where the label-free preprocessing (band selection, standardisation, reduction: it depends only
    on the raster and the settings above) is kept between runs, so retraining on the same raster skips it:
    ``"default"`` (the default, as for the CLI: the user's cache folder, ``$CONTRASTDM_CACHE_DIR/scenes``, else
    ``$XDG_CACHE_HOME/contrastdm/scenes``, else ``~/.cache/contrastdm/scenes``), a folder, a
    :class:`~contrastdm.cache.SceneCache`, or None (nothing read or written). Cached or not, the model is the
    same, bit for bit; the model's ``training.cache`` records "hit", "miss" or "off".
    ``options`` override the preset's learner settings (patch_size, contrastive_epochs, diffusion_steps,
    finetune_epochs, synthetic, refine, batch_size, seed, ...). Outputs are written only on success; under
    ``torchrun`` every rank trains its share and rank 0 writes them.
    """
    from . import distributed
    from .device import describe_device, resolve_device
    from .model.amp import describe_precision
    from .training.clock import StageClock

    started = time.monotonic()
    config = make_config(preset, **options)
    torch_device = distributed.setup(resolve_device(device))
    ranks = distributed.current()
    feedback = feedback or NullFeedback()
    if not ranks.is_main:  # one voice per job; every rank still stops when cancelled
        feedback = QuietFeedback(feedback)
    precision = describe_precision(torch_device, config.cpu_precision)
    feedback.message(f"device: {describe_device(torch_device)}; {precision}")
    unlabelled_rasters = [str(r) for r in unlabelled_rasters or ()]
    check_outputs([model_path, report], inputs=[raster, vector, validation_vector, *unlabelled_rasters])
    share = (max_unlabelled or UNLABELLED_SAMPLES) // (1 + len(unlabelled_rasters))
    from .prepare import open_cache

    scene_cache = open_cache(cache, feedback)
    settings = {"preset": preset, "pca_components": pca_components, "reduction": reduction}
    clock = StageClock(torch_device)
    data, config, choices = _read_and_choose(
        raster, vector, class_field, config, unlabelled_rasters, share, feedback, scene_cache, clock, torch_device,
        ranks, validation_vector=validation_vector, validation_class_field=validation_class_field,
        pca_components=pca_components, reduction=reduction, bands=bands, drop_bands=drop_bands,
        max_per_class=max_per_class)
    fitted, choice = _fit_network(raster, data, config, scene_cache, share, unlabelled_rasters, torch_device,
                                  feedback)
    clock.update(fitted.stage_seconds)
    with clock("spectral"):
        member_net = _fit_member(data, config, torch_device, feedback)
    # fit() may change settings on validation evidence (e.g. switch refinement off): save what it used.
    config = fitted.network.config
    config.spectral_member = data.member
    sources = {"raster": str(raster), "vector": str(vector), "class_field": class_field,
               **({"unlabelled_rasters": unlabelled_rasters} if unlabelled_rasters else {}),
               **({"ranks": ranks.world_size} if ranks.active else {})}
    metadata = _model_metadata(data, config, fitted, sources, settings, describe_device(torch_device),
                               time.monotonic() - started, clock.rounded())
    metadata["training"].update({k: v for k, v in (("held_out_choice", choice), *choices.items()) if v},
                                precision=precision)
    model = Model(fitted.network.to("cpu").eval(), data.preprocessor, class_infos(data.table, class_colors),
                  metadata, member_net)
    check_cancelled(feedback)
    report_path = _write_outputs(model_path, report, model, settings, [raster, vector], feedback) \
        if ranks.is_main else None
    distributed.barrier()  # the other ranks return once the outputs exist
    counts = {"training_pixels": int(len(data.y_train)), **{k: int(v) for k, v in data.pixels.counts.items()}} \
        if ranks.is_main else {}
    return TrainResult(str(model_path), model, metadata["history"], fitted.validation, counts,
                       time.monotonic() - started, describe_device(torch_device), report_path, config.to_dict())
