"""The plugin stays loadable on Qt 6 builds of QGIS (3.40+), as ``supportsQt6`` in metadata.txt promises.

Qt 6 (PyQt6) drops unscoped enum members (``Qt.AlignLeft``: ``Qt.AlignmentFlag.AlignLeft``), ``exec_()``
and a few Qt 5 classes; Qt bindings are reached only through ``qgis.PyQt``, which QGIS maps to the right one.
QGIS's own enums (``Qgis.Critical``, ``QgsProcessing.TypeVectorPoint``, ...) keep their unscoped names on
Qt 6 builds, so only Qt's are checked.
"""

from __future__ import annotations

import ast
import configparser
import enum
import importlib
from pathlib import Path

from import_guard import offending_imports

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "contrastdm_qgis"
QT_BINDINGS = {"PyQt5", "PyQt6", "PySide2", "PySide6", "sip"}
QT5_ONLY_ATTRIBUTES = {"exec_", "print_"}  # exec() and print() on both
QT5_ONLY_NAMES = {"QRegExp", "QRegExpValidator", "QDesktopWidget", "QGLWidget", "QMatrix", "QSound", "QWebView",
                  "QtWebKit", "QtWebKitWidgets"}


def _sources() -> list[Path]:
    files = sorted(PLUGIN.rglob("*.py"))
    assert len(files) >= 7
    return files


def _is_enum_member(value) -> bool:
    # PyQt6 members are enum.Enum instances; PyQt5's are ints whose type is a sip enum type.
    return isinstance(value, enum.Enum) or type(type(value)).__name__ == "enumtype"


def qt5_only_uses(source: str) -> list[str]:
    """``line: what`` for each Qt 5-only pattern in ``source``: calls, classes and unscoped Qt enum members."""
    tree = ast.parse(source)
    found = []
    qt: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qgis.PyQt"):
            module = importlib.import_module(node.module) if node.module not in QT5_ONLY_NAMES else None
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is not None:  # a class imported from QtGui on Qt 6, QtWidgets on Qt 5
                    qt[alias.asname or alias.name] = value
                if alias.name in QT5_ONLY_NAMES:
                    found.append(f"{node.lineno}: {alias.name}")
            if node.module.rsplit(".", 1)[-1] in QT5_ONLY_NAMES:
                found.append(f"{node.lineno}: {node.module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in QT5_ONLY_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}()")
        elif isinstance(node, ast.Name) and node.id in QT5_ONLY_NAMES:
            found.append(f"{node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in qt:
            owner = qt[node.value.id]
            if not hasattr(owner, node.attr):
                found.append(f"{node.lineno}: {node.value.id}.{node.attr} does not exist")
            elif _is_enum_member(getattr(owner, node.attr)):
                found.append(f"{node.lineno}: unscoped enum {node.value.id}.{node.attr}")
    return sorted(set(found), key=lambda item: (int(item.split(":")[0]), item))


def test_metadata_declares_qt6_support():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "metadata.txt", encoding="utf-8")
    assert parser.get("general", "supportsQt6").strip().lower() in ("true", "yes")


def test_qt_is_imported_only_through_qgis_pyqt():
    count, offenders = offending_imports(PLUGIN, QT_BINDINGS)
    assert count >= 7
    assert offenders == []


def test_no_qt5_only_patterns():
    found = {str(path.relative_to(PLUGIN)): qt5_only_uses(path.read_text()) for path in _sources()}
    assert {name: uses for name, uses in found.items() if uses} == {}


def test_the_scan_finds_qt5_only_patterns():
    source = (
        "from qgis.PyQt.QtCore import Qt, QRegExp\n"
        "from qgis.PyQt.QtWidgets import QDialog, QSizePolicy\n"
        "label.setAlignment(Qt.AlignLeft)\n"
        "policy = QSizePolicy.Fixed\n"
        "ok = QSizePolicy.Policy.Fixed, Qt.AlignmentFlag.AlignLeft, QDialog.exec\n"
        "dialog.exec_()\n"
    )
    assert qt5_only_uses(source) == ["1: QRegExp", "3: unscoped enum Qt.AlignLeft",
                                     "4: unscoped enum QSizePolicy.Fixed", "6: .exec_()"]
