"""The engine must stay importable without QGIS or Qt: walk every module's AST."""

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "core" / "contrastdm"
FORBIDDEN = {"qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip"}


def _imported_roots(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_engine_never_imports_qgis_or_qt():
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 5
    offenders = [
        f"{path.relative_to(ENGINE)}:{line} imports {root}"
        for path in files
        for root, line in _imported_roots(ast.parse(path.read_text(), str(path)))
        if root in FORBIDDEN
    ]
    assert offenders == []


def test_guard_detects_a_qgis_import():
    tree = ast.parse("import os\nfrom qgis.core import QgsProject\n")
    assert ("qgis", 2) in list(_imported_roots(tree))
