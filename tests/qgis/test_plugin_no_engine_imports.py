"""The plugin talks to the engine only through its CLI: no module may import torch or contrastdm."""

import ast
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "contrastdm_qgis"
FORBIDDEN = {"torch", "contrastdm", "torchvision", "safetensors"}


def imported_roots(tree: ast.AST):
    """(top-level module, line) for every absolute import, including ones inside functions and
    ``importlib.import_module("...")`` / ``__import__("...")`` calls with a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0], node.lineno


def test_plugin_never_imports_the_engine_or_torch():
    files = sorted(PLUGIN.rglob("*.py"))
    assert len(files) >= 7
    offenders = [
        f"{path.relative_to(PLUGIN)}:{line} imports {root}"
        for path in files
        for root, line in imported_roots(ast.parse(path.read_text(), str(path)))
        if root in FORBIDDEN
    ]
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
