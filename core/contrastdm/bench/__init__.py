"""Benchmark harness: methods x protocols x seeds on public hyperspectral scenes.

``contrastdm bench`` calls :func:`contrastdm.bench.runner.main`. Modules, one job each:

- ``data``: scenes (Indian Pines; Pavia University and Salinas from their .mat files) and label-free features;
- ``protocols``: seeded, leakage-free training/test splits, stored as files so anyone can rerun them;
- ``methods``: the compared methods behind one interface (``fit`` then ``predict``);
- ``ssftt``: an SSFTT-style spectral-spatial tokenizer transformer (Sun et al., IEEE TGRS 2022);
- ``record``: environment, timing and peak-memory bookkeeping, atomic JSON files;
- ``table`` and ``plots``: the Markdown table and figures generated from the per-run JSON files;
- ``runner``: the loop (resumable: a run whose JSON exists is skipped).
"""
