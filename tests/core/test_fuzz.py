"""Property-based: random small rasters, polygons and parameters through train + classify.

Each example either gives a valid map or one clear ContrastDMError with no output left; anything else (a
traceback, a corrupt or partial file) fails. The number of examples per run is FUZZ_EXAMPLES.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from scenes import write_polygons, write_scene

import contrastdm
from contrastdm.errors import ContrastDMError

FUZZ_EXAMPLES = 25
LEARNER = dict(contrastive_epochs=1, contrastive_samples_per_epoch=64, diffusion_steps=10, diffusion_views=1,
               diffusion_unlabeled=32, synthetic_per_class=4, ddim_steps=2, finetune_epochs=2, batch_size=32,
               feature_dim=16, spatial_channels=8, head_hidden=16, diffusion_hidden=32, diffusion_blocks=1)

boxes = st.lists(st.tuples(st.integers(-5, 30), st.integers(-5, 30), st.integers(1, 8), st.integers(1, 8),
                           st.integers(1, 3)), min_size=1, max_size=6)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(height=st.integers(3, 28), width=st.integers(3, 28), bands=st.integers(1, 9),
       dtype=st.sampled_from(["uint8", "int16", "float32"]), nodata_border=st.integers(0, 3),
       patch_size=st.sampled_from([1, 3, 5, 7]), pca=st.sampled_from([0, 2, 4]), boxes=boxes,
       tile_size=st.integers(4, 64), seed=st.integers(0, 3))
def test_random_inputs_give_a_map_or_a_clear_error(height, width, bands, dtype, nodata_border, patch_size, pca,
                                                   boxes, tile_size, seed):
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        nodata = 0 if nodata_border else None
        scene = write_scene(folder / "s.tif", height=height, width=width, bands=bands, dtype=dtype, seed=seed,
                            nodata=nodata, nodata_border=nodata_border,
                            noise=5.0 if dtype == "uint8" else 40.0)
        rects = [(r, c, r + h, c + w, k) for r, c, h, w, k in boxes]
        vector = write_polygons(folder / "v.gpkg", scene, rects)
        out = folder / "out"
        out.mkdir()
        try:
            contrastdm.run(scene.raster, vector, "class_name", out / "m.safetensors", out / "map.tif",
                           confidence=out / "conf.tif", tile_size=tile_size, device="cpu", pca_components=pca,
                           patch_size=patch_size, seed=seed, preset="fast", **LEARNER)
        except ContrastDMError as exc:
            event(f"clear error: {type(exc).__name__}")
            assert str(exc) and "\n" not in str(exc)
            assert list(out.iterdir()) == []
            return
        event("map written")
        with rasterio.open(out / "map.tif") as m:
            assert m.shape == (height, width)
            labels = m.read(1)
        model = contrastdm.load_model(out / "m.safetensors")
        assert set(np.unique(labels)) <= {0, *[c.id for c in model.classes]}
        with rasterio.open(out / "conf.tif") as c:
            confidence = c.read(1)
        assert np.all((confidence == -1) == (labels == 0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
