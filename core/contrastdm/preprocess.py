"""Label-free preprocessing fitted on the scene: per-band standardisation and PCA."""

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
    explained_variance: np.ndarray | None = None  # [K], fraction of total
    _cache: tuple | None = field(default=None, repr=False, compare=False)

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
        if self._cache is None:
            # float32 is ample for standardised values and halves the cost on every tile.
            self._cache = (self.mean.astype(np.float32), (1.0 / self.scale).astype(np.float32),
                           None if self.components is None else self.components.astype(np.float32))
        mean, inv_scale, components = self._cache
        bands, height, width = data.shape
        z = ((data.reshape(bands, -1).T - mean) * inv_scale).astype(np.float32, copy=False)
        if valid is not None:
            z[~valid.ravel()] = 0.0  # invalid pixels sit at the scene mean
        out = z if components is None else z @ components
        out = np.ascontiguousarray(out.T.reshape(-1, height, width), dtype=np.float32)
        return out, z.reshape(height, width, bands)

    def standardiser(self) -> Preprocessor:
        """The same standardisation of the bands, without the PCA (the spectral member's inputs)."""
        return Preprocessor(self.mean, self.scale, None, None)

    def output_std(self) -> np.ndarray:
        """Standard deviation of each output channel over the pixels it was fitted on.

        A component's variance is its eigenvalue, the explained fraction of the total; the total
        variance of standardised bands is their number (constant bands, zero here, make this an
        upper bound).
        """
        if self.components is None:
            return np.ones(self.in_bands)
        return np.sqrt(np.maximum(np.asarray(self.explained_variance) * self.in_bands, 1e-12))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"mean": self.mean, "scale": self.scale}
        if self.components is not None:
            arrays["components"] = self.components
            arrays["explained_variance"] = self.explained_variance
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Preprocessor:
        return cls(arrays["mean"], arrays["scale"], arrays.get("components"), arrays.get("explained_variance"))


def sample_pixels(ds, info, max_pixels: int, seed: int, feedback=None, tile_size: int = 512) -> np.ndarray:
    """Up to ``max_pixels`` valid pixel spectra ``[N, B]`` drawn evenly from the whole scene, tile by tile."""
    feedback = feedback or NullFeedback()
    rng = np.random.default_rng(seed)
    tiles = list(iter_tiles(info.width, info.height, tile_size))
    total = info.width * info.height
    chosen = tiles if total <= 4 * max_pixels else [tiles[i] for i in sorted(
        rng.choice(len(tiles), size=max(1, min(len(tiles), int(len(tiles) * 4 * max_pixels / total) + 1)), replace=False))]
    fraction = min(1.0, max_pixels / max(1, sum(int(t.width * t.height) for t in chosen)))
    samples = []
    for index, window in enumerate(chosen):
        check_cancelled(feedback)
        data, valid = read_window(ds, window, info)
        spectra = data[:, valid].T
        if fraction < 1.0 and len(spectra):
            spectra = spectra[rng.random(len(spectra)) < fraction]
        samples.append(spectra)
        feedback.progress("preprocess", (index + 1) / len(chosen), "sampling the scene")
    pixels = np.concatenate(samples) if samples else np.empty((0, info.count), np.float32)
    if len(pixels) < 2:
        raise InputError("the raster has no valid pixels (all nodata or non-finite)")
    return pixels


def fit_preprocessor(pixels: np.ndarray, n_components: int | None) -> Preprocessor:
    """Standardise every band, then project on the leading principal components (``None`` or 0: no PCA)."""
    pixels = pixels.astype(np.float64)
    mean = pixels.mean(axis=0)
    scale = pixels.std(axis=0)
    scale[~(scale > 1e-12)] = 1.0  # constant bands carry no information; avoid dividing by zero
    z = (pixels - mean) / scale
    if not n_components or n_components >= pixels.shape[1]:
        return Preprocessor(mean, scale, None, None)
    cov = z.T @ z / max(1, len(z) - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1][:n_components]
    components = eigenvectors[:, order]
    # A fixed sign per component keeps models reproducible across platforms' eigensolvers.
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(components.shape[1])])
    components = components * np.where(signs == 0, 1.0, signs)
    explained = eigenvalues[order] / max(eigenvalues.sum(), 1e-12)
    return Preprocessor(mean, scale, components, explained)
