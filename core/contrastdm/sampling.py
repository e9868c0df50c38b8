"""Where rasters meet tensors: georeferenced patches around pixels, and seeded splits of labelled pixels."""

from __future__ import annotations

import numpy as np

from .feedback import NullFeedback, check_cancelled
from .io.raster import pixel_blocks, read_padded, read_window


def extract_patches(ds, info, rows: np.ndarray, cols: np.ndarray, patch_size: int, preprocessor,
                    feedback=None, stage: str = "read", block: int = 256, spectra: bool = False) -> tuple:
    """Patches ``[N, K, p, p]`` centred on each pixel, with a validity flag for each centre; with ``spectra``,
    also each centre's standardised bands ``[N, B]`` (the preprocessor without its PCA), from the same reads.

    Pixels are grouped by block so each block of the scene is read once (with a halo, reflected at the
    scene's edges), whatever the number of patches: memory is bounded by the block and the output.
    """
    feedback = feedback or NullFeedback()
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError("patch size must be a positive odd number")
    radius = patch_size // 2
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    patches = np.zeros((rows.size, preprocessor.out_bands, patch_size, patch_size), dtype=np.float32)
    valid_centre = np.zeros(rows.size, dtype=bool)
    centres = np.zeros((rows.size, preprocessor.in_bands), dtype=np.float32) if spectra else None
    if rows.size == 0:
        return (patches, valid_centre, centres) if spectra else (patches, valid_centre)
    offsets = np.arange(-radius, radius + 1)
    blocks = pixel_blocks(rows, cols, info.width, block)
    read = 0
    for done, (window, members) in enumerate(blocks):
        check_cancelled(feedback)
        r, c = rows[members], cols[members]
        r0, c0 = int(window.row_off), int(window.col_off)
        data, valid = read_padded(ds, window, radius, info)
        features, bands = preprocessor.transform_with_bands(data, valid)
        lr, lc = r - r0 + radius, c - c0 + radius
        rr = (lr[:, None] + offsets)[:, :, None]
        cc = (lc[:, None] + offsets)[:, None, :]
        patches[members] = features[:, rr, cc].transpose(1, 0, 2, 3)
        valid_centre[members] = valid[lr, lc]
        if spectra:
            centres[members] = bands[lr, lc]
        del bands
        read += members.size
        feedback.progress(stage, (done + 1) / len(blocks), f"{read} of {rows.size} patches")
    return (patches, valid_centre, centres) if spectra else (patches, valid_centre)


def pixel_spectra(ds, info, rows: np.ndarray, cols: np.ndarray, block: int = 256) -> np.ndarray:
    """Values ``[N, B]`` of the bands ``info`` reads at the given pixels (NaN where a band is invalid),
    reading one bounding window per block of the scene."""
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    out = np.full((rows.size, info.read_count), np.nan, dtype=np.float32)
    for window, members in pixel_blocks(rows, cols, info.width, block):
        data, valid = read_window(ds, window, info, per_band=True)
        values = np.where(valid, data, np.nan)
        out[members] = values[:, rows[members] - window.row_off, cols[members] - window.col_off].T
    return out


def class_mean_spectra(ds, info, pixels, per_class: int = 200, seed: int = 0) -> dict:
    """Mean spectrum of each class over up to ``per_class`` of its labelled pixels, every band of ``info``
    (NaN where a band had no valid value): ``{class id: [B]}``, for the report's spectral plot."""
    rng = np.random.default_rng(seed)
    means = {}
    for class_id in np.unique(pixels.class_ids):
        members = np.flatnonzero(pixels.class_ids == class_id)
        if members.size > per_class:
            members = rng.choice(members, size=per_class, replace=False)
        values = pixel_spectra(ds, info, pixels.rows[members], pixels.cols[members])
        with np.errstate(invalid="ignore"):
            counts = np.isfinite(values).sum(axis=0)
            means[int(class_id)] = np.where(counts > 0, np.nansum(values, axis=0) / np.maximum(counts, 1), np.nan)
    return means


def sample_unlabelled(info, count: int, seed: int, exclude_rows=None, exclude_cols=None) -> tuple[np.ndarray, np.ndarray]:
    """Random pixel positions over the whole scene for label-free learning (validity is checked on read)."""
    rng = np.random.default_rng(seed)
    total = info.width * info.height
    count = min(count, total)
    flat = rng.choice(total, size=count, replace=False) if total <= 50_000_000 else rng.integers(0, total, count)
    if exclude_rows is not None and len(exclude_rows):
        flat = np.setdiff1d(flat, np.asarray(exclude_rows) * info.width + np.asarray(exclude_cols))
    flat = np.sort(flat)
    return flat // info.width, flat % info.width


def stratified_split(labels: np.ndarray, fraction: float = 0.0, per_class: int = 0, seed: int = 0,
                     minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Indices (selected, rest): ``fraction`` of each class, or ``per_class`` pixels of each class.

    A class with fewer pixels than asked gives half of them (at least ``minimum``), so every class keeps
    pixels on both sides when it has two or more.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        want = per_class if per_class else int(round(fraction * members.size))
        if want >= members.size:
            want = members.size // 2
        want = min(max(want, minimum), members.size - 1)  # a lone pixel stays on the "rest" side
        chosen.append(members[:want])
    selected = np.sort(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
    rest = np.setdiff1d(np.arange(labels.size), selected)
    return selected, rest


def group_split(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (selected, rest) that never split a group (a polygon or field) across the two sides.

    For each class, whole groups are drawn until about ``fraction`` of its pixels are selected; a class
    with a single group falls back to a pixel split inside it.
    """
    rng = np.random.default_rng(seed)
    selected = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        class_groups = np.unique(groups[members])
        if class_groups.size < 2:
            if members.size >= 5:  # too few pixels to spare any otherwise
                take, _ = stratified_split(np.zeros(members.size), fraction=fraction, seed=seed)
                selected.append(members[take])
            continue
        rng.shuffle(class_groups)
        target = fraction * members.size
        taken = 0
        for group in class_groups[:-1]:  # always leave at least one group on the other side
            if taken >= target:
                break
            group_members = members[groups[members] == group]
            selected.append(group_members)
            taken += group_members.size
    selected = np.sort(np.concatenate(selected)) if selected else np.empty(0, np.int64)
    return selected, np.setdiff1d(np.arange(labels.size), selected)


def grouped_split(labels: np.ndarray, groups: np.ndarray, rows: np.ndarray, cols: np.ndarray, fraction: float,
                  seed: int = 0, halo: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (training, validation) that hold out whole groups (the polygons the pixels came from).

    Per class, groups are drawn at random until about ``fraction`` of the class's pixels are held out, and at
    least one group stays for training; a class drawn as a single polygon is cut across its longer side
    instead (the far part held out). Training pixels within ``halo`` pixels (the patch radius) of a held-out
    pixel leave the training side too, so no training patch sees a validation pixel; where that would leave a
    class without training pixels, the halo is not applied.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held = np.zeros(labels.size, dtype=bool)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        want = fraction * members.size
        ids = np.unique(groups[members])
        if ids.size >= 2:
            rng.shuffle(ids)
            taken = 0
            for group in ids[:-1]:
                if taken >= want:
                    break
                chosen = members[groups[members] == group]
                held[chosen] = True
                taken += chosen.size
        else:
            along = rows[members] if np.ptp(rows[members]) >= np.ptp(cols[members]) else cols[members]
            count = int(round(want))
            if 0 < count < members.size:
                held[members[np.argsort(along, kind="stable")][members.size - count:]] = True
    training = ~held
    if halo > 0 and held.any():
        clear = training & ~_near(rows, cols, held, halo)
        if all(clear[labels == value].any() for value in np.unique(labels)):
            training = clear
    return np.flatnonzero(training), np.flatnonzero(held)


def _near(rows: np.ndarray, cols: np.ndarray, marked: np.ndarray, reach: int) -> np.ndarray:
    """Which pixels lie within ``reach`` pixels (Chebyshev distance) of a marked one."""
    from scipy.ndimage import maximum_filter

    r0, c0 = rows.min(), cols.min()
    grid = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), dtype=bool)
    grid[rows[marked] - r0, cols[marked] - c0] = True
    grown = maximum_filter(grid, size=2 * reach + 1, mode="constant", cval=False)
    return grown[rows - r0, cols - c0]
