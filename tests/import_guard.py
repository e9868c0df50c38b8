"""Import guards shared by the engine and plugin tests: which packages a source tree imports."""

from __future__ import annotations

import ast
from pathlib import Path


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


def offending_imports(package: Path, forbidden: set[str]) -> tuple[int, list[str]]:
    """(number of files read, ``file:line imports X`` for each forbidden import under ``package``)."""
    files = sorted(package.rglob("*.py"))
    offenders = [
        f"{path.relative_to(package)}:{line} imports {root}"
        for path in files
        for root, line in imported_roots(ast.parse(path.read_text(), str(path)))
        if root in forbidden
    ]
    return len(files), offenders
