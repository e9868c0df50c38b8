"""Screenshots for the docs, taken in the real QGIS desktop (run it under Xvfb):

    xvfb-run -a -s "-screen 0 1600x1000x24" qgis --nologo --noversioncheck \
        --profiles-path /tmp/contrastdm-shots-profile --code scripts/screenshots.py

Inputs (environment, defaults in brackets):
    CONTRASTDM_SHOT_DATA  folder with indian_pines.tif and training.gpkg   [demo_output/data]
    CONTRASTDM_SHOT_MAP   the Indian Pines class map                        [demo_output/indian_pines_classes.tif]
    CONTRASTDM_SHOT_CONF  its confidence raster (optional)                  [demo_output/indian_pines_confidence.tif]
    CONTRASTDM_SHOT_SITES suggested training sites (optional)               [demo_output/indian_pines_sites.gpkg]
    CONTRASTDM_SHOT_OUT   where the PNGs go                                 [docs/screenshots]
Writes dialog.png (main window with the ContrastDM dialog open), indian_pines_map.png (the styled class
map in the canvas, legend expanded) and, when the sites exist, suggested_sites.png (the sites as the dialog
adds them, over the map), each under 500 KB, then quits QGIS.
"""

import os
import sys
import traceback
from pathlib import Path

REPO = Path(os.environ.get("CONTRASTDM_REPO", "")) if os.environ.get("CONTRASTDM_REPO") else None
if REPO is None:
    try:
        REPO = Path(__file__).resolve().parents[1]
    except NameError:  # exec'd by qgis --code without __file__
        REPO = Path.cwd()
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsContrastEnhancement,
    QgsFillSymbol,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QPoint, QRect, QSize, Qt, QTimer  # noqa: E402
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPen  # noqa: E402
from qgis.PyQt.QtWidgets import QDockWidget  # noqa: E402
from qgis.utils import iface  # noqa: E402

DATA = Path(os.environ.get("CONTRASTDM_SHOT_DATA", REPO / "demo_output" / "data"))
MAP = Path(os.environ.get("CONTRASTDM_SHOT_MAP", REPO / "demo_output" / "indian_pines_classes.tif"))
CONF = Path(os.environ.get("CONTRASTDM_SHOT_CONF", REPO / "demo_output" / "indian_pines_confidence.tif"))
SITES = Path(os.environ.get("CONTRASTDM_SHOT_SITES", REPO / "demo_output" / "indian_pines_sites.gpkg"))
OUT = Path(os.environ.get("CONTRASTDM_SHOT_OUT", REPO / "docs" / "screenshots"))
MAX_BYTES = 500_000
WINDOW = QSize(1560, 960)
DIALOG = QSize(640, 820)

GROUP = "Indian Pines · ContrastDM"

state = {}


def log(text):
    print(f"[screenshots] {text}", flush=True)


def save_small(image: QImage, path: Path) -> None:
    """PNG under MAX_BYTES: full size first, then an indexed-colour version, then smaller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path), "PNG", 9)
    scale = 1.0
    while path.stat().st_size > MAX_BYTES and scale > 0.4:
        smaller = image if scale == 1.0 else image.scaledToWidth(int(image.width() * scale), 1)
        smaller.convertToFormat(QImage.Format_Indexed8).save(str(path), "PNG", 9)
        scale -= 0.15
    log(f"{path} {image.width()}x{image.height()} {path.stat().st_size // 1024} KB")


def categorized(layer: QgsVectorLayer, field: str) -> None:
    index = layer.fields().lookupField(field)
    values = sorted(str(v) for v in layer.uniqueValues(index))
    categories = []
    for i, value in enumerate(values):
        color = QColor.fromHsv(int(360 * i / max(1, len(values))) % 360, 200, 230)
        symbol = QgsFillSymbol.createSimple({"color": color.name(), "outline_color": "#202020",
                                             "outline_width": "0.3"})
        categories.append(QgsRendererCategory(value, symbol, value))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))


def step_load():
    window = iface.mainWindow()
    window.showNormal()
    window.resize(WINDOW)
    window.move(0, 0)
    for dock in window.findChildren(QDockWidget):  # room for the legend: only the Layers panel
        if dock.objectName() != "Layers":
            dock.hide()
    from contrastdm_qgis.plugin import ContrastDMPlugin

    state["plugin"] = plugin = ContrastDMPlugin(iface)
    plugin.initGui()
    raster = QgsRasterLayer(str(DATA / "indian_pines.tif"), "Indian Pines (AVIRIS)")
    training = QgsVectorLayer(f"{DATA / 'training.gpkg'}", "training polygons", "ogr")
    if not raster.isValid() or not training.isValid():
        raise RuntimeError(f"cannot load the Indian Pines scene from {DATA}")
    try:
        from qgis.core import QgsRasterMinMaxOrigin

        renderer = QgsMultiBandColorRenderer(raster.dataProvider(), 50, 27, 17)
        raster.setRenderer(renderer)
        raster.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                      QgsRasterMinMaxOrigin.CumulativeCut)
    except Exception:  # the default style is fine too
        traceback.print_exc()
    categorized(training, "class_name")
    project = QgsProject.instance()
    project.addMapLayers([raster, training], False)
    project.layerTreeRoot().insertLayer(0, training)  # polygons over the image
    project.layerTreeRoot().insertLayer(1, raster)
    state["raster"], state["training"] = raster, training
    QTimer.singleShot(1000, step_dialog)


def step_dialog():
    dialog = state["plugin"].show_dialog()
    dialog.raster_combo.setLayer(state["raster"])
    dialog.training_combo.setLayer(state["training"])
    dialog.field_combo.setField("class_name")
    dialog.set_preset("balanced")
    dialog.resize(DIALOG)
    dialog.move(WINDOW.width() - DIALOG.width() - 30, 90)
    state["dialog"] = dialog
    # The scene in the part of the canvas the dialog leaves free, in the raster's UTM grid (QGIS took the
    # CRS of the first layer added, the polygons' EPSG:4326).
    canvas = iface.mapCanvas()
    QgsProject.instance().setCrs(state["raster"].crs())
    canvas.setDestinationCrs(state["raster"].crs())
    free = dialog.mapToGlobal(QPoint(0, 0)).x() - canvas.mapToGlobal(QPoint(0, 0)).x() - 20
    extent = state["raster"].extent().buffered(state["raster"].extent().width() * 0.04)
    if free > 100:
        extent.setXMaximum(extent.xMinimum() + extent.width() * canvas.width() / free)
    canvas.setExtent(extent)
    canvas.refresh()
    QTimer.singleShot(5000, step_grab_dialog)  # the engine probe (doctor) fills in the device


def step_grab_dialog():
    window, dialog = iface.mainWindow(), state["dialog"]
    image = window.grab().toImage().convertToFormat(QImage.Format_RGB32)
    painter = QPainter(image)
    offset = dialog.mapToGlobal(QPoint(0, 0)) - window.mapToGlobal(QPoint(0, 0))
    # Xvfb has no window manager: draw a plain title bar and frame so the dialog reads as a window.
    title = QRect(offset.x() - 1, offset.y() - 28, dialog.width() + 2, 28)
    painter.fillRect(title, QColor("#3b4252"))
    painter.setPen(QColor("white"))
    font = QFont(painter.font())
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(title.adjusted(10, 0, 0, 0), Qt.AlignVCenter | Qt.AlignLeft, dialog.windowTitle())
    painter.drawPixmap(offset, dialog.grab())
    painter.setPen(QPen(QColor("#3b4252"), 2))
    painter.drawRect(QRect(offset.x() - 1, offset.y() - 28, dialog.width() + 2, dialog.height() + 29))
    painter.end()
    save_small(image, OUT / "dialog.png")
    dialog.close()
    QTimer.singleShot(500, step_map)


def step_map():
    from contrastdm_qgis import dialog_run

    project = QgsProject.instance()
    results = {"OUTPUT_RASTER": str(MAP), "OUTPUT_CONFIDENCE": str(CONF) if CONF.is_file() else ""}
    group, layers = dialog_run.add_results_to_project(results, GROUP)
    if not layers:
        raise RuntimeError(f"cannot load the class map {MAP}")
    project.removeMapLayers([state["raster"].id(), state["training"].id()])  # the legend: the results only
    iface.layerTreeView().expandAll()
    iface.layerTreeView().setCurrentLayer(layers[0])
    state["map"] = layers[0]
    project.setCrs(layers[0].crs())
    iface.mapCanvas().setDestinationCrs(layers[0].crs())
    canvas = iface.mapCanvas()
    extent = layers[0].extent()
    canvas.setExtent(extent.buffered(extent.width() * 0.03))
    canvas.refresh()
    QTimer.singleShot(4000, step_grab_map)


def step_grab_map():
    iface.mapCanvas().waitWhileRendering()
    save_small(iface.mainWindow().grab().toImage(), OUT / "indian_pines_map.png")
    QTimer.singleShot(200, step_sites if SITES.is_file() else finish)


def step_sites():
    from contrastdm_qgis import suggest_sites

    layer = suggest_sites.add_sites_to_project(str(SITES), GROUP, suggest_sites.class_colors(state["map"]))
    if layer is None:
        raise RuntimeError(f"cannot load the suggested sites {SITES}")
    iface.layerTreeView().expandAll()
    iface.layerTreeView().setCurrentLayer(layer)
    iface.mapCanvas().refresh()
    QTimer.singleShot(4000, step_grab_sites)


def step_grab_sites():
    iface.mapCanvas().waitWhileRendering()
    save_small(iface.mainWindow().grab().toImage(), OUT / "suggested_sites.png")
    QTimer.singleShot(200, finish)


def finish(code=0):
    try:
        state["plugin"].unload()
    except Exception:
        traceback.print_exc()
    QgsProject.instance().setDirty(False)
    os._exit(code)


def guarded(function):
    def run():
        try:
            function()
        except Exception:
            traceback.print_exc()
            finish(1)
    return run


for _name in ("step_load", "step_dialog", "step_grab_dialog", "step_map", "step_grab_map", "step_sites",
              "step_grab_sites"):
    globals()[_name] = guarded(globals()[_name])

QgsApplication.instance()  # QGIS is up: start once its window has settled
QTimer.singleShot(3000, step_load)
