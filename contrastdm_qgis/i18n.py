"""Translations: ``tr()`` for the plugin's UI strings, the translator loader and the .ts catalogue generator.

Every UI string goes through ``tr(text)`` (context "ContrastDM", the context the algorithms use too);
placeholders are filled after translation (``tr("{n} features").format(n=...)``) so the catalogue holds
one entry per message. ``python -m contrastdm_qgis.i18n`` regenerates resources/i18n/contrastdm_qgis_<lang>.ts
from the source (keeping existing translations); ``lrelease`` compiles it to the .qm the loader installs.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from xml.sax.saxutils import escape

CONTEXT = "ContrastDM"
LANGUAGES = ["de"]
UI_MODULES = ["dialog.py", "dialog_run.py", "options_page.py", "engine_jobs.py", "engine_setup.py", "plugin.py",
              "class_preview.py", "algorithm_base.py", "algorithms.py", "suggest_sites.py", "prepare_raster.py"]
# Lists of (..., label) tuples whose last string is shown through tr(label).
LABEL_LISTS = {"PRESET_NUMBERS", "TORCH_VARIANTS"}
# Calls whose first string argument is a message: tr("..."), Step("title", ...).
MESSAGE_CALLS = {"tr", "Step", "N_"}

_translator = None


def tr(text: str) -> str:
    from qgis.PyQt.QtCore import QCoreApplication

    return QCoreApplication.translate(CONTEXT, text)


def N_(text: str) -> str:  # noqa: N802 - marks a message translated later with tr(variable)
    return text


def user_locale(locale: str | None = None) -> str:
    """The user's language code ("de" from "de_DE"): QGIS's locale (its override setting, else the system's)."""
    if locale is None:
        from qgis.core import QgsApplication

        locale = QgsApplication.locale() or ""
    return (locale or "en").replace("-", "_")[:2].lower()


def qm_path(i18n_dir: Path, language: str) -> Path | None:
    path = Path(i18n_dir) / f"contrastdm_qgis_{language}.qm"
    return path if path.is_file() else None


def install_translator(language: str | None = None, i18n_dir: Path | None = None):
    """Install a QTranslator for the user's language when a .qm exists; returns it (None: English)."""
    global _translator
    from qgis.PyQt.QtCore import QCoreApplication, QTranslator

    from . import paths

    remove_translator()
    language = language or user_locale()
    path = qm_path(i18n_dir or paths.resources_dir() / "i18n", language)
    if path is None:
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        return None
    QCoreApplication.installTranslator(translator)
    _translator = translator
    return translator


def remove_translator() -> None:
    global _translator
    if _translator is not None:
        from qgis.PyQt.QtCore import QCoreApplication

        QCoreApplication.removeTranslator(_translator)
        _translator = None


# ----------------------------------------------------------------------------------------------------------
# The catalogue
# ----------------------------------------------------------------------------------------------------------

def extract_messages(files: list[Path]) -> list[tuple[str, str, int]]:
    """(message, file name, line) for every literal message in ``files``, in order, without duplicates."""
    seen: set[str] = set()
    found = []
    for path in files:
        start = len(found)
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in LABEL_LISTS for t in node.targets):
                for item in getattr(node.value, "elts", []):
                    last = item.elts[-1] if isinstance(item, ast.Tuple) and item.elts else None
                    if isinstance(last, ast.Constant) and isinstance(last.value, str) and last.value not in seen:
                        seen.add(last.value)
                        found.append((last.value, Path(path).name, item.lineno))
                continue
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if name in MESSAGE_CALLS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if arg.value not in seen:
                    seen.add(arg.value)
                    found.append((arg.value, Path(path).name, node.lineno))
        found[start:] = sorted(found[start:], key=lambda message: message[2])
    return found


def read_translations(ts_file: Path) -> dict[str, str]:
    """Existing translations of a .ts file (finished or not), by source text."""
    import xml.etree.ElementTree as ET

    if not Path(ts_file).is_file():
        return {}
    translations = {}
    for message in ET.parse(ts_file).getroot().iter("message"):
        source, translation = message.findtext("source"), message.find("translation")
        if source is not None and translation is not None and translation.text:
            translations[source] = translation.text
    return translations


def write_ts(ts_file: Path, language: str, messages: list[tuple[str, str, int]],
             translations: dict[str, str] | None = None) -> None:
    translations = translations or {}
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<!DOCTYPE TS>",
             f'<TS version="2.1" language="{language}">', "<context>", f"    <name>{CONTEXT}</name>"]
    for text, filename, line in messages:
        translated = translations.get(text, "")
        state = "" if translated else ' type="unfinished"'
        lines += ["    <message>", f'        <location filename="../../contrastdm_qgis/{filename}" line="{line}"/>',
                  f"        <source>{escape(text)}</source>",
                  f"        <translation{state}>{escape(translated)}</translation>", "    </message>"]
    lines += ["</context>", "</TS>", ""]
    Path(ts_file).write_text("\n".join(lines), encoding="utf-8")


def ui_files(plugin_dir: Path) -> list[Path]:
    return [plugin_dir / name for name in UI_MODULES if (plugin_dir / name).is_file()]


def update_catalogues(plugin_dir: Path, i18n_dir: Path) -> list[Path]:
    messages = extract_messages(ui_files(plugin_dir))
    written = []
    for language in LANGUAGES:
        ts_file = i18n_dir / f"contrastdm_qgis_{language}.ts"
        write_ts(ts_file, language, messages, read_translations(ts_file))
        written.append(ts_file)
    return written


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    out = here.parent / "resources" / "i18n"
    for ts in update_catalogues(here, out):
        print(ts)
    if "--release" in sys.argv:
        for ts in sorted(out.glob("*.ts")):
            os.system(f'lrelease -silent "{ts}"')
