"""The plugin in a (stand-in) QGIS main window: toolbar button, Raster menu, options page, translator, unload."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsApplication
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QMainWindow, QToolBar

from contrastdm_qgis import i18n

REPO = Path(__file__).resolve().parents[2]


class FakeIface:
    """What the plugin uses of QgisInterface, backed by a real main window, menus and toolbars."""

    def __init__(self):
        self.window = QMainWindow()
        self.raster_menu = self.window.menuBar().addMenu("&Raster")
        self.bar = QgsMessageBar(self.window)
        self.factories = []

    def mainWindow(self):  # noqa: N802
        return self.window

    def messageBar(self):  # noqa: N802
        return self.bar

    def addToolBar(self, name):  # noqa: N802
        return self.window.addToolBar(name)

    def _submenu(self, name, create):
        for action in self.raster_menu.actions():
            if action.menu() is not None and action.text() == name:
                return action.menu()
        return self.raster_menu.addMenu(name) if create else None

    def addPluginToRasterMenu(self, name, action):  # noqa: N802
        self._submenu(name, True).addAction(action)

    def removePluginRasterMenu(self, name, action):  # noqa: N802
        menu = self._submenu(name, False)
        if menu is not None:
            menu.removeAction(action)
            if not menu.actions():
                self.raster_menu.removeAction(menu.menuAction())

    def registerOptionsWidgetFactory(self, factory):  # noqa: N802
        self.factories.append(factory)

    def unregisterOptionsWidgetFactory(self, factory):  # noqa: N802
        self.factories.remove(factory)


def toolbars(window):
    return [t for t in window.findChildren(QToolBar) if t.objectName() == "ContrastDMToolbar" and t.parent()]


def test_init_gui_and_unload_remove_everything(qgis_app, project):
    from contrastdm_qgis.plugin import ContrastDMPlugin

    registry = QgsApplication.processingRegistry()
    shared = registry.providerById("contrastdm")
    registry.removeProvider(shared)  # the session's provider; the plugin registers its own
    iface = FakeIface()
    plugin = ContrastDMPlugin(iface)
    try:
        plugin.initGui()
        assert registry.providerById("contrastdm") is not None
        [toolbar] = toolbars(iface.window)
        assert [a.objectName() for a in toolbar.actions()] == ["ContrastDMRunAction"]
        submenu = iface._submenu("&ContrastDM", False)
        assert [a.objectName() for a in submenu.actions()] == ["ContrastDMRunAction", "ContrastDMEngineAction"]
        assert len(iface.factories) == 1 and iface.factories[0].title() == "ContrastDM"
        page = iface.factories[0].createWidget(None)  # the options page builds (and probes in the background)
        assert page.objectName() == "ContrastDMOptionsPage"

        toolbar.actions()[0].trigger()  # the button opens the dialog
        assert plugin.dialog is not None and plugin.dialog.isVisible()
        assert plugin.dialog.tabs.currentIndex() == 0
        submenu.actions()[1].trigger()  # Engine settings: the same dialog, on its Engine tab
        assert plugin.dialog.tabs.currentIndex() == 1 and plugin.dialog.engine.isVisible()

        plugin.unload()
        QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # deleteLater
        assert toolbars(iface.window) == []
        assert iface._submenu("&ContrastDM", False) is None
        assert [a for a in iface.raster_menu.actions()] == []
        assert iface.factories == []
        assert plugin.dialog is None and plugin.actions == []
        assert registry.providerById("contrastdm") is None
        page.deleteLater()
    finally:
        if registry.providerById("contrastdm") is None:
            from contrastdm_qgis.provider import ContrastDMProvider

            provider = ContrastDMProvider()
            registry.addProvider(provider)
            qgis_app._contrastdm_provider = provider


def test_processing_only_without_iface(qgis_app):
    from contrastdm_qgis.plugin import ContrastDMPlugin

    plugin = ContrastDMPlugin(None)  # qgis_process: no GUI, initGui is not even called
    plugin.unload()
    assert plugin.toolbar is None


def test_catalogue_holds_every_ui_message():
    ts = REPO / "resources" / "i18n" / "contrastdm_qgis_de.ts"
    messages = {m[0] for m in i18n.extract_messages(i18n.ui_files(REPO / "contrastdm_qgis"))}
    in_catalogue = set(i18n.read_translations(ts)) | {
        line.strip()[len("<source>"):-len("</source>")] for line in ts.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("<source>")}
    from xml.sax.saxutils import escape

    missing = sorted(m for m in messages if escape(m) not in in_catalogue and m not in in_catalogue)
    assert missing == [], "run: python -m contrastdm_qgis.i18n (then lrelease)"
    assert "Set up engine" in messages and "Fine-tuning the classifier" not in messages


def test_german_translator_is_installed_when_a_qm_exists(qgis_app):
    assert i18n.user_locale("de_AT") == "de" and i18n.user_locale("C") == "c" and i18n.user_locale("") == "en"
    if i18n.qm_path(REPO / "resources" / "i18n", "de") is None:
        pytest.skip("contrastdm_qgis_de.qm not built (lrelease resources/i18n/contrastdm_qgis_de.ts)")
    try:
        assert i18n.install_translator("de") is not None
        assert i18n.tr("Set up engine") == "Engine einrichten"
        from contrastdm_qgis.options_page import EngineWidget

        widget = EngineWidget()
        assert widget.setup_button.text() == "Engine einrichten"
        widget.deleteLater()
    finally:
        i18n.remove_translator()
    assert i18n.tr("Set up engine") == "Set up engine"
    assert i18n.install_translator("xx") is None
