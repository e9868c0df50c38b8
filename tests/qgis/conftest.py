"""One QgsApplication with Processing and the ContrastDM provider for every test in tests/qgis.

The end-to-end tests run the real engine (``python -m contrastdm``) with tiny training settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if not os.environ.get("PROJ_DATA") and os.path.isdir("/usr/share/proj"):
    os.environ["PROJ_DATA"] = "/usr/share/proj"

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
QGIS_PLUGINS = "/usr/share/qgis/python/plugins"  # Processing
for entry in (str(REPO), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)
if os.path.isdir(QGIS_PLUGINS) and QGIS_PLUGINS not in sys.path:
    sys.path.append(QGIS_PLUGINS)

def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.qgis)


@pytest.fixture(scope="session", autouse=True)
def qgis_app(tmp_path_factory):
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QCoreApplication, QSettings

    profile = tmp_path_factory.mktemp("qgis_profile")
    # Keep QgsSettings (the engine interpreter setting) out of the user's real profile.
    QCoreApplication.setOrganizationName("QGIS")
    QCoreApplication.setOrganizationDomain("qgis.org")
    QCoreApplication.setApplicationName("QGIS3-contrastdm-tests")
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(profile))

    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], True, str(profile))  # with widgets (offscreen): the toolbox dialog is tested
        app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from contrastdm_qgis.provider import ContrastDMProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("contrastdm")
    if provider is None:
        provider = ContrastDMProvider()
        assert registry.addProvider(provider)
    app._contrastdm_provider = provider  # keep the Python object alive
    yield app


@pytest.fixture
def provider(qgis_app):
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().providerById("contrastdm")


@pytest.fixture
def project(qgis_app):
    """The global project, emptied after the test."""
    from qgis.core import QgsProject

    yield QgsProject.instance()
    QgsProject.instance().clear()


@pytest.fixture(scope="session")
def engine_ready():
    """The engine CLI of this checkout must answer: the end-to-end tests use the real engine.

    Engine children get one OpenMP thread: on a small shared machine torch's spinning threads make a tiny
    training several times slower.
    """
    import subprocess

    python = REPO / ".venv" / "bin" / "python"
    env = dict(os.environ, PYTHONPATH=str(REPO / "core"))
    done = subprocess.run([str(python), "-m", "contrastdm", "--help"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0 and " run " in done.stdout, f"engine CLI not available:\n{done.stderr}"
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield python
    if previous is None:
        os.environ.pop("OMP_NUM_THREADS", None)


@pytest.fixture(scope="session")
def plugin_scene(tmp_path_factory):
    from plugin_scenes import write_scene

    return write_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="session")
def staged_plugin(tmp_path_factory):
    """The plugin laid out as QGIS expects it (metadata.txt and resources/ inside the plugin folder),
    as links to the checkout: <dir>/contrastdm_qgis/. Returns <dir>, for QGIS_PLUGINPATH."""
    plugins = tmp_path_factory.mktemp("plugins")
    target = plugins / "contrastdm_qgis"
    target.mkdir()
    for path in sorted((REPO / "contrastdm_qgis").glob("*.py")):
        (target / path.name).symlink_to(path)
    (target / "metadata.txt").symlink_to(REPO / "metadata.txt")
    (target / "resources").symlink_to(REPO / "resources", target_is_directory=True)
    return plugins
