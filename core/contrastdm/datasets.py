"""Benchmark scenes: the real Indian Pines scene as a georeferenced GeoTIFF, with user-style training polygons.

Indian Pines (AVIRIS, 12 June 1992, Indian Pine Test Site 3, Tippecanoe County, Indiana) is distributed as
bare arrays without georeferencing. We assign an approximate one so that the scene behaves like any GIS
raster: UTM zone 16N (EPSG:32616), 20 m pixels, upper-left corner at E 499000, N 4480000 (near
40.47 N, 87.01 W). It is good for exercising reprojection, not for overlaying other data precisely.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError
from .feedback import NullFeedback

INDIAN_PINES_CLASSES = (
    "Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees", "Grass-pasture-mowed",
    "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill", "Soybean-clean", "Wheat", "Woods",
    "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers",
)
INDIAN_PINES_CRS = "EPSG:32616"
INDIAN_PINES_ORIGIN = (499_000.0, 4_480_000.0)
INDIAN_PINES_PIXEL = 20.0
# The "corrected" scene drops bands 104-108, 150-163 and 220 (water absorption) of the 220-band scene.
INDIAN_PINES_BANDS = tuple(b for b in range(1, 221) if not (104 <= b <= 108 or 150 <= b <= 163 or b == 220))
# Approximate AVIRIS band centres of the 220-band scene: 400-2500 nm evenly spaced (about 9.6 nm apart).
INDIAN_PINES_WAVELENGTHS = tuple(round(400.0 + i * 2100.0 / 219, 2) for i in range(220))
_MAT_SHA256 = {
    "Indian_pines_corrected.mat": "ec2f8808710919d566f70f0d4aa885aae1ddfd42b734aba71c5e12ca65450939",
    "Indian_pines_gt.mat": "65c4687a8ab04f6da4789799bc3bc4f6e88bccac3ed6a2e6ae367e5e6b9e429c",
}
_NPY_SHA256 = {
    "Indian_pines_corrected.npy": "8f038e4d81569e38ebfc72a15c9984c150de42580ab260be10a13442e912e451",
    "Indian_pines_gt.npy": "44610d21625b311b05b8e0c4ba9a6cc755c2fbb9df48e4d89419024aa6ad3f9d",
}
_TENSORLY = "tensorly==0.10.0"
_TENSORLY_DIR = "tensorly/datasets/data/"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked(name: str, data: bytes, table: dict) -> bytes:
    if _sha256(data) != table[name]:
        raise InputError(f"{name} does not have the expected SHA-256; the file is damaged or a different version")
    return data


def _candidate_dirs(source) -> list[Path]:
    dirs = []
    if source:
        dirs.append(Path(source))
    if os.environ.get("CONTRASTDM_DATA_DIR"):
        dirs.append(Path(os.environ["CONTRASTDM_DATA_DIR"]) / "indian_pines")
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        dirs.append(parent / ".." / "shared" / "data" / "indian_pines")
        dirs.append(parent / "shared" / "data" / "indian_pines")
    return dirs


def _from_mat(folder: Path):
    from io import BytesIO

    from scipy.io import loadmat

    cube_bytes = _checked("Indian_pines_corrected.mat", (folder / "Indian_pines_corrected.mat").read_bytes(), _MAT_SHA256)
    gt_bytes = _checked("Indian_pines_gt.mat", (folder / "Indian_pines_gt.mat").read_bytes(), _MAT_SHA256)
    return loadmat(BytesIO(cube_bytes))["indian_pines_corrected"], loadmat(BytesIO(gt_bytes))["indian_pines_gt"]


def _from_npy_bytes(cube_bytes: bytes, gt_bytes: bytes):
    from io import BytesIO

    cube = np.load(BytesIO(_checked("Indian_pines_corrected.npy", cube_bytes, _NPY_SHA256)), allow_pickle=False)
    gt = np.load(BytesIO(_checked("Indian_pines_gt.npy", gt_bytes, _NPY_SHA256)), allow_pickle=False)
    return cube, gt


def _from_tensorly_wheel(feedback) -> tuple[np.ndarray, np.ndarray]:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "contrastdm"
    wheels = sorted(cache.glob("tensorly-0.10.0-*.whl"))
    if not wheels:
        feedback.message(f"downloading the {_TENSORLY} wheel from PyPI (it ships the Indian Pines arrays)")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                               "-q", "-d", str(cache), _TENSORLY], capture_output=True, text=True)
        wheels = sorted(cache.glob("tensorly-0.10.0-*.whl"))
        if done.returncode != 0 or not wheels:
            raise InputError("Indian Pines not found locally and the tensorly wheel could not be downloaded; "
                             "pass --source with the folder holding Indian_pines_corrected.mat and Indian_pines_gt.mat")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return _from_npy_bytes(wheel.read(_TENSORLY_DIR + "Indian_pines_corrected.npy"),
                               wheel.read(_TENSORLY_DIR + "Indian_pines_gt.npy"))


def load_indian_pines(source=None, feedback=None) -> tuple[np.ndarray, np.ndarray]:
    """The corrected cube ``(145, 145, 200)`` uint16 and ground truth ``(145, 145)`` (0 = unlabelled).

    Looks in ``source``, ``$CONTRASTDM_DATA_DIR``, a ``shared/data`` folder beside the checkout, an installed
    tensorly package, then the tensorly 0.10.0 wheel from PyPI; every file's SHA-256 is verified.
    """
    feedback = feedback or NullFeedback()
    for folder in _candidate_dirs(source):
        if (folder / "Indian_pines_corrected.mat").is_file() and (folder / "Indian_pines_gt.mat").is_file():
            cube, gt = _from_mat(folder)
            break
        if (folder / "Indian_pines_corrected.npy").is_file():
            cube, gt = _from_npy_bytes((folder / "Indian_pines_corrected.npy").read_bytes(),
                                       (folder / "Indian_pines_gt.npy").read_bytes())
            break
    else:
        if source:
            raise InputError(f"no Indian Pines files (.mat or .npy) in {source}")
        try:
            import tensorly  # noqa: F401

            data = Path(tensorly.__file__).parent / "datasets" / "data"
            cube, gt = _from_npy_bytes((data / "Indian_pines_corrected.npy").read_bytes(),
                                       (data / "Indian_pines_gt.npy").read_bytes())
        except (ImportError, FileNotFoundError):
            cube, gt = _from_tensorly_wheel(feedback)
    cube, gt = np.asarray(cube), np.asarray(gt)
    if cube.shape != (145, 145, 200) or gt.shape != (145, 145):
        raise InputError(f"unexpected Indian Pines shapes {cube.shape} and {gt.shape}")
    return cube.astype(np.uint16), gt.astype(np.uint8)


def raw_indian_pines(cube: np.ndarray, seed: int = 0) -> tuple[np.ndarray, tuple[float, ...]]:
    """The corrected cube with its 20 removed water-absorption bands put back, as a sensor delivers them:
    ``(145, 145, 220)`` uint16 and the approximate band centres in nm.

    In those bands the atmosphere absorbs nearly all light, so the signal is a few percent of the
    neighbouring band's (above the sensor's dark level of about 1000 DN) and noise dominates.
    """
    rng = np.random.default_rng(seed)
    height, width, _ = cube.shape
    out = np.zeros((height, width, 220), dtype=np.float64)
    kept = np.asarray(INDIAN_PINES_BANDS) - 1
    out[:, :, kept] = cube
    dark = 1000.0
    for band in sorted(set(range(220)) - set(kept.tolist())):
        nearest = kept[np.argmin(np.abs(kept - band))]
        signal = dark + 0.04 * (out[:, :, nearest] - dark)
        out[:, :, band] = signal + rng.normal(0.0, 40.0, size=(height, width))
    return np.clip(np.rint(out), 0, 65535).astype(np.uint16), INDIAN_PINES_WAVELENGTHS


def indian_pines_transform():
    from rasterio.transform import from_origin

    return from_origin(*INDIAN_PINES_ORIGIN, INDIAN_PINES_PIXEL, INDIAN_PINES_PIXEL)


def _fitting_positions(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Top-left corners where a ``height x width`` rectangle lies entirely inside ``mask``."""
    table = np.pad(mask.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
    return np.argwhere(sums == height * width)


def training_rectangles(gt: np.ndarray, fraction: float = 0.07, seed: int = 0, minimum: int = 3,
                        sizes=((4, 4), (3, 4), (4, 3), (3, 3), (2, 3), (3, 2), (2, 2), (1, 2), (2, 1), (1, 1))):
    """Small rectangles inside ground-truth fields, as a user would draw them, ~``fraction`` of each class.

    Fields (connected components of a class) are visited largest first, round-robin, so rectangles are spread
    over several fields; rectangles never touch each other. Returns ``[(row0, col0, row1, col1, class), ...]``
    with exclusive ends.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rectangles = []
    taken = np.zeros(gt.shape, dtype=bool)
    for value in [int(v) for v in np.unique(gt) if v != 0]:
        mask = gt == value
        target = max(minimum, int(round(fraction * mask.sum())))
        fields, count = ndimage.label(mask)
        order = np.argsort(-np.bincount(fields.ravel())[1:]) + 1
        covered, stalled = 0, 0
        while covered < target and stalled < len(order):
            stalled = 0
            for field_id in order:
                if covered >= target:
                    break
                free = (fields == field_id) & ~ndimage.binary_dilation(taken, iterations=1)
                placed = False
                for height, width in sizes:
                    if height * width > max(1, target - covered) * 2 and (height, width) != sizes[-1]:
                        continue
                    if free.shape[0] < height or free.shape[1] < width:
                        continue
                    positions = _fitting_positions(free, height, width)
                    if len(positions):
                        r, c = positions[rng.integers(len(positions))]
                        rectangles.append((int(r), int(c), int(r + height), int(c + width), value))
                        taken[r:r + height, c:c + width] = True
                        covered += height * width
                        placed = True
                        break
                stalled += 0 if placed else 1
    return rectangles


def validation_mask(gt: np.ndarray, rectangles, patch_size: int) -> np.ndarray:
    """Labelled pixels farther than the patch radius from every training pixel (no shared patch)."""
    from scipy import ndimage

    training = np.zeros(gt.shape, dtype=bool)
    for r0, c0, r1, c1, _ in rectangles:
        training[r0:r1, c0:c1] = True
    radius = patch_size // 2
    near = ndimage.binary_dilation(training, structure=np.ones((2 * radius + 1, 2 * radius + 1), bool))
    return (gt > 0) & ~near


def prepare_indian_pines(output_dir, source=None, patch_size: int = 11, seed: int = 0, feedback=None) -> dict:
    """Write the scene (GeoTIFF), ground truth (GeoTIFF), training and validation polygons (GeoPackage, EPSG:4326)."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import shapes
    from shapely.geometry import box, shape

    from .io.atomic import atomic_outputs

    feedback = feedback or NullFeedback()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    feedback.progress("read", 0.0, "loading Indian Pines")
    cube, gt = load_indian_pines(source, feedback)
    transform = indian_pines_transform()
    paths = {"raster": output_dir / "indian_pines.tif", "ground_truth": output_dir / "indian_pines_gt.tif",
             "training": output_dir / "training.gpkg", "validation": output_dir / "validation.gpkg"}
    profile = {"driver": "GTiff", "height": 145, "width": 145, "transform": transform, "crs": INDIAN_PINES_CRS,
               "tiled": True, "blockxsize": 64, "blockysize": 64, "compress": "deflate", "predictor": 2}
    rectangles = training_rectangles(gt, seed=seed)
    valid = validation_mask(gt, rectangles, patch_size)
    names = {i + 1: n for i, n in enumerate(INDIAN_PINES_CLASSES)}

    def to_map(geometry):
        from shapely.affinity import affine_transform

        return affine_transform(geometry, [transform.a, transform.b, transform.d, transform.e, transform.c, transform.f])

    training = gpd.GeoDataFrame(
        {"class_name": [names[v] for *_, v in rectangles], "class_id": [v for *_, v in rectangles]},
        geometry=[to_map(box(c0, r0, c1, r1)) for r0, c0, r1, c1, _ in rectangles], crs=INDIAN_PINES_CRS)
    labelled = np.where(valid, gt, 0).astype(np.int32)
    polygons = [(to_map(shape(geom)), int(v)) for geom, v in shapes(labelled, mask=labelled > 0)]
    validation = gpd.GeoDataFrame({"class_name": [names[v] for _, v in polygons], "class_id": [v for _, v in polygons]},
                                  geometry=[g for g, _ in polygons], crs=INDIAN_PINES_CRS)
    with atomic_outputs(*paths.values()) as (raster_tmp, gt_tmp, training_tmp, validation_tmp):
        with rasterio.open(raster_tmp, "w", count=200, dtype="uint16", **profile) as dst:
            dst.write(np.transpose(cube, (2, 0, 1)))
            for index, band in enumerate(INDIAN_PINES_BANDS, start=1):
                dst.set_band_description(index, f"band {band} of 220")
            dst.update_tags(SOURCE="AVIRIS Indian Pines, 12 June 1992 (Purdue University, doi:10.4231/R7RX991C)",
                            GEOREFERENCING="approximate: EPSG:32616, 20 m pixels, assigned for demonstration")
        with rasterio.open(gt_tmp, "w", count=1, dtype="uint8", nodata=0, **profile) as dst:
            dst.write(gt[None])
            dst.update_tags(CLASSES=",".join(INDIAN_PINES_CLASSES))
        for frame, tmp, layer in ((training, training_tmp, "training"), (validation, validation_tmp, "validation")):
            os.remove(tmp)  # OGR creates GeoPackages itself and refuses an existing (placeholder) file
            frame.to_crs("EPSG:4326").to_file(tmp, driver="GPKG", layer=layer)
    per_class = {names[v]: int(sum((r1 - r0) * (c1 - c0) for r0, c0, r1, c1, w in rectangles if w == v))
                 for v in names}
    totals = {names[v]: int((gt == v).sum()) for v in names}
    share = sum(per_class.values()) / max(1, sum(totals.values()))
    feedback.message(f"Indian Pines: {len(rectangles)} training rectangles covering {sum(per_class.values())} "
                     f"pixels ({100 * share:.1f}% of the labelled ones); {int(valid.sum())} validation pixels "
                     f"at least {patch_size // 2 + 1} pixels from any training pixel")
    feedback.progress("read", 1.0, "Indian Pines ready")
    return paths
