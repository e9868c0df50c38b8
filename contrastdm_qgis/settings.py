"""Plugin settings, stored in QgsSettings.

The engine interpreter is also shown in Settings > Options > Processing > Providers > ContrastDM: the
provider registers a Processing setting that reads and writes the same QgsSettings key.
"""

from __future__ import annotations

import os

from qgis.core import QgsApplication, QgsSettings

# ProcessingConfig stores provider settings under "Processing/Configuration/<name>"; using that key here
# makes the Options dialog and this module share one value.
ENGINE_PYTHON_SETTING = "CONTRASTDM_ENGINE_PYTHON"
ENGINE_PYTHON_KEY = f"Processing/Configuration/{ENGINE_PYTHON_SETTING}"


def engine_python() -> str:
    """The interpreter the user chose for the engine, or "" (then it is found automatically)."""
    value = QgsSettings().value(ENGINE_PYTHON_KEY, "", type=str)
    return (value or "").strip()


def scene_cache_dir() -> str:
    """The engine's scene cache for runs from QGIS (``--cache-dir``): ``<QGIS profile>/contrastdm/cache``."""
    return os.path.join(QgsApplication.qgisSettingsDirPath(), "contrastdm", "cache")


def set_engine_python(path: str | None) -> None:
    """Set (or, with "" / None, clear) the engine interpreter."""
    path = (path or "").strip()
    settings = QgsSettings()
    if path:
        settings.setValue(ENGINE_PYTHON_KEY, path)
    else:
        settings.remove(ENGINE_PYTHON_KEY)
    _sync_processing_config(path)


def _sync_processing_config(path: str) -> None:
    """Keep Processing's in-memory copy of the setting current (it writes it back when its dialog closes)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:  # Processing not loaded (e.g. a bare QgsApplication)
        return
    setting = ProcessingConfig.settings.get(ENGINE_PYTHON_SETTING)
    if setting is not None:
        setting.value = path


def register_processing_settings(group: str, icon=None) -> None:
    """Show the engine interpreter in the Processing options, under the provider's name."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:
        return
    ProcessingConfig.addSetting(
        Setting(group, ENGINE_PYTHON_SETTING,
                "Engine Python interpreter (empty: find automatically; needs contrastdm and torch)",
                "", valuetype=Setting.FILE)
    )
    if icon is not None:
        ProcessingConfig.setGroupIcon(group, icon)
    ProcessingConfig.settings[ENGINE_PYTHON_SETTING].read()


def unregister_processing_settings() -> None:
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return
    ProcessingConfig.settings.pop(ENGINE_PYTHON_SETTING, None)
