import json

import numpy as np
import pytest

from contrastdm.bands import (
    ABSORPTION_WINDOWS_NM,
    BandSelection,
    band_noise,
    coherent_snr,
    parse_band_list,
    select_bands,
)
from contrastdm.errors import InputError


def _field(rng, size: int) -> np.ndarray:
    """A spatially smooth random field in [0, 1]: a few low-frequency waves."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    f = sum(np.sin(2 * np.pi * (rng.uniform(0.5, 3) * xx + rng.uniform(0.5, 3) * yy) + rng.uniform(0, 6))
            for _ in range(4))
    return (f - f.min()) / (f.max() - f.min())


def _cube(bands=66, size=64, noise=0.01, seed=0) -> np.ndarray:
    """``[size, size, bands]``: four smooth endmember spectra mixed by smooth abundance maps, plus noise
    of ``noise`` times the mean signal."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, bands)
    spectra = np.stack([0.2 + np.exp(-((x - c) ** 2) / 0.05) for c in (0.1, 0.4, 0.7, 0.95)])
    abundance = np.stack([_field(rng, size) for _ in range(4)], axis=-1) + 0.05
    abundance /= abundance.sum(axis=-1, keepdims=True)
    cube = 1000.0 * abundance @ spectra
    return cube + noise * cube.mean() * rng.standard_normal(cube.shape)


def _pairs(cube: np.ndarray):
    """(pixels, neighbours) ``[N, B]``: every pixel with its right-hand neighbour."""
    bands = cube.shape[-1]
    return cube[:, :-1].reshape(-1, bands), cube[:, 1:].reshape(-1, bands)


def _select(cube, wavelengths=None, bad=None, valid=None, **kwargs) -> BandSelection:
    pixels, neighbours = _pairs(cube)
    valid = np.ones(cube.shape[-1]) if valid is None else valid
    return select_bands(wavelengths, bad, pixels, neighbours, valid, **kwargs)


def _dropped(selection) -> list[int]:
    return np.flatnonzero(~selection.keep).tolist()


NOISY = [10, 30, 31, 32, 50, 65]  # a lone band, a run, and the last band


def _noisy_cube(seed=0) -> np.ndarray:
    """60 ordinary bands and 6 bad ones: pure noise, or a few percent of the neighbour's signal plus noise
    (a water-absorption band as an AVIRIS-class sensor delivers it)."""
    rng = np.random.default_rng(seed)
    cube = _cube(seed=seed)
    for i, b in enumerate(NOISY):
        dim = 30.0 * rng.standard_normal(cube.shape[:2])
        cube[:, :, b] = 100.0 + (0.0 if i % 2 else 0.03 * cube[:, :, b - 1]) + dim
    return cube


def test_clean_cube_keeps_every_band():
    for seed in range(3):
        selection = _select(_cube(seed=seed))
        assert selection.keep.all()
        assert selection.reasons == {}
        assert selection.summary() == "all 66 bands kept"


def test_clean_cube_with_noise_rising_towards_the_ends_keeps_every_band():
    cube = _cube(noise=0.0)
    rng = np.random.default_rng(3)
    level = 0.005 + 0.08 * np.linspace(-1, 1, cube.shape[-1]) ** 4  # 16x noisier at the edges
    cube += level * cube.mean() * rng.standard_normal(cube.shape)
    assert _select(cube).keep.all()


def test_uniformly_noisy_scene_keeps_every_band():
    # A dull scene where every band is mostly noise: nothing stands out from its neighbours.
    cube = _cube(noise=0.3)
    assert _select(cube).keep.all()


def test_exactly_the_noisy_bands_are_found_without_wavelengths():
    for seed in range(3):
        selection = _select(_noisy_cube(seed))
        assert _dropped(selection) == NOISY
        assert all(selection.reasons[b].startswith("noisy (SNR ") for b in NOISY)


def test_noisy_band_reason_and_summary():
    selection = _select(_noisy_cube())
    assert selection.reasons[10].endswith("for its neighbours)")
    assert selection.summary() == "6 of 66 bands dropped: band 11 (noisy), bands 31-33 (noisy), band 51 (noisy), " \
                                  "band 66 (noisy)"


def test_long_run_of_absorption_bands_is_found():
    # 14 contiguous bad bands, as in AVIRIS's 1.9 um water absorption: longer than the neighbourhood.
    cube = _cube(bands=80)
    rng = np.random.default_rng(1)
    cube[:, :, 40:54] = 100 + 30 * rng.standard_normal(cube[:, :, 40:54].shape)
    assert _dropped(_select(cube)) == list(range(40, 54))


def test_metadata_flags():
    bad = np.zeros(66, dtype=bool)
    bad[[0, 5]] = True
    selection = _select(_cube(), bad=bad)
    assert _dropped(selection) == [0, 5]
    assert selection.reasons[5] == "flagged bad in the metadata"
    assert _select(_cube(), bad=bad[:10]).keep.all()  # a list of the wrong length is ignored


def test_absorption_windows_need_wavelengths():
    wavelengths = np.linspace(400, 2500, 66)
    selection = _select(_cube(), wavelengths=wavelengths)
    in_windows = [b for b, w in enumerate(wavelengths) if any(lo <= w <= hi for lo, hi in ABSORPTION_WINDOWS_NM)]
    assert _dropped(selection) == in_windows
    first = in_windows[0]
    assert selection.reasons[first] == "in the 1340-1460 nm absorption window"
    assert selection.reasons[65] == "beyond 2450 nm (the detector's noisy end)"
    assert _select(_cube()).keep.all()
    assert "nm (absorption)" in selection.summary(wavelengths)


def test_constant_band():
    cube = _cube()
    cube[:, :, 7] = 1234.0
    cube[:, :, 8] = 0.0
    selection = _select(cube)
    assert _dropped(selection) == [7, 8]
    assert selection.reasons[7] == "constant"


def test_mostly_nodata_band():
    cube = _cube()
    valid = np.ones(66)
    valid[3] = 0.12
    valid[4] = 0.0
    selection = _select(cube, valid=valid)
    assert _dropped(selection) == [3, 4]
    assert selection.reasons[3] == "mostly nodata (12% valid)"
    assert _dropped(_select(cube, valid=valid, min_valid=0.1)) == [4]


def test_nodata_pixels_are_left_out_of_the_statistics():
    cube = _cube()
    cube[:20, :, 2] = np.nan  # a third of the scene missing in one band: still ordinary
    pixels, neighbours = _pairs(cube)
    valid = np.isfinite(pixels).mean(axis=0)
    assert select_bands(None, None, pixels, neighbours, valid).keep.all()
    assert select_bands(None, None, pixels, neighbours, None).keep.all()  # valid fraction from the pixels


def test_bands_override_wins_over_the_rules():
    cube = _noisy_cube()
    bad = np.zeros(66, dtype=bool)
    bad[1] = True
    selection = _select(cube, bad=bad, bands=np.array([1, 10, 20, 21]))
    assert selection.kept_indices().tolist() == [1, 10, 20, 21]
    assert selection.reasons[0] == "not in --bands"
    assert selection.summary() == "62 of 66 bands dropped: band 1 (not in --bands), bands 3-10 (not in --bands), " \
                                  "bands 12-20 (not in --bands), bands 23-66 (not in --bands)"


def test_drop_bands_adds_to_the_rules():
    selection = _select(_noisy_cube(), drop_bands=np.array([0, 10]))
    assert _dropped(selection) == [0] + NOISY
    assert selection.reasons[0] == "dropped by --drop-bands"
    assert selection.reasons[10].startswith("noisy")  # the measured cause is kept
    both = _select(_cube(), bands=[1, 2, 3], drop_bands=[2])
    assert both.kept_indices().tolist() == [1, 3]
    assert both.reasons[2] == "dropped by --drop-bands"


def test_override_errors():
    with pytest.raises(InputError, match="band 67 does not exist"):
        _select(_cube(), bands=[1, 66])
    with pytest.raises(InputError, match="--drop-bands"):
        _select(_cube(), drop_bands=[-1])
    valid = np.ones(66)
    valid[4] = 0.0
    with pytest.raises(InputError, match="band 5 has no valid pixel"):
        _select(_cube(), valid=valid, bands=[3, 4, 5])


def test_never_drops_every_band():
    cube = _cube(bands=3)
    cube[:, :, 1:] = 7.0
    with pytest.raises(InputError, match=r"only 1 of 3 bands would remain \(2 constant\)"):
        _select(cube)
    with pytest.raises(InputError, match="nodata"):
        _select(_cube(bands=4), valid=np.zeros(4))
    with pytest.raises(InputError, match="only 1 of"):
        _select(_cube(bands=4), bands=[2])


def test_band_noise_of_white_noise_and_a_smooth_field():
    rng = np.random.default_rng(0)
    noise = 5.0 * rng.standard_normal((201, 201))
    smooth = 100.0 * _field(rng, 201)
    cube = np.stack([noise, smooth + noise], axis=-1)
    pixels, neighbours = _pairs(cube)
    signal, noise_std = band_noise(pixels, neighbours)
    assert noise_std == pytest.approx([5.0, 5.0], rel=0.03)
    assert signal[0] == pytest.approx(5.0, rel=0.03)
    assert signal[1] > 3 * noise_std[1]
    snr = coherent_snr(signal, noise_std)
    assert snr[0] < 0.1 and snr[1] > 3


def test_band_noise_uses_rows_valid_in_that_band():
    pixels = np.array([[1.0, np.nan], [2.0, 5.0], [4.0, 5.0], [7.0, 1.0]])
    neighbours = np.array([[2.0, 0.0], [np.nan, 3.0], [3.0, 3.0], [5.0, np.nan]])
    signal, noise = band_noise(pixels, neighbours)
    assert signal[0] == pytest.approx(np.std([1.0, 4.0, 7.0]))
    assert noise[0] == pytest.approx(np.std([-1.0, 1.0, 2.0]) / np.sqrt(2))
    assert signal[1] == 0.0 and noise[1] == 0.0  # pairs 2 and 3 only
    only_one = band_noise(pixels[:1], neighbours[:1])
    assert np.isnan(only_one[0]).all()


def test_parse_band_numbers():
    assert parse_band_list("1-10,15,20", 30).tolist() == list(range(10)) + [14, 19]
    assert parse_band_list(" 3 , 1-2, 2 ,", 5).tolist() == [0, 1, 2]


def test_parse_wavelength_ranges():
    wavelengths = np.linspace(400, 2500, 221)  # 9.55 nm apart
    got = parse_band_list("1340-1460nm,1790-1960nm", 221, wavelengths)
    expected = np.flatnonzero(((wavelengths >= 1340) & (wavelengths <= 1460)) |
                              ((wavelengths >= 1790) & (wavelengths <= 1960)))
    assert got.tolist() == expected.tolist()
    assert parse_band_list("1.34-1.46um", 221, wavelengths).tolist() == parse_band_list("1340-1460 nm", 221,
                                                                                         wavelengths).tolist()
    assert parse_band_list("550nm, 1", 221, wavelengths).tolist() == [0, int(np.argmin(abs(wavelengths - 550)))]


@pytest.mark.parametrize("text, message", [
    ("", "empty band list"),
    ("abc", "cannot read 'abc'"),
    ("1.5", "cannot read"),
    ("0", "band 0 does not exist"),
    ("5-300", "outside 1-224"),
    ("1340-1460", "wavelengths need a unit"),
    ("10-5", "runs backwards"),
    ("1-3;5", "cannot read"),
])
def test_parse_band_list_errors(text, message):
    with pytest.raises(InputError, match=message) as caught:
        parse_band_list(text, 224)
    assert "\n" not in str(caught.value)


def test_parse_wavelengths_need_metadata_and_must_match():
    with pytest.raises(InputError, match="no wavelength metadata"):
        parse_band_list("1340-1460nm", 224)
    wavelengths = np.linspace(400, 1000, 61)
    with pytest.raises(InputError, match="selects no band"):
        parse_band_list("1340-1460nm", 61, wavelengths)
    with pytest.raises(InputError, match="no band is centred near 2200 nm"):
        parse_band_list("2200nm", 61, wavelengths)


def test_summary_groups_runs_by_cause_and_wavelength():
    keep = np.ones(12, dtype=bool)
    keep[[1, 2, 3, 5, 9, 10]] = False
    reasons = {1: "in the 1340-1460 nm absorption window", 2: "in the 1340-1460 nm absorption window",
               3: "noisy (SNR 0.05 against 3 for its neighbours)", 5: "mostly nodata (3% valid)",
               9: "flagged bad in the metadata", 10: "flagged bad in the metadata"}
    selection = BandSelection(keep, reasons)
    wavelengths = [1300, 1350, 1400.04, 1450, 1500, 1550, 1600, 1650, 1700, 1750, 1800, 1850]
    assert selection.summary(wavelengths) == ("6 of 12 bands dropped: 1350-1400 nm (absorption), 1450 nm (noisy), "
                                              "1550 nm (nodata), 1750-1800 nm (bad in metadata)")
    assert selection.summary() == ("6 of 12 bands dropped: bands 2-3 (absorption), band 4 (noisy), band 6 (nodata), "
                                   "bands 10-11 (bad in metadata)")
    assert selection.summary(wavelengths[:3]).startswith("6 of 12 bands dropped: bands 2-3")  # wrong length


def test_selection_round_trip():
    selection = _select(_noisy_cube())
    back = BandSelection.from_dict(json.loads(json.dumps(selection.to_dict())))
    assert back.keep.tolist() == selection.keep.tolist()
    assert back.reasons == selection.reasons
    assert back.kept_indices().tolist() == selection.kept_indices().tolist()


def test_indian_pines_water_bands_put_back_are_found_without_wavelengths():
    from contrastdm.datasets import INDIAN_PINES_BANDS, load_indian_pines, raw_indian_pines

    cube, _ = load_indian_pines()
    raw, wavelengths = raw_indian_pines(cube)
    water = sorted(set(range(220)) - {b - 1 for b in INDIAN_PINES_BANDS})
    selection = _select(raw.astype(np.float32))
    assert _dropped(selection) == water
    assert selection.summary() == ("20 of 220 bands dropped: bands 104-108 (noisy), bands 150-163 (noisy), "
                                   "band 220 (noisy)")
    assert _select(cube.astype(np.float32)).keep.all()  # the 200 ordinary bands: no false positive
