"""Training under torchrun: real torchrun processes on CPU (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from scenes import TINY_CLI, write_scene

import contrastdm
from contrastdm.model.contrastive import nt_xent_loss

ROOT = Path(__file__).resolve().parents[2]

GRADIENTS = """
import sys, torch
from contrastdm import distributed
from contrastdm.model.contrastive import nt_xent_loss


def main():
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    x = torch.randn(2, 8, 6)  # two views of a global batch of 8
    model_ddp = distributed.parallel(model, torch.device("cpu"))
    local = [distributed.shard(v) for v in x]
    z1, z2 = (model_ddp(v) for v in local)
    loss = nt_xent_loss(distributed.gather(z1), distributed.gather(z2), 0.5)
    loss.backward()
    if distributed.current().is_main:
        torch.save({"loss": loss.detach(), "grad": model.weight.grad, "world": distributed.current().world_size},
                   sys.argv[1])


distributed.setup(torch.device("cpu"))
main()
distributed.barrier()  # both ranks done before the group goes: gloo can abort a rank torn down mid-exchange
distributed.teardown()  # as the engine's entry point leaves the group
"""


def torchrun(*args, nproc=2, timeout=600):
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                           *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def test_gathered_embeddings_give_the_gradient_of_the_whole_batch(tmp_path):
    """InfoNCE over embeddings gathered from two ranks, averaged by DDP, equals one process on the batch."""
    script = tmp_path / "grads.py"
    script.write_text(GRADIENTS)
    done = torchrun(script, tmp_path / "ddp.pt")
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp.pt")
    assert ddp["world"] == 2
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4)
    x = torch.randn(2, 8, 6)
    loss = nt_xent_loss(model(x[0]), model(x[1]), 0.5)
    loss.backward()
    torch.testing.assert_close(ddp["loss"], loss.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ddp["grad"], model.weight.grad, rtol=1e-4, atol=1e-6)


def _events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_two_ranks_train_one_model_and_report_once(scene, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    model = out / "m.safetensors"
    done = torchrun("-m", "contrastdm", "train", "--raster", scene.raster, "--vector", scene.training,
                    "--class-field", "class_name", "--model", model, "--report", out / "r.html",
                    "--device", "cpu", "--progress", "jsonl", *TINY_CLI)
    assert done.returncode == 0, done.stderr[-3000:]
    stream = _events(done.stdout)
    assert [e["type"] for e in stream].count("result") == 1
    saves = [e for e in stream if e["type"] == "progress" and e["stage"] == "save" and e["fraction"] == 1.0]
    assert len(saves) == 1  # rank 1 is silent
    assert sorted(p.name for p in out.iterdir()) == ["m.safetensors", "r.html", "r.json"]
    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core")}
    info = json.loads(subprocess.run([sys.executable, "-m", "contrastdm", "info", "--model", model],
                                     capture_output=True, text=True, env=env).stdout)
    assert info["training"]["ranks"] == 2
    run = subprocess.run([sys.executable, "-m", "contrastdm", "classify", "--raster", scene.raster, "--model", model,
                          "--output", tmp_path / "map.tif", "--device", "cpu"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    metrics = subprocess.run([sys.executable, "-m", "contrastdm", "evaluate", "--map", tmp_path / "map.tif",
                              "--vector", scene.training, "--class-field", "class_name", "--progress", "jsonl"],
                             env=env, capture_output=True, text=True)
    assert _events(metrics.stdout)[-1]["metrics"]["overall_accuracy"] > 90


def test_a_bad_input_under_torchrun_gives_one_message(scene, tmp_path):
    done = torchrun("-m", "contrastdm", "train", "--raster", scene.raster, "--vector", scene.training,
                    "--class-field", "no_such_field", "--model", tmp_path / "m.safetensors", "--device", "cpu",
                    *TINY_CLI)
    assert done.returncode != 0
    assert done.stderr.count("contrastdm: error:") == 1, done.stderr[-3000:]
    assert "no_such_field" in done.stderr
    assert not (tmp_path / "m.safetensors").exists()


def test_two_ranks_share_the_tiles_and_write_the_map_of_one_process(trained, tmp_path):
    import rasterio

    env = {**os.environ, "PROJ_DATA": "/usr/share/proj", "PYTHONPATH": str(ROOT / "core"), "OMP_NUM_THREADS": "1"}
    common = ("--raster", trained.raster, "--model", trained.model, "--device", "cpu", "--tile-size", "16")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    alone = subprocess.run([sys.executable, "-m", "contrastdm", "classify", *map(str, common), "--output",
                            str(one / "map.tif"), "--confidence", str(one / "conf.tif")],
                           env=env, capture_output=True, text=True)
    assert alone.returncode == 0, alone.stderr
    done = torchrun("-m", "contrastdm", "classify", *common, "--output", two / "map.tif", "--confidence",
                    two / "conf.tif", "--progress", "jsonl")
    assert done.returncode == 0, done.stderr[-3000:]
    stream = _events(done.stdout)
    assert [e["type"] for e in stream].count("result") == 1
    tiles = {e["message"] for e in stream if e["type"] == "progress" and e["stage"] == "classify"}
    assert "tile 9 of 9" in tiles  # rank 0 wrote its four tiles as it computed them and rank 1's five as they came
    for name in ("map.tif", "conf.tif"):  # 9 tiles of 16 px over 2 ranks
        with rasterio.open(one / name) as a, rasterio.open(two / name) as b:
            assert (a.read() == b.read()).all(), name
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # no parts left


def test_two_ranks_share_a_list_of_rasters_and_write_each_map(trained, tmp_path):
    import rasterio

    rasters = [trained.raster] + [write_scene(tmp_path / f"scene{k}.tif", seed=k).raster for k in (1, 2)]
    (tmp_path / "list.txt").write_text("\n".join(map(str, rasters)) + "\n")
    done = torchrun("-m", "contrastdm", "classify", "--raster-list", tmp_path / "list.txt", "--model", trained.model,
                    "--output-dir", tmp_path / "maps", "--device", "cpu", "--progress", "jsonl")
    assert done.returncode == 0, done.stderr[-3000:]
    stream = _events(done.stdout)
    assert [e["type"] for e in stream].count("result") == 1
    result = next(e for e in stream if e["type"] == "result")
    assert result["metrics"]["ranks"] == 2 and result["metrics"]["rasters"] == 3
    for raster in rasters:  # rank 0 did scene and scene2, rank 1 scene1: each map as one process makes it
        alone = tmp_path / "alone.tif"
        contrastdm.classify(raster, trained.model, alone, device="cpu")
        with rasterio.open(alone) as a, rasterio.open(tmp_path / "maps" / f"{raster.stem}_classes.tif") as b:
            assert (a.read() == b.read()).all(), raster
    assert not [p for p in (tmp_path / "maps").iterdir() if p.name.startswith(".")]  # no parts left
