"""ContrastDM for QGIS: a Processing provider that runs the ContrastDM engine in a separate process."""


def classFactory(iface):  # noqa: N802 - the name QGIS looks for
    """QGIS entry point (``iface`` is None under qgis_process)."""
    from .plugin import ContrastDMPlugin

    return ContrastDMPlugin(iface)
