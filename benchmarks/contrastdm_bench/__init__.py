"""Benchmark harness: methods x protocols x seeds on public hyperspectral scenes.

Beside the engine, not in it: ``python -m contrastdm_bench`` with ``benchmarks/`` on the path (``make bench``).
The ContrastDM methods are clients of ``contrastdm.train`` and ``contrastdm.classify``. Modules, one job each:

- ``data``: scenes (Indian Pines; Pavia University and Salinas from their .mat files) and label-free features;
- ``protocols``: seeded, leakage-free training/test splits, stored as files so anyone can rerun them;
- ``methods``: the compared methods behind one interface (``fit`` then ``predict``);
- ``ssftt``: an SSFTT-style spectral-spatial tokenizer transformer (Sun et al., IEEE TGRS 2022);
- ``record``: environment, timing and peak-memory bookkeeping, atomic JSON files;
- ``table`` and ``plots``: the Markdown table and figures generated from the per-run JSON files;
- ``files``: a scene as a user has it (GeoTIFF, training polygons) for the engine's methods;
- ``runner``: the loop (resumable: a run whose JSON exists is skipped); ``__main__``: the command line.
"""
