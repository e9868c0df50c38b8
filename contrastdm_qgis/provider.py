"""The "ContrastDM" Processing provider: toolbox, batch, modeler and qgis_process all use it."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import paths, settings
from .algorithms import ALGORITHMS
from .prepare_raster import PrepareRasterAlgorithm
from .suggest_sites import SuggestSitesAlgorithm


class ContrastDMProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "contrastdm"

    def name(self) -> str:
        return "ContrastDM"

    def longName(self) -> str:  # noqa: N802 - QGIS API
        return "ContrastDM hyperspectral classification"

    def icon(self) -> QIcon:
        return QIcon(paths.icon_path())

    def svgIconPath(self) -> str:  # noqa: N802
        return paths.icon_path()

    def versionInfo(self) -> str:  # noqa: N802
        return paths.plugin_version()

    def load(self) -> bool:
        settings.register_processing_settings(self.name(), self.icon())
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        settings.unregister_processing_settings()

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in [*ALGORITHMS, SuggestSitesAlgorithm, PrepareRasterAlgorithm]:
            self.addAlgorithm(algorithm())

    # The engine writes GeoTIFF and GeoPackage files only: no memory outputs, no other formats.
    def supportsNonFileBasedOutput(self) -> bool:  # noqa: N802
        return False

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["tif"]

    def defaultRasterFileExtension(self) -> str:  # noqa: N802
        return "tif"

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["gpkg"]

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:  # noqa: N802, N803
        return "gpkg"
