"""Label-free contrastive pre-training kept in the scene cache: trained once per scene, reused after the
polygons change, never kept when it learns from labels (real files, tiny learner settings)."""

from pathlib import Path

import pytest
from scenes import training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.feedback import RecordingFeedback

LEARNER = dict(preset="fast", pca_components=6, contrastive_epochs=2, contrastive_samples_per_epoch=64,
               supcon_weight=0.0, diffusion_steps=5, finetune_epochs=2, synthetic=False, spectral_member="off",
               patch_size=5, seed=0, device="cpu", max_unlabelled=200)
HIT = "contrastive pre-training taken from the scene cache"


def stages(folder):
    return sorted(p.name.split("-")[0] for p in Path(folder).glob("*.safetensors"))


@pytest.fixture
def scene(tmp_path):
    s = write_scene(tmp_path / "scene.tif")
    boxes = training_boxes(s)
    s.training = write_polygons(tmp_path / "training.gpkg", s, boxes)
    s.edited = write_polygons(tmp_path / "edited.gpkg", s, boxes[1:])  # the analyst removed a polygon
    return s


def train(scene, vector, folder, cache, **changes):
    folder.mkdir()
    feedback = RecordingFeedback()
    result = contrastdm.run(scene.raster, vector, "class_name", folder / "model.safetensors", folder / "map.tif",
                            cache=cache, feedback=feedback, **{**LEARNER, **changes})
    infos = [e[2] for e in feedback.events if e[0] == "message"]
    return result.training.model, (folder / "map.tif").read_bytes(), infos


def test_edited_polygons_reuse_the_pre_trained_encoder_and_give_the_uncached_model(scene, tmp_path):
    cache = tmp_path / "cache"
    first, _, first_infos = train(scene, scene.training, tmp_path / "first", cache)
    assert first.metadata["training"]["cache"] == {"preprocess": "miss", "pretrain": "miss"}
    assert stages(cache) == ["preprocess", "pretrain"]
    assert not any(m.startswith(HIT) for m in first_infos)

    again, again_map, infos = train(scene, scene.edited, tmp_path / "again", cache)
    assert again.metadata["training"]["cache"] == {"preprocess": "hit", "pretrain": "hit"}
    assert len([m for m in infos if m.startswith(HIT)]) == 1
    assert again.metadata["history"]["contrastive"] == first.metadata["history"]["contrastive"]
    assert stages(cache) == ["preprocess", "pretrain"]

    # The same edited polygons without a cache: the same weights and the same map, bit for bit.
    plain, plain_map, _ = train(scene, scene.edited, tmp_path / "plain", None)
    assert plain.metadata["training"]["cache"] == {"preprocess": "off", "pretrain": "off"}
    got, want = again.network.state_dict(), plain.network.state_dict()
    assert sorted(got) == sorted(want)
    assert all(bool((got[k] == want[k]).all()) for k in want)
    assert again_map == plain_map


def test_a_shaping_setting_is_a_miss_and_supcon_is_never_kept(scene, tmp_path):
    cache = tmp_path / "cache"
    train(scene, scene.training, tmp_path / "a", cache)
    changed, _, _ = train(scene, scene.training, tmp_path / "b", cache, temperature=0.5)
    assert changed.metadata["training"]["cache"]["pretrain"] == "miss"
    other_seed, _, _ = train(scene, scene.training, tmp_path / "c", cache, seed=1)
    assert other_seed.metadata["training"]["cache"]["pretrain"] == "miss"
    assert stages(cache).count("pretrain") == 3
    labelled, _, _ = train(scene, scene.training, tmp_path / "d", cache, supcon_weight=1.0)
    assert labelled.metadata["training"]["cache"]["pretrain"] == "off"
    assert stages(cache).count("pretrain") == 3
