"""The plugin talks to the engine only through its CLI: no module may import torch or contrastdm."""

import ast
from pathlib import Path

from import_guard import imported_roots, offending_imports

PLUGIN = Path(__file__).resolve().parents[2] / "contrastdm_qgis"
FORBIDDEN = {"torch", "contrastdm", "torchvision", "safetensors"}


def test_plugin_never_imports_the_engine_or_torch():
    count, offenders = offending_imports(PLUGIN, FORBIDDEN)
    assert count >= 7
    assert offenders == []


def test_guard_detects_engine_and_torch_imports():
    tree = ast.parse(
        "import os\n"
        "def f():\n    import torch.nn\n"
        "from contrastdm.cli import main\n"
        "import importlib\nimportlib.import_module('contrastdm.train')\n"
    )
    roots = list(imported_roots(tree))
    assert ("torch", 3) in roots
    assert ("contrastdm", 4) in roots
    assert ("contrastdm", 6) in roots
    assert ("os", 1) in roots
