"""Modules kept in the scene cache: label-free contrastive pre-training (trained once per scene, reused after the
polygons change, never kept when it learns from labels) and the warm start's network (real files, tiny learner
settings)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenes import training_boxes, write_polygons, write_scene

import contrastdm
from contrastdm.bundle import read_metadata
from contrastdm.feedback import RecordingFeedback

LEARNER = dict(preset="fast", pca_components=6, contrastive_epochs=2, contrastive_samples_per_epoch=64,
               supcon_weight=0.0, diffusion_steps=5, finetune_epochs=2, synthetic=False, spectral_member="off",
               patch_size=5, seed=0, device="cpu", max_unlabelled=200)
ROOT = Path(__file__).resolve().parents[3]
HIT = "contrastive pre-training taken from the scene cache"


WARM_HIT = "warm start: the network of the last run on this raster"


def stages(folder):
    return sorted(p.name.split("-")[0] for p in Path(folder).glob("*.safetensors"))


@pytest.fixture
def scene(tmp_path):
    s = write_scene(tmp_path / "scene.tif")
    boxes = training_boxes(s)
    s.training = write_polygons(tmp_path / "training.gpkg", s, boxes)
    s.edited = write_polygons(tmp_path / "edited.gpkg", s, boxes[1:])  # the analyst removed a polygon
    s.two_classes = write_polygons(tmp_path / "two.gpkg", s, [b for b in boxes if b[4] != 3])
    return s


def train(scene, vector, folder, cache, **changes):
    """(model, map file bytes, info messages, the run's result) of one training + classification."""
    folder.mkdir()
    feedback = RecordingFeedback()
    result = contrastdm.run(scene.raster, vector, "class_name", folder / "model.safetensors", folder / "map.tif",
                            cache=cache, feedback=feedback, **{**LEARNER, **changes})
    infos = [e[2] for e in feedback.events if e[0] == "message"]
    return result.training.model, (folder / "map.tif").read_bytes(), infos, result


def test_edited_polygons_reuse_the_pre_trained_encoder_and_give_the_uncached_model(scene, tmp_path):
    cache = tmp_path / "cache"
    first, _, first_infos, _ = train(scene, scene.training, tmp_path / "first", cache)
    assert first.metadata["training"]["cache"] == {"preprocess": "miss", "pretrain": "miss", "warm": "off"}
    assert stages(cache) == ["preprocess", "pretrain"]
    assert not any(m.startswith(HIT) for m in first_infos)

    again, again_map, infos, _ = train(scene, scene.edited, tmp_path / "again", cache)
    assert again.metadata["training"]["cache"] == {"preprocess": "hit", "pretrain": "hit", "warm": "off"}
    assert len([m for m in infos if m.startswith(HIT)]) == 1
    assert again.metadata["history"]["contrastive"] == first.metadata["history"]["contrastive"]
    assert stages(cache) == ["preprocess", "pretrain"]

    # The same edited polygons without a cache: the same weights and the same map, bit for bit.
    plain, plain_map, _, _ = train(scene, scene.edited, tmp_path / "plain", None)
    assert plain.metadata["training"]["cache"] == {"preprocess": "off", "pretrain": "off", "warm": "off"}
    got, want = again.network.state_dict(), plain.network.state_dict()
    assert sorted(got) == sorted(want)
    assert all(bool((got[k] == want[k]).all()) for k in want)
    assert again_map == plain_map


def test_a_shaping_setting_is_a_miss_and_supcon_is_never_kept(scene, tmp_path):
    cache = tmp_path / "cache"
    train(scene, scene.training, tmp_path / "a", cache)
    changed, *_ = train(scene, scene.training, tmp_path / "b", cache, temperature=0.5)
    assert changed.metadata["training"]["cache"]["pretrain"] == "miss"
    other_seed, *_ = train(scene, scene.training, tmp_path / "c", cache, seed=1)
    assert other_seed.metadata["training"]["cache"]["pretrain"] == "miss"
    assert stages(cache).count("pretrain") == 3
    labelled, *_ = train(scene, scene.training, tmp_path / "d", cache, supcon_weight=1.0)
    assert labelled.metadata["training"]["cache"]["pretrain"] == "off"
    assert stages(cache).count("pretrain") == 3


def test_warm_start_retrains_from_the_last_network_on_a_fifth_of_the_schedule(scene, tmp_path):
    cache, warm = tmp_path / "cache", dict(warm_start=True, supcon_weight=1.0, finetune_epochs=10, diffusion_steps=20)
    cold, *_ = train(scene, scene.training, tmp_path / "cold", cache, **warm)
    record = cold.metadata["training"]
    assert record["cache"] == {"preprocess": "miss", "pretrain": "off", "warm": "miss"}
    assert "warm_start" not in record["validation"] and "contrastive" in record["stage_seconds"]
    assert stages(cache) == ["preprocess", "warm"]

    again, _, infos, result = train(scene, scene.edited, tmp_path / "again", cache, **warm)
    record = again.metadata["training"]
    assert record["cache"]["warm"] == "hit" and len([m for m in infos if m.startswith(WARM_HIT)]) == 1
    assert record["validation"]["warm_start"]["finetune_epochs"] == 2  # a fifth of 10
    assert record["validation"]["warm_start"]["carried_over"] == "network"
    assert record["validation"]["warm_start"]["diffusion_steps"] == 4
    assert record["validation"]["warm_start"]["head_epochs"] == 6  # a fifth of the default 30
    assert len(again.metadata["history"]["finetune"]) == 2 and "refit" not in record["stage_seconds"]
    assert "contrastive" not in record["stage_seconds"]
    assert again.metadata["config"]["finetune_epochs"] == 10  # the settings as the user gave them
    assert stages(cache) == ["preprocess", "warm"]  # the entry now holds the warm run's network
    assert (tmp_path / "again" / "map.tif").is_file()

    # Without the option training starts cold; with another class list the network carries over, its class rows
    # matched by name.
    off, *_ = train(scene, scene.edited, tmp_path / "off", cache, **{**warm, "warm_start": False})
    assert off.metadata["training"]["cache"]["warm"] == "off"
    other, _, infos, _ = train(scene, scene.two_classes, tmp_path / "other", cache, **warm)
    record = other.metadata["training"]
    assert record["cache"]["warm"] == "matched"
    assert record["validation"]["warm_start"]["carried_over"] == "matched"
    assert record["validation"]["warm_start"]["diffusion_steps"] == 4
    assert any(m.startswith("warm start: the network (its classes matched by name") for m in infos)
    assert len(other.classes) == 2 and stages(cache) == ["preprocess", "warm"]
    back, *_ = train(scene, scene.training, tmp_path / "back", cache, **warm)  # the entry holds two classes now
    assert back.metadata["training"]["cache"]["warm"] == "matched"
    # Another setting is another entry: a cold start.
    colder, *_ = train(scene, scene.training, tmp_path / "colder", cache, **{**warm, "seed": 3})
    assert colder.metadata["training"]["cache"]["warm"] == "miss" and stages(cache).count("warm") == 2


def test_the_cli_warm_starts_the_second_run(scene, tmp_path):
    common = ["-m", "contrastdm", "train", "--raster", scene.raster, "--class-field", "class_name", "--cache-dir",
              tmp_path / "cache", "--preset", "fast", "--pca-components", "6", "--diffusion-steps", "5",
              "--finetune-epochs", "2", "--no-synthetic", "--spectral-member", "off", "--patch-size", "5",
              "--device", "cpu", "--warm-start", "--budget", "data", "--progress", "none"]
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    first, second = (subprocess.run([sys.executable, *map(str, common), "--vector", str(vector), "--model",
                                     str(tmp_path / f"{name}.safetensors")], capture_output=True, text=True, env=env)
                     for vector, name in ((scene.training, "a"), (scene.edited, "b")))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = (read_metadata(tmp_path / f"{n}.safetensors") for n in "ab")
    assert a["training"]["cache"]["warm"] == "miss" and b["training"]["cache"]["warm"] == "hit"
    assert a["config"]["warm_start"] and a["config"]["budget"] == "data"


def test_a_changed_class_list_keeps_each_class_row_by_name():
    import numpy as np
    import torch

    from contrastdm.model.network import ContrastDMNet
    from contrastdm.training.warm import match_classes

    settings = dict(feature_dim=8, head_hidden=4, diffusion_hidden=6, diffusion_blocks=1, patch_size=5)
    torch.manual_seed(0)
    before = ContrastDMNet(4, 3, settings)
    arrays = {k: v.numpy().copy() for k, v in before.state_dict().items()}
    torch.manual_seed(1)
    after = ContrastDMNet(4, 3, settings)  # "corn" removed, "water" added, "wheat" moved to the front
    fresh = {k: v.clone() for k, v in after.state_dict().items()}
    matched = match_classes(after, arrays, ["corn", "soy", "wheat"], ["wheat", "soy", "water"])
    head, label = "head.net.4.weight", "diffusion.denoiser.label.weight"
    assert np.array_equal(matched[head][0], arrays[head][2]) and np.array_equal(matched[head][1], arrays[head][1])
    assert np.array_equal(matched[head][2], fresh[head][2].numpy())  # the new class starts afresh
    assert np.array_equal(matched[label][3], arrays[label][3])  # the null class's row
    assert np.array_equal(matched["encoder.project.weight"], arrays["encoder.project.weight"])
    # Another number of classes, and a network of another shape.
    four = ContrastDMNet(4, 4, settings)
    assert match_classes(four, arrays, ["corn", "soy", "wheat"], ["a", "corn", "soy", "wheat"])[head].shape == (4, 4)
    wider = ContrastDMNet(4, 3, {**settings, "head_hidden": 5})
    assert match_classes(wider, arrays, ["corn", "soy", "wheat"], ["corn", "soy", "wheat"]) is None
