"""Where the plugin's files are, in a source checkout and in an installed plugin zip.

Source checkout:  <repo>/contrastdm_qgis/ (this package), <repo>/resources/, <repo>/metadata.txt,
                  <repo>/core/contrastdm/ (the engine), <repo>/.venv/ (its interpreter).
Installed zip:    <plugins>/contrastdm_qgis/ with resources/ and metadata.txt inside it and, optionally,
                  the engine sources in engine/contrastdm/.
"""

from __future__ import annotations

import configparser
from pathlib import Path


def plugin_dir() -> Path:
    # resolve(): the plugin may be linked into a profile; the checkout is where the real files are.
    return Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path | None:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


def resources_dir() -> Path:
    here = plugin_dir()
    return _first_existing(here / "resources", here.parent / "resources") or here / "resources"


def icon_path(name: str = "contrastdm.svg") -> str:
    return str(resources_dir() / "icons" / name)


def model_path(name: str = "train_then_classify.model3") -> str:
    return str(resources_dir() / "models" / name)


def metadata_file() -> Path | None:
    here = plugin_dir()
    return _first_existing(here / "metadata.txt", here.parent / "metadata.txt")


def plugin_version() -> str:
    path = metadata_file()
    if path is None:
        return ""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
        return parser.get("general", "version", fallback="")
    except (OSError, configparser.Error):
        return ""
