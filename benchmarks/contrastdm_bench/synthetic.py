"""Generated scenes unlike Indian Pines, so defaults are judged off the scene they were tuned on.

Both are 30 m imaging-spectrometer scenes (211 bands, 400-2500 nm every 10 nm, reflectance x 10,000 as int16,
with the deep water-vapour bands left noisy as a retrieval leaves them), built from a finer map of objects:
each object gets its own spectrum (its material's model with its own parameters), each 30 m pixel the
area-weighted mean of the objects it covers (so object edges give mixed pixels), then a per-pixel brightness
change and sensor noise. The ground truth labels a pixel with the class that covers at least
:data:`PURE_SHARE` of it, else leaves it unlabelled.

- ``urban-sim``: roofs (tile, metal, concrete, bitumen), pavement (asphalt, concrete), low vegetation, trees,
  bare soil and water on a street grid; buildings and trees of 1-4 px, streets as 1-2 px lines.
- ``fields-sim``: a few large fields and many small ones of six crops (vegetation at different cover,
  chlorophyll and water), fallow soil and woods, with grass margins; each field varies smoothly inside.

The scenes are fixed (their own seed); benchmark seeds vary only the splits and the methods.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

WAVELENGTHS = np.arange(400.0, 2501.0, 10.0)  # nm
PURE_SHARE = 0.5
URBAN_CLASSES = ("Roof", "Pavement", "Low vegetation", "Tree", "Soil", "Water")
FIELDS_CLASSES = ("Corn", "Soybean", "Wheat", "Alfalfa", "Pasture", "Sunflower", "Fallow", "Woods")
SCENES = {"urban-sim": URBAN_CLASSES, "fields-sim": FIELDS_CLASSES}


def _bump(lam, centre, width):
    return np.exp(-0.5 * ((lam - centre) / width) ** 2)


def _step(lam, centre, width):
    return 1.0 / (1.0 + np.exp(-(lam - centre) / width))


def soil(lam, brightness=1.0, moisture=0.2, clay=0.5):
    """Bare soil: reflectance rising into the SWIR, iron and clay features, darker and with water bands
    when moist. ``lam`` in micrometres."""
    base = 0.07 + 0.25 * (1.0 - np.exp(-(lam - 0.35) / 0.55))
    base = base - 0.02 * _bump(lam, 0.9, 0.09) - 0.04 * clay * _bump(lam, 2.2, 0.03)
    water = 1.0 - moisture * (0.3 * _bump(lam, 1.45, 0.05) + 0.45 * _bump(lam, 1.94, 0.07))
    return brightness * (1.0 - 0.45 * moisture) * base * water


def vegetation(lam, cover=0.9, chlorophyll=1.0, water=1.0, nir=0.45, background=None):
    """A canopy over ``background`` (soil by default): green peak, red absorption, red edge, NIR plateau,
    leaf-water absorptions and a falling SWIR."""
    green = 0.04 + 0.06 * _bump(lam, 0.55, 0.035) * (1.3 - 0.5 * chlorophyll)
    red = 0.035 * chlorophyll * _bump(lam, 0.675, 0.025)
    edge = _step(lam, 0.705 + 0.015 * chlorophyll, 0.013)
    leaf = np.maximum(green - red, 0.01) * (1.0 - edge) + nir * edge
    leaf = leaf * np.where(lam > 1.3, 1.0 - 0.45 * water * (lam - 1.3) / 1.2, 1.0)
    leaf = leaf * (1.0 - water * (0.07 * _bump(lam, 0.97, 0.03) + 0.15 * _bump(lam, 1.2, 0.04)
                                   + 0.5 * _bump(lam, 1.45, 0.06) + 0.65 * _bump(lam, 1.94, 0.08)))
    below = soil(lam) if background is None else background
    return cover * leaf + (1.0 - cover) * below


def water_body(lam, turbidity=0.3):
    return 0.02 + 0.05 * turbidity * _bump(lam, 0.57, 0.09) + 0.03 * np.exp(-(lam - 0.4) / 0.08) \
        + 0.004 * np.exp(-(lam - 0.7) / 0.3)


def asphalt(lam, age=0.3):
    return (0.05 + 0.07 * age + 0.035 * (lam - 0.4) / 2.1) * (1.0 - 0.1 * _bump(lam, 1.73, 0.03)
                                                            - 0.12 * _bump(lam, 2.31, 0.04))


def concrete(lam, brightness=1.0):
    return brightness * (0.2 + 0.12 * (1.0 - np.exp(-(lam - 0.38) / 0.25)) - 0.05 * _bump(lam, 2.33, 0.04)
                         - 0.02 * _bump(lam, 1.94, 0.08))


def red_tile(lam, brightness=1.0):
    return brightness * (0.06 + 0.26 * _step(lam, 0.58, 0.025) - 0.06 * _bump(lam, 0.9, 0.1)
                         - 0.04 * (lam > 1.3) * (lam - 1.3))


def metal(lam, brightness=1.0):
    return brightness * (0.28 + 0.04 * (lam - 0.4) - 0.05 * _bump(lam, 0.85, 0.15))


def transmittance(lam):
    """The atmosphere's two-way transmittance, roughly: the water-vapour bands near 1.4 and 1.9 um are almost
    opaque, so a retrieval leaves them noisy."""
    deep = 0.98 * (_bump(lam, 1.38, 0.035) + _bump(lam, 1.87, 0.05))
    mild = 0.5 * _bump(lam, 0.94, 0.02) + 0.6 * _bump(lam, 1.135, 0.025) + 0.3 * _bump(lam, 2.5, 0.05)
    return np.clip(1.0 - deep - mild, 0.01, 1.0)


def _pixels(objects: np.ndarray, spectra: np.ndarray, factor: int) -> np.ndarray:
    """Area-weighted mean spectrum ``[H, W, B]`` of the objects in each ``factor x factor`` block of the fine
    object map."""
    fh, fw = objects.shape
    h, w = fh // factor, fw // factor
    coarse = (np.arange(fh)[:, None] // factor) * w + np.arange(fw)[None, :] // factor
    keys, counts = np.unique(coarse.ravel().astype(np.int64) * len(spectra) + objects.ravel(), return_counts=True)
    cube = np.zeros((h * w, spectra.shape[1]))
    np.add.at(cube, keys // len(spectra), spectra[keys % len(spectra)] * (counts / factor ** 2)[:, None])
    return cube.reshape(h, w, -1)


def _ground_truth(classes: np.ndarray, factor: int, n_classes: int) -> np.ndarray:
    """The class covering at least PURE_SHARE of each coarse pixel (1..K), else 0."""
    fh, fw = classes.shape
    shares = np.stack([(classes == k).reshape(fh // factor, factor, fw // factor, factor).mean(axis=(1, 3))
                       for k in range(1, n_classes + 1)])
    best = shares.argmax(0)
    return np.where(shares.max(0) >= PURE_SHARE, best + 1, 0).astype(np.uint8)


def _observe(cube: np.ndarray, rng: np.random.Generator, shade: float = 0.0) -> np.ndarray:
    """Per-pixel illumination (a ``shade`` share of the pixels partly in shadow), sensor noise and the
    retrieval's noise in absorbed bands; int16 x 10,000."""
    lam = WAVELENGTHS / 1000.0
    h, w, _ = cube.shape
    light = rng.normal(1.0, 0.08, size=(h, w, 1))
    light = np.where(rng.random((h, w, 1)) < shade, light * rng.uniform(0.45, 0.85, (h, w, 1)), light)
    noise = rng.normal(0.0, 1.0, size=cube.shape) * (0.005 + 0.005 * (lam > 1.0)) / np.sqrt(transmittance(lam))
    return np.clip(np.round((cube * light + noise) * 10_000), -1000, 15_000).astype(np.int16)


class _Objects:
    """A fine map of object ids with one spectrum and one class per object."""

    def __init__(self, shape, rng) -> None:
        self.map = np.zeros(shape, dtype=np.int64)
        self.spectra, self.classes, self.rng = [], [], rng

    def add(self, mask, class_id: int, spectrum) -> None:
        self.map[mask] = len(self.spectra)
        self.spectra.append(np.asarray(spectrum, dtype=np.float64))
        self.classes.append(class_id)

    def class_map(self) -> np.ndarray:
        return np.asarray(self.classes)[self.map]


def _disk(shape, row, col, radius):
    rows, cols = np.ogrid[:shape[0], :shape[1]]
    return (rows - row) ** 2 + (cols - col) ** 2 <= radius ** 2


def _urban_materials(lam, rng):
    """Spectrum makers per urban class (1-based), each drawing its own parameters."""
    u = rng.uniform
    return {
        1: lambda: [red_tile(lam, u(0.7, 1.2)), metal(lam, u(0.6, 1.3)), concrete(lam, u(0.75, 1.1)),
                    asphalt(lam, u(0.0, 0.3)) * u(0.8, 1.1)][rng.integers(4)],
        2: lambda: asphalt(lam, u(0.1, 0.9)) if u() < 0.75 else concrete(lam, u(0.6, 0.9)),
        3: lambda: vegetation(lam, u(0.6, 0.95), u(0.6, 1.0), u(0.6, 1.0), u(0.35, 0.5),
                              soil(lam, u(0.8, 1.2), u(0.1, 0.4))),
        4: lambda: vegetation(lam, u(0.85, 1.0), u(0.9, 1.3), u(0.9, 1.2), u(0.28, 0.4),
                              soil(lam, 0.5, 0.4)) * u(0.75, 0.95),
        5: lambda: soil(lam, u(0.8, 1.3), u(0.05, 0.5), u(0.2, 0.9)),
        6: lambda: water_body(lam, u(0.1, 0.8)),
    }


def urban_scene(size: int = 160, factor: int = 6, seed: int = 2025):
    """(cube [H, W, 211] int16, ground truth [H, W] uint8): a town on a street grid with a river and a park."""
    rng = np.random.default_rng(seed)
    fine = size * factor
    make = _urban_materials(WAVELENGTHS / 1000.0, rng)
    objects = _Objects((fine, fine), rng)
    objects.add(np.ones((fine, fine), bool), 3, make[3]())  # a lawn under everything else
    _urban_ground(objects, make, fine, rng)
    _urban_blocks(objects, make, fine, factor, rng)
    _urban_plots(objects, make, fine, factor, rng)
    cube = _pixels(objects.map, np.stack(objects.spectra), factor)
    return _observe(cube, rng, shade=0.2), _ground_truth(objects.class_map(), factor, len(URBAN_CLASSES))


def _urban_ground(objects, make, fine, rng) -> None:
    """Parks (lawn patches, tree groups, bare plots) and a river with a pond."""
    for _ in range(60):
        r, c, h, w = rng.integers(0, fine, 2).tolist() + rng.integers(10, 60, 2).tolist()
        mask = np.zeros((fine, fine), bool)
        mask[r:r + h, c:c + w] = True
        class_id = 3 if rng.random() < 0.6 else 5
        objects.add(mask, class_id, make[class_id]())
    rows = np.arange(fine)
    centre = fine * 0.7 + 0.08 * fine * np.sin(rows / fine * 3 * np.pi)
    cols = np.arange(fine)[None, :]
    width = rng.uniform(8, 14)
    objects.add(np.abs(cols - centre[:, None]) < width, 6, make[6]())
    objects.add(_disk((fine, fine), fine * 0.25, fine * 0.3, rng.uniform(25, 40)), 6, make[6]())


def _urban_blocks(objects, make, fine, factor, rng) -> None:
    """Streets every 15-30 px of 1-2 px width, buildings and trees of 1-4 px in the blocks between them."""
    edges = lambda: np.cumsum(rng.integers(14 * factor // 2, 28 * factor // 2, size=fine))  # noqa: E731
    river = objects.class_map() == 6
    for axis in (0, 1):
        for position in edges():
            if position >= fine:
                break
            width = int(rng.integers(factor // 2, 2 * factor))
            mask = np.zeros((fine, fine), bool)
            (mask.__setitem__((slice(position, position + width), slice(None)), True) if axis == 0
             else mask.__setitem__((slice(None), slice(position, position + width)), True))
            objects.add(mask & ~river, 2, make[2]())
    street = objects.class_map() == 2
    for _ in range(int(fine * fine / 300)):
        r, c = rng.integers(0, fine, 2)
        if rng.random() < 0.55:
            h, w = rng.integers(factor, 4 * factor, 2)
            mask = np.zeros((fine, fine), bool)
            mask[r:r + h, c:c + w] = True
            objects.add(mask & ~street & ~river, 1, make[1]())
        else:
            objects.add(_disk((fine, fine), r, c, rng.uniform(0.5, 2.0) * factor) & ~street & ~river, 4, make[4]())


def _urban_plots(objects, make, fine, factor, rng) -> None:
    """Building sites (bare soil) and small squares (lawn) of 3-8 px, over whatever stood there."""
    for _ in range(40):
        h, w = (rng.integers(3, 8, 2) * factor).tolist()
        r, c = int(rng.integers(0, fine - h)), int(rng.integers(0, fine - w))
        mask = np.zeros((fine, fine), bool)
        mask[r:r + h, c:c + w] = True
        class_id = 5 if rng.random() < 0.6 else 3
        objects.add(mask & (objects.class_map() != 6), class_id, make[class_id]())


def _crop_makers(lam, rng):
    """Spectrum makers per field class (1-based): six crops, fallow soil, woods; ``(level)`` shifts a field's
    cover and vigour smoothly inside it."""
    u = rng.uniform
    crop = {1: (0.8, 1.05, 1.0, 0.47), 2: (0.75, 1.0, 0.95, 0.49), 3: (0.7, 0.9, 0.85, 0.44),
            4: (0.8, 1.1, 1.0, 0.5), 5: (0.68, 0.9, 0.9, 0.43), 6: (0.7, 0.95, 0.85, 0.46)}

    def field(class_id):
        cover, chl, water, nir = crop[class_id]
        background = soil(lam, u(0.8, 1.2), u(0.1, 0.4), u(0.3, 0.8))
        cover, chl = cover * u(0.7, 1.15), chl * u(0.8, 1.2)  # sowing date and vigour differ by field
        return lambda level: vegetation(lam, min(cover * level, 1.0), chl, water * u(0.9, 1.1), nir, background)

    def fallow():
        brightness, moisture = u(0.8, 1.2), u(0.05, 0.5)
        return lambda level: soil(lam, brightness * (0.9 + 0.1 * level), moisture)

    def woods():
        canopy = vegetation(lam, 1.0, u(1.0, 1.3), 1.1, u(0.3, 0.38)) * u(0.7, 0.9)
        return lambda level: canopy * (0.9 + 0.1 * level)

    return {**{k: (lambda k=k: field(k)) for k in crop}, 7: fallow, 8: woods}


def fields_scene(size: int = 160, factor: int = 4, seed: int = 2026):
    """(cube [H, W, 211] int16, ground truth [H, W] uint8): four large fields and many small ones, with grass
    margins; each field's cover varies smoothly inside it."""
    rng = np.random.default_rng(seed)
    fine = size * factor
    lam = WAVELENGTHS / 1000.0
    makers = _crop_makers(lam, rng)
    margin = vegetation(lam, 0.7, 0.8, 0.9, 0.4)
    objects = _Objects((fine, fine), rng)
    objects.add(np.ones((fine, fine), bool), 0, margin)
    texture = ndimage.gaussian_filter(rng.normal(size=(fine, fine)), 6 * factor)
    texture = 1.0 + 0.25 * texture / texture.std()
    taken = np.zeros((fine, fine), bool)
    large = rng.permutation(len(FIELDS_CLASSES))[:4] + 1  # four large fields of four classes
    for class_id in large:
        _place_field(objects, taken, makers, texture, int(class_id), (50, 70), factor, rng, attempts=200)
    for _ in range(2000):  # then small fields wherever they still fit
        class_id = int(rng.integers(1, len(FIELDS_CLASSES) + 1))
        _place_field(objects, taken, makers, texture, class_id, (6, 20), factor, rng, attempts=1)
    cube = _pixels(objects.map, np.stack(objects.spectra), factor)
    return _observe(cube, rng), _ground_truth(objects.class_map(), factor, len(FIELDS_CLASSES))


def _place_field(objects, taken, makers, texture, class_id, sides, factor, rng, attempts: int) -> bool:
    """One rectangular field of ``class_id`` with sides in ``sides`` (30 m pixels) where it keeps a one-pixel
    grass margin to every other field; its cover steps through six levels along the smooth ``texture``."""
    fine = taken.shape[0]
    for _ in range(attempts):
        h, w = (rng.integers(*sides, 2) * factor).tolist()
        r, c = int(rng.integers(0, fine - h)), int(rng.integers(0, fine - w))
        if taken[max(r - factor, 0):r + h + factor, max(c - factor, 0):c + w + factor].any():
            continue
        spectrum_at = makers[class_id]()
        inside = texture[r:r + h, c:c + w]
        levels = np.linspace(inside.min(), inside.max(), 6)
        zones = np.digitize(inside, levels[1:-1])
        for zone in np.unique(zones):
            mask = np.zeros(taken.shape, bool)
            mask[r:r + h, c:c + w] = zones == zone
            objects.add(mask, class_id, spectrum_at(float(levels[zone])))
        taken[r:r + h, c:c + w] = True
        return True
    return False


def generated_scene(name: str):
    """(cube, ground truth, class names, wavelengths) of a generated scene."""
    cube, gt = urban_scene() if name == "urban-sim" else fields_scene()
    return cube, gt, SCENES[name], tuple(float(w) for w in WAVELENGTHS)
