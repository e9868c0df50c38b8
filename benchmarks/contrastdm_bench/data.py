"""Benchmark scenes and their label-free features (standardised spectra, PCA, reflect-padded patches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contrastdm.errors import InputError
from contrastdm.io.spectral import SpectralInfo
from contrastdm.preprocess import SceneSample, fit_scene
from contrastdm.spatial import guide_from_features

# Standard .mat files of the other two usual scenes (Grupo de Inteligencia Computacional, UPV/EHU).
PAVIA_UNIVERSITY_CLASSES = (
    "Asphalt", "Meadows", "Gravel", "Trees", "Painted metal sheets", "Bare Soil", "Bitumen",
    "Self-Blocking Bricks", "Shadows",
)
SALINAS_CLASSES = (
    "Brocoli_green_weeds_1", "Brocoli_green_weeds_2", "Fallow", "Fallow_rough_plow", "Fallow_smooth", "Stubble",
    "Celery", "Grapes_untrained", "Soil_vinyard_develop", "Corn_senesced_green_weeds", "Lettuce_romaine_4wk",
    "Lettuce_romaine_5wk", "Lettuce_romaine_6wk", "Lettuce_romaine_7wk", "Vinyard_untrained",
    "Vinyard_vertical_trellis",
)
# dataset name -> (cube file, cube variable, ground-truth file, ground-truth variable, class names)
MAT_SCENES = {
    "pavia-university": ("PaviaU.mat", "paviaU", "PaviaU_gt.mat", "paviaU_gt", PAVIA_UNIVERSITY_CLASSES),
    "salinas": ("Salinas_corrected.mat", "salinas_corrected", "Salinas_gt.mat", "salinas_gt", SALINAS_CLASSES),
}
GENERATED = ("urban-sim", "fields-sim")  # built by code: contrastdm_bench.synthetic
DATASETS = ("indian-pines", "indian-pines-raw", *GENERATED, *MAT_SCENES)


@dataclass
class Scene:
    """A labelled scene: ``cube`` [H, W, B], ``gt`` [H, W] (0 = unlabelled, classes 1..K)."""

    name: str
    cube: np.ndarray
    gt: np.ndarray
    class_names: tuple
    wavelengths: tuple | None = None  # nm, when the scene carries them

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.gt.shape)

    @property
    def class_ids(self) -> list[int]:
        return list(range(1, len(self.class_names) + 1))


def _mat_variable(path: Path, variable: str) -> np.ndarray:
    from scipy.io import loadmat

    data = loadmat(str(path))
    if variable not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise InputError(f"{path.name} has no variable '{variable}' (found: {', '.join(found)})")
    return np.asarray(data[variable])


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / name.lower()):
        if candidate.is_file():
            return candidate
    raise InputError(f"{name} not found in {folder}")


def load_scene(name: str, data_dir=None) -> Scene:
    """``indian-pines`` (found by :func:`contrastdm.datasets.load_indian_pines`), ``urban-sim`` and ``fields-sim``
    (generated, :mod:`contrastdm_bench.synthetic`), ``pavia-university`` or ``salinas`` (the standard .mat files
    in ``data_dir``)."""
    if name == "indian-pines":
        from contrastdm.datasets import INDIAN_PINES_CLASSES, load_indian_pines

        cube, gt = load_indian_pines(data_dir)
        return Scene(name, cube, gt, INDIAN_PINES_CLASSES)
    if name == "indian-pines-raw":
        from contrastdm.datasets import INDIAN_PINES_CLASSES, load_indian_pines, raw_indian_pines

        cube, gt = load_indian_pines(data_dir)
        raw, wavelengths = raw_indian_pines(cube)
        return Scene(name, raw, gt, INDIAN_PINES_CLASSES, wavelengths)
    if name in GENERATED:
        from .synthetic import generated_scene

        return Scene(name, *generated_scene(name))
    if name not in MAT_SCENES:
        raise InputError(f"unknown dataset '{name}'; use one of {', '.join(DATASETS)}")
    if not data_dir:
        raise InputError(f"{name} needs --data-dir with the folder holding its .mat files")
    cube_file, cube_var, gt_file, gt_var, names = MAT_SCENES[name]
    folder = Path(data_dir)
    cube = _mat_variable(_find(folder, cube_file), cube_var)
    gt = _mat_variable(_find(folder, gt_file), gt_var).astype(np.uint8)
    if cube.ndim != 3 or cube.shape[:2] != gt.shape:
        raise InputError(f"{name}: cube {cube.shape} and ground truth {gt.shape} do not match")
    if int(gt.max()) > len(names):
        raise InputError(f"{name}: ground truth has class {int(gt.max())} but only {len(names)} classes are known")
    return Scene(name, cube, gt, names)


@dataclass
class Features:
    """Label-free inputs shared by every method (fitted on all pixels of the scene, never on labels).

    ``spectra`` [H*W, B]: standardised bands (pixel-wise methods). ``padded`` [K, H+2r, W+2r]: the
    standardised leading principal components, reflect-padded by the patch radius (patch methods).
    """

    spectra: np.ndarray
    padded: np.ndarray
    patch_size: int
    shape: tuple
    explained_variance: float
    guide: np.ndarray | None = None  # [3, H, W] leading components at unit variance (edge-preserving smoothing)
    dropped_bands: list = field(default_factory=list)  # 0-based bands the engine's band selection left out
    _windows: np.ndarray | None = field(default=None, repr=False)

    @property
    def radius(self) -> int:
        return self.patch_size // 2

    @property
    def n_components(self) -> int:
        return int(self.padded.shape[0])

    def patches(self, flat_index: np.ndarray) -> np.ndarray:
        """Patches ``[N, K, p, p]`` (float32, a copy) centred on the given flat pixel indices."""
        if self._windows is None:
            p = self.patch_size
            self._windows = np.lib.stride_tricks.sliding_window_view(self.padded, (p, p), axis=(1, 2))
        rows, cols = np.divmod(np.asarray(flat_index, dtype=np.int64), self.shape[1])
        # windows: [K, H, W, p, p] -> pick pixels -> [N, K, p, p]
        return np.ascontiguousarray(self._windows[:, rows, cols].transpose(1, 0, 2, 3))


def make_features(scene: Scene, patch_size: int, n_components: int = 30, reduction: str = "pca") -> Features:
    """The engine's own label-free preprocessing (:func:`contrastdm.preprocess.fit_scene`: bad bands, then
    standardisation and the reduction) fitted on every pixel and its right-hand neighbour, as training does
    on a scene of this size."""
    h, w, b = scene.cube.shape
    cube = scene.cube.astype(np.float32)
    sample = SceneSample(cube[:, :-1].reshape(-1, b), cube[:, 1:].reshape(-1, b), np.ones(b))
    pre, selection = fit_scene(sample, SpectralInfo(wavelengths=scene.wavelengths), n_components, reduction)
    kept = selection.kept_indices()
    data = np.transpose(cube[:, :, kept], (2, 0, 1))  # [B', H, W]
    reduced, standard = pre.transform_with_bands(data)
    spectra = standard.reshape(h * w, -1)
    r = patch_size // 2
    padded = np.pad(reduced, ((0, 0), (r, r), (r, r)), mode="reflect")
    explained = float(pre.explained_variance.sum()) if pre.explained_variance is not None and reduction == "pca" else 1.0
    guide = guide_from_features(reduced, pre.output_std())
    return Features(np.ascontiguousarray(spectra), np.ascontiguousarray(padded), patch_size, (h, w), explained,
                    np.ascontiguousarray(guide), dropped_bands=[int(i) for i in np.flatnonzero(~selection.keep)])
