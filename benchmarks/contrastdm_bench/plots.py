"""Figures from the run files: OA bars per protocol, classification maps side by side, t-SNE of features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .methods import METHODS
from .record import find_map, load_map
from .table import DATASET_TITLES, load_runs, summarise


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colormap(n_classes: int):
    from matplotlib.colors import ListedColormap

    base = [(0, 0, 0)] + [tuple(c[:3]) for c in _pyplot().get_cmap("tab20").colors]
    while len(base) < n_classes + 1:
        base += base[1:]
    return ListedColormap(base[: n_classes + 1])


def _order(methods) -> list[str]:
    return [m for m in METHODS if m in methods] + sorted(m for m in methods if m not in METHODS)


def bar_charts(output_dir: Path, summary: dict) -> list[Path]:
    plt = _pyplot()
    paths = []
    for dataset, protocols in summary.items():
        for protocol, entries in protocols.items():
            methods = _order(entries)
            means = [entries[m]["oa"]["mean"] for m in methods]
            stds = [entries[m]["oa"]["std"] or 0.0 for m in methods]
            fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(methods), 3.6))
            colors = ["#d62728" if m == "contrastdm" else "#ff9896" if m.startswith("cdm") else "#1f77b4"
                      for m in methods]
            ax.bar(methods, means, yerr=stds, color=colors, capsize=3)
            low = max(0.0, min(means) - 10.0)
            ax.set_ylim(low, 100.0)
            ax.set_ylabel("overall accuracy (%)")
            seeds = sorted({s for e in entries.values() for s in e["seeds"]})
            ax.set_title(f"{DATASET_TITLES.get(dataset, dataset)}, {protocol} (seeds {','.join(map(str, seeds))})")
            for x, v in enumerate(means):
                ax.text(x, v + 0.3, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
            ax.tick_params(axis="x", rotation=30)
            fig.tight_layout()
            path = output_dir / "plots" / f"{dataset}_{protocol}_oa.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
    return paths


def map_panels(output_dir: Path, runs: list[dict]) -> list[Path]:
    plt = _pyplot()
    paths = []
    groups: dict = {}
    for run in runs:
        if run.get("map_file") and find_map(output_dir / run["map_file"]) is not None:
            groups.setdefault((run["dataset"], run["protocol"]), []).append(run)
    for (dataset, protocol), members in groups.items():
        seeds = sorted({r["seed"] for r in members})
        seed = max(seeds, key=lambda s: (sum(r["seed"] == s for r in members), -s))  # most methods, then lowest
        chosen = {r["method"]: r for r in members if r["seed"] == seed}
        methods = _order(chosen)
        n_classes = len(chosen[methods[0]]["per_class_accuracy"])
        gt = load_map(output_dir / "maps" / f"{dataset}__ground_truth.npz")
        panels = ([("ground truth", gt)] if gt is not None else []) + [
            (f"{m} (OA {chosen[m]['oa']:.1f})", load_map(output_dir / chosen[m]["map_file"])) for m in methods]
        cols = min(5, len(panels))
        rows = int(np.ceil(len(panels) / cols))
        # constrained layout keeps each row's titles clear of the maps above them and of the suptitle
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.9 * rows), squeeze=False, layout="constrained")
        cmap = _colormap(n_classes)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, (title, image) in zip(axes.ravel(), panels):
            ax.imshow(image, cmap=cmap, vmin=0, vmax=n_classes, interpolation="nearest")
            ax.set_title(title, fontsize=8)
        fig.suptitle(f"{DATASET_TITLES.get(dataset, dataset)}, {protocol}, seed {seed}: every pixel classified",
                     fontsize=9)
        path = output_dir / "plots" / f"{dataset}_{protocol}_maps_seed{seed}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def tsne_plots(output_dir: Path, runs: list[dict]) -> list[Path]:
    from sklearn.manifold import TSNE

    plt = _pyplot()
    paths = []
    current = {output_dir / "plots" / f"{run['run_id']}_tsne.png" for run in runs if run.get("embedding_file")}
    for stale in set((output_dir / "plots").glob("*_tsne.png")) - current:
        stale.unlink()  # its run was redone without features (or removed): the picture no longer matches
    for run in runs:
        if not run.get("embedding_file"):
            continue
        path = output_dir / "plots" / f"{run['run_id']}_tsne.png"
        source = output_dir / run["embedding_file"]
        if not source.is_file():
            continue
        if path.is_file() and path.stat().st_mtime >= source.stat().st_mtime:
            paths.append(path)  # t-SNE is slow: redrawn only when its features changed
            continue
        with np.load(source) as data:
            before, after = data["before"].astype(np.float32), data["after"].astype(np.float32)
            labels, strength = data["labels"], float(data["strength"])
        n_classes = len(run["per_class_accuracy"])
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
        for ax, feats, title in ((axes[0], before, "encoder features"),
                                 (axes[1], after, f"after diffusion refinement (strength {strength:g})")):
            perplexity = float(min(30, max(2, (len(feats) - 1) // 3)))
            xy = TSNE(2, perplexity=perplexity, init="pca", random_state=0).fit_transform(feats)
            ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap=_colormap(n_classes), vmin=0, vmax=n_classes, s=3)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(f"t-SNE of ContrastDM features, {len(labels)} test pixels ({run['protocol']}, seed {run['seed']})",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def make_plots(output_dir) -> list[Path]:
    output_dir = Path(output_dir)
    (output_dir / "plots").mkdir(parents=True, exist_ok=True)
    runs = load_runs(output_dir)
    if not runs:
        return []
    summary = summarise(runs)
    paths = bar_charts(output_dir, summary) + map_panels(output_dir, runs) + tsne_plots(output_dir, runs)
    index = output_dir / "plots" / "index.json"
    index.write_text(json.dumps([str(p.relative_to(output_dir)) for p in paths], indent=1), encoding="utf-8")
    return paths
