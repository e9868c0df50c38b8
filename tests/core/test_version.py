"""One version: the engine's leaf module, the package metadata (pyproject.toml) and the plugin's metadata.txt."""

import ast
import configparser
import sys
from pathlib import Path

import contrastdm
from contrastdm import version

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "core" / "contrastdm"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None


def test_version_module_is_a_leaf():
    tree = ast.parse((ENGINE / "version.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert contrastdm.__version__ == version.__version__


def test_modules_take_the_version_from_the_leaf_module():
    # `from . import __version__` runs the package __init__ (the whole API) and breaks on import cycles.
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.ImportFrom) and node.level > 0 and not node.module
                    and any(alias.name == "__version__" for alias in node.names)):
                offenders.append(f"{path.relative_to(ENGINE)}:{node.lineno}")
    assert offenders == []


def test_plugin_metadata_has_the_engine_version():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    assert parser.get("general", "version") == version.__version__


def test_pyproject_reads_the_version_from_the_leaf_module():
    text = (ROOT / "pyproject.toml").read_text()
    if tomllib is None:
        assert 'attr = "contrastdm.version.__version__"' in text
        return
    config = tomllib.loads(text)
    project = config["project"]
    if "version" in project:
        assert project["version"] == version.__version__
    else:
        assert "version" in project["dynamic"]
        assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "contrastdm.version.__version__"}
