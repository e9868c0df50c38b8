"""Plugin object: the Processing provider (desktop and qgis_process), plus, in the desktop, a toolbar button,
a Raster > ContrastDM menu, the dialog, the options page and the translator. ``unload`` removes all of it."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QIcon

try:
    from qgis.PyQt.QtGui import QAction  # Qt 6
except ImportError:
    from qgis.PyQt.QtWidgets import QAction  # Qt 5

from . import i18n, paths
from .provider import ContrastDMProvider

MENU = "&ContrastDM"


class ContrastDMPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface  # None under qgis_process
        self.provider: ContrastDMProvider | None = None
        self.toolbar = None
        self.actions: list[QAction] = []
        self.options_factory = None
        self.dialog = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API (called alone by qgis_process)
        if self.provider is None:
            self.provider = ContrastDMProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        i18n.install_translator()
        self.initProcessing()
        if self.iface is None:
            return
        from .options_page import EngineOptionsFactory

        icon = QIcon(paths.icon_path())
        main = self.iface.mainWindow()
        self.run_action = QAction(icon, i18n.tr("ContrastDM: train and classify..."), main)
        self.run_action.setObjectName("ContrastDMRunAction")
        self.run_action.setToolTip(i18n.tr("Classify a hyperspectral raster from training polygons (ContrastDM)"))
        self.run_action.triggered.connect(lambda: self.show_dialog())
        self.engine_action = QAction(icon, i18n.tr("Engine settings..."), main)
        self.engine_action.setObjectName("ContrastDMEngineAction")
        self.engine_action.triggered.connect(lambda: self.show_dialog(engine_tab=True))
        self.actions = [self.run_action, self.engine_action]
        self.toolbar = self.iface.addToolBar(i18n.tr("ContrastDM"))
        self.toolbar.setObjectName("ContrastDMToolbar")
        self.toolbar.addAction(self.run_action)
        for action in self.actions:
            self.iface.addPluginToRasterMenu(MENU, action)
        self.options_factory = EngineOptionsFactory()
        self.iface.registerOptionsWidgetFactory(self.options_factory)

    def show_dialog(self, engine_tab: bool = False):
        from .dialog import open_dialog

        self.dialog = open_dialog(self.iface, self.dialog, engine_tab=engine_tab)
        return self.dialog

    def unload(self) -> None:
        if self.iface is not None:
            for action in self.actions:
                self.iface.removePluginRasterMenu(MENU, action)
                action.deleteLater()
            self.actions = []
            if self.toolbar is not None:
                self.iface.mainWindow().removeToolBar(self.toolbar)
                self.toolbar.deleteLater()
                self.toolbar = None
            if self.options_factory is not None:
                self.iface.unregisterOptionsWidgetFactory(self.options_factory)
                self.options_factory = None
        if self.dialog is not None:
            self.dialog.cancel()  # a run in progress: stop its engine process
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
        from .engine_jobs import stop_shared_setup_runner

        stop_shared_setup_runner()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        i18n.remove_translator()
