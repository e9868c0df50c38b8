"""Label-free preprocessing fitted on the scene: bad bands out, per-band standardisation, then PCA or MNF.

The scene is sampled once as pairs of horizontally adjacent pixels: the pixels give each band's signal, the
pair differences its noise (shift difference). The same sample decides the bad bands
(:mod:`contrastdm.bands`) and fits the reduction (:mod:`contrastdm.reduce`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .feedback import NullFeedback, check_cancelled
from .io.raster import iter_tiles, read_window


@dataclass
class Preprocessor:
    """Maps raw bands ``[B, h, w]`` to standardised principal components ``[K, h, w]`` (float32)."""

    mean: np.ndarray  # [B]
    scale: np.ndarray  # [B]
    components: np.ndarray | None  # [B, K] or None for no PCA
    explained_variance: np.ndarray | None = None  # [K]: PCA, fraction of total; MNF, signal-to-noise ranking
    output_scale: np.ndarray | None = None  # [K] std of each output channel on the fitted pixels
    _cache: tuple | None = field(default=None, repr=False, compare=False)
    _projection: object = field(default=None, repr=False, compare=False)  # torch [K, B] for apply_in_place

    @property
    def in_bands(self) -> int:
        return int(self.mean.size)

    @property
    def out_bands(self) -> int:
        return self.in_bands if self.components is None else int(self.components.shape[1])

    def transform(self, data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        return self.transform_with_bands(data, valid)[0]

    def transform_with_bands(self, data: np.ndarray, valid: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Output channels ``[K, h, w]`` and the standardised bands they came from, pixel-major ``[h, w, B]``
        (the spectral member's inputs, so a tile is standardised once)."""
        mean, inv_scale, components = self._float32()
        bands, height, width = data.shape
        z = ((data.reshape(bands, -1).T - mean) * inv_scale).astype(np.float32, copy=False)
        if valid is not None:
            z[~valid.ravel()] = 0.0  # invalid pixels sit at the scene mean
        out = z if components is None else z @ components
        out = np.ascontiguousarray(out.T.reshape(-1, height, width), dtype=np.float32)
        return out, z.reshape(height, width, bands)

    def apply_in_place(self, data: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`transform_with_bands` computes, in the layouts tiled inference wants: the output
        channels pixel-major ``[h, w, K]`` and the standardised bands band-major ``[B, h, w]``, which are
        ``data`` itself (float32, C-contiguous), standardised in place to spare a copy of the tile."""
        mean, inv_scale, components = self._float32()
        bands, height, width = data.shape
        z = data.reshape(bands, -1)
        z -= mean[:, None]
        z *= inv_scale[:, None]
        if valid is not None and not valid.all():
            z[:, ~valid.ravel()] = 0.0  # invalid pixels sit at the scene mean
        if components is None:
            return np.ascontiguousarray(z.T).reshape(height, width, bands), data
        import torch  # its matmul keeps to torch's thread setting; numpy's BLAS may start threads of its own

        if self._projection is None:
            self._projection = torch.from_numpy(np.ascontiguousarray(components.T))
        out = torch.mm(self._projection, torch.from_numpy(z)).T.contiguous().numpy()
        return out.reshape(height, width, -1), data

    def _float32(self) -> tuple:
        if self._cache is None:
            # float32 is ample for standardised values and halves the cost on every tile.
            self._cache = (self.mean.astype(np.float32), (1.0 / self.scale).astype(np.float32),
                           None if self.components is None else self.components.astype(np.float32))
        return self._cache

    def standardiser(self) -> Preprocessor:
        """The same standardisation of the bands, without the PCA (the spectral member's inputs)."""
        return Preprocessor(self.mean, self.scale, None, None)

    def output_std(self) -> np.ndarray:
        """Standard deviation of each output channel over the pixels it was fitted on.

        A component's variance is its eigenvalue, the explained fraction of the total; the total
        variance of standardised bands is their number (constant bands, zero here, make this an
        upper bound).
        """
        if self.output_scale is not None:
            return np.asarray(self.output_scale, dtype=np.float64)
        if self.components is None:
            return np.ones(self.in_bands)
        return np.sqrt(np.maximum(np.asarray(self.explained_variance) * self.in_bands, 1e-12))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"mean": self.mean, "scale": self.scale}
        if self.components is not None:
            arrays["components"] = self.components
            arrays["explained_variance"] = self.explained_variance
        if self.output_scale is not None:
            arrays["output_scale"] = self.output_scale
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Preprocessor:
        return cls(arrays["mean"], arrays["scale"], arrays.get("components"), arrays.get("explained_variance"),
                   arrays.get("output_scale"))


@dataclass
class SceneSample:
    """Pixel spectra of the scene ``[N, B]`` (every band, NaN where a band is invalid) with the spectra of each
    pixel's right-hand neighbour, and each band's valid fraction over the sampled pixels."""

    pixels: np.ndarray
    neighbours: np.ndarray
    valid_fraction: np.ndarray

    def complete(self, bands) -> tuple[np.ndarray, np.ndarray]:
        """(pixels, neighbours) restricted to ``bands``, keeping the pairs valid in all of them."""
        x, xn = self.pixels[:, bands], self.neighbours[:, bands]
        rows = np.isfinite(x).all(axis=1) & np.isfinite(xn).all(axis=1)
        return x[rows], xn[rows]


def _chosen_tiles(info, max_pixels: int, rng, tile_size: int) -> list:
    tiles = list(iter_tiles(info.width, info.height, tile_size))
    total = info.width * info.height
    if total <= 4 * max_pixels:
        return tiles
    size = max(1, min(len(tiles), int(len(tiles) * 4 * max_pixels / total) + 1))
    return [tiles[i] for i in sorted(rng.choice(len(tiles), size=size, replace=False))]


# A sample with fewer valid pixels than this share of ``max_pixels`` reads on (a scene mostly nodata).
_ENOUGH_SHARE = 4


def sample_pixels(ds, info, max_pixels: int, seed: int, feedback=None, tile_size: int = 512) -> SceneSample:
    """Up to ``max_pixels`` pixel pairs drawn evenly from the whole scene, tile by tile, every band of ``info``.

    A band's invalid values are NaN, so a band that is nodata everywhere (a bad band filled with the nodata
    value) does not make every pixel invalid; pixels invalid in every band are left out, so each band's valid
    fraction is over the pixels that hold data. On a large scene a share of its tiles is drawn; when they hold
    fewer than ``max_pixels / 4`` valid pixels (data in a small part of a large grid, a swath's corners), the
    other tiles are read on in a random order until they do or none is left. Memory stays bounded by a tile and
    the sample.
    """
    feedback = feedback or NullFeedback()
    rng = np.random.default_rng(seed)
    tiles = list(iter_tiles(info.width, info.height, tile_size))
    chosen = _chosen_tiles(info, max_pixels, rng, tile_size)
    fraction = min(1.0, max_pixels / max(1, sum(int(t.width * t.height) for t in chosen)))
    pixels, neighbours, found = [], [], 0
    for index, window in enumerate(chosen):
        found += _sample_window(ds, window, info, fraction, rng, pixels, neighbours, feedback)
        feedback.progress("preprocess", (index + 1) / len(chosen), "sampling the scene")
    read = {(t.col_off, t.row_off) for t in chosen}
    rest = [t for t in tiles if (t.col_off, t.row_off) not in read]
    if rest and found < max_pixels // _ENOUGH_SHARE:
        for index, i in enumerate(rng.permutation(len(rest))):
            found += _sample_window(ds, rest[i], info, fraction, rng, pixels, neighbours, feedback)
            feedback.progress("preprocess", (index + 1) / len(rest), "sampling the scene: looking for data")
            if found >= max_pixels // _ENOUGH_SHARE:
                break
    empty = np.empty((0, info.read_count), np.float32)
    sample = SceneSample(np.concatenate(pixels) if pixels else empty, np.concatenate(neighbours) if neighbours else empty,
                         np.zeros(info.read_count))
    if len(sample.pixels):
        sample.valid_fraction = np.isfinite(sample.pixels).mean(axis=0)
    if not np.isfinite(sample.pixels).any():
        raise InputError("the raster has no valid pixels (all nodata or non-finite)")
    return sample


def _sample_window(ds, window, info, fraction: float, rng, pixels: list, neighbours: list, feedback) -> int:
    """Add to ``pixels`` / ``neighbours`` a ``fraction`` of the window's pixels that hold data in some band,
    each with its right-hand neighbour; returns how many were added."""
    check_cancelled(feedback)
    data, valid = read_window(ds, window, info, per_band=True)
    if data.shape[2] < 2:
        return 0
    data[~valid] = np.nan
    rows, cols = np.nonzero(rng.random(data.shape[1:]) < fraction)
    inside = cols < data.shape[2] - 1
    rows, cols = rows[inside], cols[inside]
    holds_data = valid[:, rows, cols].any(axis=0)
    rows, cols = rows[holds_data], cols[holds_data]
    pixels.append(data[:, rows, cols].T)
    neighbours.append(data[:, rows, cols + 1].T)
    return int(rows.size)


def _standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[~(scale > 1e-12)] = 1.0  # constant bands carry no information; avoid dividing by zero
    return mean, scale


def fit_reduction(pixels: np.ndarray, neighbours: np.ndarray | None, n_components: int | None,
                  method: str = "pca") -> Preprocessor:
    """Standardise every band of ``pixels`` [N, B] (valid rows only), then reduce to ``n_components`` with
    ``method`` ("pca", or "mnf" which needs each pixel's ``neighbours``); ``None`` or 0 components: no
    reduction."""
    from .reduce import REDUCTIONS, fit_mnf, fit_pca

    if method not in REDUCTIONS:
        raise InputError(f"unknown reduction '{method}'; use one of {', '.join(REDUCTIONS)}")
    pixels = pixels.astype(np.float64)
    if len(pixels) < 2:
        raise InputError("the raster has no valid pixels in the bands kept (all nodata or non-finite)")
    mean, scale = _standardisation(pixels)
    z = (pixels - mean) / scale
    if not n_components or n_components >= pixels.shape[1]:
        return Preprocessor(mean, scale, None, None)
    if method == "mnf":
        if neighbours is None:
            raise ValueError("MNF needs each pixel's neighbour")
        reduction = fit_mnf(z, (neighbours.astype(np.float64) - mean) / scale, n_components)
    else:
        reduction = fit_pca(z, n_components)
    return Preprocessor(mean, scale, reduction.components, reduction.explained, reduction.output_std)


def fit_preprocessor(pixels: np.ndarray, n_components: int | None) -> Preprocessor:
    """Standardise every band, then project on the leading principal components (``None`` or 0: no PCA)."""
    return fit_reduction(pixels, None, n_components, "pca")


def fit_scene(sample: SceneSample, spectral, n_components: int | None, reduction: str = "pca", *,
              bands=None, drop_bands=None):
    """Bad bands decided on the sample and the spectral metadata, then the reduction fitted on the kept
    bands: ``(Preprocessor, BandSelection)``. ``bands``/``drop_bands``: 0-based overrides."""
    from .bands import select_bands

    selection = select_bands(spectral.wavelengths, spectral.bad_bands, sample.pixels, sample.neighbours,
                             sample.valid_fraction, bands=bands, drop_bands=drop_bands)
    pixels, neighbours = sample.complete(selection.kept_indices())
    return fit_reduction(pixels, neighbours, n_components, reduction), selection
