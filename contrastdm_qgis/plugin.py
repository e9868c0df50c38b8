"""Plugin object: registers the Processing provider with QGIS (desktop and qgis_process)."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import ContrastDMProvider


class ContrastDMPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface  # None under qgis_process
        self.provider: ContrastDMProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API (called alone by qgis_process)
        if self.provider is None:
            self.provider = ContrastDMProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
