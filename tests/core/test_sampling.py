import numpy as np
import pytest
from scenes import write_scene

from contrastdm.errors import InputError
from contrastdm.io.raster import describe, open_raster
from contrastdm.preprocess import Preprocessor, fit_preprocessor, sample_pixels
from contrastdm.sampling import extract_patches, group_split, sample_unlabelled, stratified_split


def _identity(bands):
    return Preprocessor(np.zeros(bands), np.ones(bands), None)


def test_patches_are_reflect_padded_windows_around_each_pixel(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=21, width=19, bands=4, dtype="float32")
    p, r = 7, 3
    rows = np.array([0, 0, 20, 10, 5, 20])
    cols = np.array([0, 18, 0, 9, 1, 18])
    with open_raster(scene.raster) as ds:
        info = describe(ds)
        full = np.pad(ds.read(out_dtype="float32"), ((0, 0), (r, r), (r, r)), mode="reflect")
        patches, valid = extract_patches(ds, info, rows, cols, p, _identity(4), block=8)
    assert patches.shape == (6, 4, 7, 7) and valid.all()
    for i, (row, col) in enumerate(zip(rows, cols)):
        np.testing.assert_array_equal(patches[i], full[:, row: row + p, col: col + p])


def test_centre_spectra_come_standardised_from_the_same_reads(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=21, width=19, bands=6, dtype="float32")
    rows, cols = np.array([0, 20, 10, 3]), np.array([0, 18, 9, 17])
    with open_raster(scene.raster) as ds:
        info = describe(ds)
        raw = ds.read(out_dtype="float32")
        pre = fit_preprocessor(sample_pixels(ds, info, 1000, 0).complete(slice(None))[0], 3)
        patches, valid, spectra = extract_patches(ds, info, rows, cols, 5, pre, block=8, spectra=True)
        alone, _ = extract_patches(ds, info, rows, cols, 5, pre, block=8)
    np.testing.assert_array_equal(patches, alone)
    assert spectra.shape == (4, 6) and valid.all()
    expected = (raw[:, rows, cols].T - pre.mean) / pre.scale
    np.testing.assert_allclose(spectra, expected, rtol=1e-5, atol=1e-5)


def test_nodata_centres_are_flagged_and_nodata_neighbours_zeroed(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=12, width=12, bands=3, nodata=0, nodata_border=1)
    with open_raster(scene.raster) as ds:
        info = describe(ds)
        pre = fit_preprocessor(sample_pixels(ds, info, 1000, 0).complete(slice(None))[0], None)
        patches, valid = extract_patches(ds, info, np.array([0, 1, 6]), np.array([5, 1, 6]), 3, pre)
    assert valid.tolist() == [False, True, True]
    assert np.all(patches[1][:, 0, :] == 0) and np.all(patches[1][:, :, 0] == 0)


def test_pca_preprocessor_decorrelates_and_orders_variance(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5000, 3))
    pixels = np.hstack([base, base @ rng.standard_normal((3, 7))]) * 50 + 1000
    pre = fit_preprocessor(pixels, 3)
    out = pre.transform(pixels.T.reshape(10, 50, 100)).reshape(3, -1)
    cov = np.cov(out)
    assert np.allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-3 * cov.max())
    assert cov[0, 0] >= cov[1, 1] >= cov[2, 2]
    assert pre.explained_variance.sum() > 0.999
    restored = Preprocessor.from_arrays(pre.to_arrays())
    np.testing.assert_allclose(restored.transform(pixels.T.reshape(10, 50, 100)), out.reshape(3, 50, 100), rtol=1e-5)


def test_transform_with_bands_returns_the_standardised_bands_behind_the_components():
    rng = np.random.default_rng(1)
    pixels = rng.standard_normal((600, 6)) * 20 + 300
    pre = fit_preprocessor(pixels, 2)
    cube = pixels.T.reshape(6, 20, 30).astype(np.float32)
    valid = np.ones((20, 30), bool)
    valid[3, 4] = False
    cube[:, 3, 4] = np.nan  # what a nodata pixel may hold
    features, bands = pre.transform_with_bands(cube, valid)
    expected = (np.transpose(cube, (1, 2, 0)) - pre.mean) / pre.scale
    expected[3, 4] = 0.0
    assert bands.shape == (20, 30, 6) and bands.dtype == np.float32
    np.testing.assert_allclose(bands, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features, pre.transform(cube, valid))
    np.testing.assert_allclose(features, np.transpose(expected @ pre.components, (2, 0, 1)), rtol=1e-4, atol=1e-4)
    assert np.all(features[:, 3, 4] == 0) and np.isfinite(features).all()


def test_stratified_split_takes_the_asked_share_of_every_class():
    labels = np.repeat([0, 1, 2], [100, 40, 6])
    chosen, rest = stratified_split(labels, fraction=0.1, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [10, 4, 1]
    assert set(chosen).isdisjoint(rest) and len(chosen) + len(rest) == labels.size
    shots, _ = stratified_split(labels, per_class=10, seed=3)
    assert np.bincount(labels[shots]).tolist() == [10, 10, 3]  # small class gives half of its pixels


def test_group_split_never_shares_a_group():
    labels = np.repeat([0, 1], 60)
    groups = np.repeat(np.arange(12), 10)
    chosen, rest = group_split(labels, groups, 0.3, seed=1)
    assert set(groups[chosen]).isdisjoint(groups[rest])
    assert set(labels[chosen]) == {0, 1} and set(labels[rest]) == {0, 1}


def test_unlabelled_sample_is_seeded_and_inside_the_scene(tmp_path):
    scene = write_scene(tmp_path / "s.tif", height=30, width=20, bands=2)
    with open_raster(scene.raster) as ds:
        info = describe(ds)
    a = sample_unlabelled(info, 100, seed=5)
    b = sample_unlabelled(info, 100, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].max() < 30 and a[1].max() < 20 and len(set(zip(*a))) == 100


def _rectangles(seed=0, classes=3, per_class=4):
    """Pixels of non-overlapping rectangles (the groups) laid out on a grid, several per class."""
    rng = np.random.default_rng(seed)
    rows, cols, labels, groups = [], [], [], []
    group = 0
    for c in range(classes):
        for _ in range(per_class):
            top, left = 12 * (group // 5), 12 * (group % 5)
            h, w = rng.integers(2, 8, size=2)
            r, cc = np.meshgrid(np.arange(top, top + h), np.arange(left, left + w), indexing="ij")
            rows.append(r.ravel()), cols.append(cc.ravel())
            labels.append(np.full(r.size, c)), groups.append(np.full(r.size, group))
            group += 1
    return [np.concatenate(v) for v in (labels, groups, rows, cols)]


def test_grouped_split_holds_out_whole_polygons_and_their_patch_halo():
    from contrastdm.sampling import grouped_split

    for seed in range(5):
        labels, groups, rows, cols = _rectangles(seed)
        train, held = grouped_split(labels, groups, rows, cols, 0.2, seed=seed, halo=5)
        assert held.size and train.size and not np.intersect1d(train, held).size
        assert not np.intersect1d(groups[train], groups[held]).size  # no polygon on both sides
        for c in np.unique(labels):
            assert (labels[train] == c).any()  # every class keeps training pixels
        # No training pixel within the patch radius (Chebyshev) of a validation pixel.
        gap = np.maximum(np.abs(rows[train][:, None] - rows[held][None]), np.abs(cols[train][:, None] - cols[held][None]))
        assert gap.min() > 5


def test_grouped_split_cuts_a_single_polygon_across_its_longer_side():
    from contrastdm.sampling import grouped_split

    rows, cols = np.meshgrid(np.arange(4), np.arange(20), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    labels = np.zeros(rows.size, dtype=int)
    labels[cols >= 10] = 1  # two classes, one polygon each
    groups = labels.copy()
    train, held = grouped_split(labels, groups, rows, cols, 0.25, seed=0, halo=1)
    for c in (0, 1):
        side, rest = cols[held][labels[held] == c], cols[train][labels[train] == c]
        assert side.size == 10 and rest.size  # a quarter of 40 pixels, at the far end of the polygon
        assert side.min() >= rest.max()
    gap = np.maximum(np.abs(rows[train][:, None] - rows[held][None]), np.abs(cols[train][:, None] - cols[held][None]))
    assert gap.min() > 1  # the halo


def _island_raster(path, with_data=True):
    """512 x 512 px, 4 bands, nodata everywhere but one 40 x 40 px island (0.6% of the pixels)."""
    import rasterio
    from rasterio.transform import from_origin

    data = np.full((4, 512, 512), -9999, dtype=np.int16)
    if with_data:
        rng = np.random.default_rng(1)
        data[:, 400:440, 300:340] = rng.integers(100, 1000, size=(4, 40, 40))
    profile = dict(driver="GTiff", width=512, height=512, count=4, dtype="int16", nodata=-9999, crs="EPSG:32616",
                   transform=from_origin(500000, 4480000, 30, 30), tiled=True, blockxsize=64, blockysize=64)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_scene_mostly_nodata_is_sampled_where_its_data_are(tmp_path, seed):
    # 1000 pairs wanted from 262,144 pixels: a share of the 64 x 64 tiles is drawn, most of them empty.
    with open_raster(_island_raster(tmp_path / "island.tif")) as ds:
        sample = sample_pixels(ds, describe(ds), 1000, seed, tile_size=64)
    pixels, _ = sample.complete(slice(None))
    assert len(pixels) >= 1000 // 4 and np.isfinite(sample.pixels).any(axis=1).all()
    assert np.allclose(sample.valid_fraction, 1.0)  # over the pixels that hold data


def test_a_scene_without_data_is_refused_after_every_tile(tmp_path):
    with open_raster(_island_raster(tmp_path / "empty.tif", with_data=False)) as ds:
        with pytest.raises(InputError, match="no valid pixels"):
            sample_pixels(ds, describe(ds), 1000, 0, tile_size=64)
