"""The engine must stay importable without QGIS or Qt: walk every module's AST."""

import ast
from pathlib import Path

from import_guard import imported_roots, offending_imports

ENGINE = Path(__file__).resolve().parents[2] / "core" / "contrastdm"
FORBIDDEN = {"qgis", "PyQt5", "PyQt6", "PySide2", "PySide6", "sip"}


def test_engine_never_imports_qgis_or_qt():
    count, offenders = offending_imports(ENGINE, FORBIDDEN)
    assert count > 5
    assert offenders == []


def test_guard_detects_a_qgis_import():
    tree = ast.parse("import os\nfrom qgis.core import QgsProject\n")
    assert ("qgis", 2) in list(imported_roots(tree))
