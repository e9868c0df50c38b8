"""Where the engine keeps files it can rebuild: converted sensor products (and, later, per-scene stages).

``$CONTRASTDM_CACHE_DIR`` wins, then ``$XDG_CACHE_HOME/contrastdm``, then ``~/.cache/contrastdm``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    explicit = os.environ.get("CONTRASTDM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "contrastdm"


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached file (created on demand by the writer)."""
    return cache_root() / kind
