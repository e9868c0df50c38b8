"""The benchmark loop: methods x protocols x seeds on a scene; one JSON per run, a table and plots.

Resumable: a run whose JSON file exists is skipped, so a long run can be stopped and continued; the
table and plots are regenerated from every run file in the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from contrastdm.errors import InputError
from contrastdm.feedback import NullFeedback, check_cancelled

from .data import DATASETS, load_scene, make_features
from .files import write_scene_files
from .methods import METHODS, Task, make_method, stale_reason
from .protocols import PROTOCOLS, load_or_make_split, split_path
from .record import PeakRSS, device_info, git_commit, process_peak_rss_mb, save_map, versions, write_json

HARNESS_VERSION = 2  # 2: ContrastDM methods through train() and classify()
QUICK_METHODS = ("svm", "rf", "cnn", "contrastdm")
QUICK_PROTOCOLS = ("ratio-10", "shot-10", "blocks")
# Full runs: baselines, then ContrastDM, then its ablations, so a partial run answers the main question first.
FULL_METHODS = ("svm", "rf", "mlp1d", "cnn", "ssftt", "contrastdm", "cdm-head", "cdm-nosynth", "cdm-early",
                "cdm-refine", "cdm-centre", "cdm-spectral")
FULL_SEEDS = (0, 1, 2, 3, 4)  # the targets are means over five seeds
PCA_COMPONENTS = 30
UNLABELLED_MAX = 20_000  # unlabelled patches for the semi-supervised methods (all pixels on small scenes)
TSNE_METHOD = "contrastdm"
TSNE_POINTS = 1500


def _names(value, default, known, what) -> list[str]:
    if value is None or value == "" or value == []:
        return list(default)
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip()]
    unknown = [v for v in items if v not in known]
    if unknown:
        raise InputError(f"unknown {what}: {', '.join(unknown)}; use {', '.join(known)}")
    return items


def _seeds(value, default) -> list[int]:
    if value is None or value == "" or value == []:
        return list(default)
    try:
        return [int(v) for v in (value.split(",") if isinstance(value, str) else value) if str(v).strip() != ""]
    except ValueError as exc:
        raise InputError("--seeds must be comma-separated integers such as 0,1,2") from exc


def run_id(dataset: str, protocol: str, method: str, seed: int) -> str:
    return f"{dataset}__{protocol}__{method}__seed{seed}"


def _finished(path: Path, quick: bool) -> bool:
    """A run is done when its file exists, was made in the same mode (a quick run never stands in for a
    full one, nor the reverse) and with the configuration its method has now; otherwise it is redone and replaced."""
    if not path.is_file():
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(record.get("quick")) == bool(quick) and stale_reason(record, path.parent.parent) is None


def _threads(requested) -> int:
    """CPU threads for torch: as asked; else every core, or one when the machine is already busy
    (small CPU models slow down badly when threads compete for oversubscribed cores)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if requested:
        return max(1, int(requested))
    env = os.environ.get("CONTRASTDM_BENCH_THREADS")
    if env:
        return max(1, int(env))
    try:
        busy = os.getloadavg()[0] >= cores
    except (AttributeError, OSError):
        busy = False
    return 1 if busy else cores


def _unlabelled_index(shape, seed: int) -> np.ndarray:
    total = int(shape[0] * shape[1])
    if total <= UNLABELLED_MAX * 1.5:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, UNLABELLED_MAX, replace=False))


def _tsne_sample(split, gt, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    test = split.test
    return np.sort(rng.choice(test, min(TSNE_POINTS, len(test)), replace=False)) if len(test) else test


def run_one(scene, features, split, method_name: str, seed: int, device, quick: bool, threads: int,
            output_dir: Path, feedback, env: dict, want_embedding: bool, files=None) -> dict:
    """Train and evaluate one method on one split; writes its map (and embedding) and returns the record."""
    import torch

    from contrastdm.metrics import classification_metrics

    rid = run_id(scene.name, split.protocol, method_name, seed)
    method = make_method(method_name)
    flat_gt = scene.gt.ravel().astype(np.int64)
    task = Task(features=features, train=split.train, y_train=flat_gt[split.train] - 1,
                n_classes=len(scene.class_names), seed=seed, device=device, quick=quick,
                unlabelled=_unlabelled_index(scene.shape, seed),
                progress=lambda stage, fraction, message="": feedback.progress(stage, fraction, f"{rid} {message}"),
                is_cancelled=feedback.cancelled, threads=threads, files=files, pca_components=PCA_COMPONENTS)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as memory:
        started = time.perf_counter()
        info = method.fit(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predicted = method.predict(task)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        inference_seconds = time.perf_counter() - started
    labels = predicted.astype(np.int64) + 1
    metrics = classification_metrics(flat_gt[split.test], labels[split.test], scene.class_ids, scene.class_names)
    variants = {}
    for name, other in method.variants(task, predicted).items():
        scored = classification_metrics(flat_gt[split.test], other.astype(np.int64)[split.test] + 1, scene.class_ids,
                                        scene.class_names)
        variants[name] = {"oa": scored["overall_accuracy"], "aa": scored["average_accuracy"],
                          "kappa": scored["kappa"]}
    map_path = output_dir / "maps" / f"{rid}.npz"
    save_map(map_path, labels.reshape(scene.shape))
    embedding_file = None
    if want_embedding:
        sample = _tsne_sample(split, scene.gt, seed)
        embedded = method.embed(task, sample)
        if embedded is not None:
            before, after, strength = embedded
            embedding_file = output_dir / "features" / f"{rid}.npz"
            embedding_file.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(embedding_file, before=before.astype(np.float16), after=after.astype(np.float16),
                                labels=flat_gt[sample].astype(np.uint8), strength=strength)
    pixels = int(scene.shape[0] * scene.shape[1])
    record = {
        "harness_version": HARNESS_VERSION, "run_id": rid, "dataset": scene.name, "protocol": split.protocol,
        "seed": seed, "method": method_name, "description": method.description, "quick": bool(quick),
        "oa": metrics["overall_accuracy"], "aa": metrics["average_accuracy"], "kappa": metrics["kappa"],
        "per_class_accuracy": {c["name"]: c["recall"] for c in metrics["per_class"]},
        "n_train": int(split.train.size), "n_test": int(split.test.size),
        "train_seconds": round(train_seconds, 3), "inference_seconds": round(inference_seconds, 4),
        "inference_pixels": pixels, "inference_pixels_per_second": round(pixels / max(inference_seconds, 1e-9), 1),
        "peak_rss_mb": memory.peak_mb, "process_peak_rss_mb": process_peak_rss_mb(),
        "gpu_peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None,
        **env,
        "patch_size": features.patch_size, "pca_components": features.n_components,
        "pca_explained_variance": round(features.explained_variance, 5),
        "split_file": str(split_path(output_dir, scene.name, split.protocol, seed, features.patch_size).relative_to(output_dir)),
        "map_file": str(map_path.relative_to(output_dir)),
        "embedding_file": None if embedding_file is None else str(embedding_file.relative_to(output_dir)),
        "method_info": info, "metrics": metrics, "variants": variants,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return record


@contextlib.contextmanager
def _engine_threads(threads):
    """The engine takes its CPU threads from ``CONTRASTDM_THREADS`` (as the CLI's ``--threads`` sets it): set for
    the runs, restored after."""
    if threads is None:
        yield
        return
    previous = os.environ.get("CONTRASTDM_THREADS")
    os.environ["CONTRASTDM_THREADS"] = str(threads)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CONTRASTDM_THREADS", None)
        else:
            os.environ["CONTRASTDM_THREADS"] = previous


class _Job:
    """The runs of one benchmark call: what they share, and how one scene's pending runs are done."""

    def __init__(self, output_dir, device, quick, threads, plots, first_seed, env, feedback, total: int) -> None:
        self.output_dir, self.device, self.quick, self.threads = output_dir, device, quick, threads
        self.plots, self.first_seed, self.env, self.feedback, self.total = plots, first_seed, env, feedback, total
        self.ran, self.skipped, self.failed = [], [], []

    def progress(self) -> float:
        return (len(self.ran) + len(self.skipped) + len(self.failed)) / max(1, self.total)

    def run_dataset(self, dataset: str, runs, patch_size: int, load) -> None:
        """The runs (seed, protocol, method) of one dataset that have no current record; ``load()`` -> Scene."""
        pending = [(s, p, m) for s, p, m in runs
                   if not _finished(self.output_dir / "runs" / f"{run_id(dataset, p, m, s)}.json", self.quick)]
        self.skipped.extend(run_id(dataset, p, m, s) for s, p, m in runs if (s, p, m) not in pending)
        if pending:
            with tempfile.TemporaryDirectory(prefix="contrastdm-bench-") as workdir:
                self.run_scene(load(), patch_size, pending, workdir)

    def run_scene(self, scene, patch_size: int, pending, workdir) -> None:
        """Every pending (seed, protocol, method) on ``scene``; failures are recorded and retried on resume."""
        features = make_features(scene, patch_size, PCA_COMPONENTS)
        save_map(self.output_dir / "maps" / f"{scene.name}__ground_truth.npz", scene.gt)
        files = write_scene_files(scene, workdir)
        for seed, protocol, method_name in pending:
            check_cancelled(self.feedback)
            rid = run_id(scene.name, protocol, method_name, seed)
            self.feedback.progress("bench", self.progress(), rid)
            split = load_or_make_split(self.output_dir, scene.name, protocol, scene.gt, seed, patch_size)
            want_embedding = self.plots and method_name == TSNE_METHOD and seed == self.first_seed
            try:
                record = run_one(scene, features, split, method_name, seed, self.device, self.quick, self.threads,
                                 self.output_dir, self.feedback, self.env, want_embedding, files)
            except (InputError, ValueError, RuntimeError) as exc:  # keep going; the run is retried on resume
                self.failed.append({"run": rid, "error": f"{type(exc).__name__}: {exc}"})
                self.feedback.message(f"{rid} failed: {type(exc).__name__}: {exc}", "warning")
                continue
            record["threads"] = self.threads if self.device.type == "cpu" else None
            write_json(self.output_dir / "runs" / f"{rid}.json", record)
            self.ran.append(rid)
            self.feedback.message(f"{rid}: OA {record['oa']:.2f} AA {record['aa']:.2f} kappa {record['kappa']:.4f} "
                                  f"train {record['train_seconds']:.1f}s "
                                  f"infer {record['inference_pixels_per_second']:.0f} px/s")


def run_benchmark(output_dir, *, datasets=("indian-pines",), methods=None, protocols=None, seeds=None,
                  quick: bool = False, device: str = "auto", data_dir=None, patch_size: int | None = None,
                  threads: int | None = None, plots: bool = True, feedback=None, scene_loader=None) -> dict:
    """Run what is missing, then regenerate the table and plots; ``scene_loader(name, data_dir)`` -> Scene
    replaces :func:`contrastdm_bench.data.load_scene` (tests use small scenes)."""
    from contrastdm.device import resolve_device

    from .methods import default_learner_config
    from .table import write_table

    feedback = feedback or NullFeedback()
    started = time.monotonic()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    methods = _names(methods, QUICK_METHODS if quick else FULL_METHODS, tuple(METHODS), "method(s)")
    protocols = _names(protocols, QUICK_PROTOCOLS if quick else PROTOCOLS, PROTOCOLS, "protocol(s)")
    datasets = _names(datasets, ("indian-pines",), DATASETS, "dataset(s)")
    seeds = _seeds(seeds, (0,) if quick else FULL_SEEDS)
    patch_size = int(patch_size or default_learner_config().patch_size)

    import torch

    torch_device = resolve_device(device)
    n_threads = _threads(threads)
    if torch_device.type == "cpu":
        torch.set_num_threads(n_threads)
    env = {"device": device_info(torch_device), "versions": versions(), "git": git_commit()}
    env["git_commit"] = env["git"]["commit"]
    feedback.message(f"bench: {len(datasets)} dataset(s) x {len(seeds)} seed(s) x {len(protocols)} protocol(s) x "
                     f"{len(methods)} method(s) on {env['device']['device']}; results in {output_dir}")

    job = _Job(output_dir, torch_device, quick, n_threads, plots, seeds[0], env, feedback,
               total=len(datasets) * len(seeds) * len(protocols) * len(methods))
    with _engine_threads(n_threads if torch_device.type == "cpu" else None):
        for dataset in datasets:
            job.run_dataset(dataset, [(s, p, m) for s in seeds for p in protocols for m in methods], patch_size,
                            lambda name=dataset: (scene_loader or load_scene)(name, data_dir))
    ran, skipped, failed = job.ran, job.skipped, job.failed
    feedback.progress("bench", 1.0, "writing the table")
    table, summary = write_table(output_dir)
    outputs = {"table": str(table), "summary": str(output_dir / "summary.json"), "runs": str(output_dir / "runs"),
               "splits": str(output_dir / "splits")}
    if plots:
        from .plots import make_plots

        feedback.progress("plots", 0.0, "drawing")
        figures = make_plots(output_dir)
        outputs["plots"] = str(output_dir / "plots")
        feedback.progress("plots", 1.0, f"{len(figures)} figure(s)")
    if failed and not ran and not skipped:
        raise InputError(f"every benchmark run failed; first: {failed[0]['run']}: {failed[0]['error']}")
    return {"outputs": outputs,
            "metrics": {"ran": len(ran), "skipped": len(skipped), "failed": failed, "summary": summary},
            "seconds": round(time.monotonic() - started, 1)}
