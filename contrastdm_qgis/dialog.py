"""The toolbar dialog: pick a raster and training polygons, see the classes, run, get styled layers back.

It fills the parameters of the toolbox's ``contrastdm:train_and_classify`` and runs that algorithm
(dialog_run.RunController); once a map exists, "Suggest where to label" runs ``contrastdm:suggest_training_sites``
with its model. A raster picked is prepared in the background (``contrastdm:prepare_raster``: its band selection
and reduction go to the scene cache, so the run starts sooner). The "Engine" tab is the same widget as the options
page.
"""

from __future__ import annotations

import os
from datetime import datetime

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject
from qgis.gui import (
    QgsCollapsibleGroupBox,
    QgsFieldComboBox,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsMessageBar,
)
from qgis.PyQt.QtCore import QSize, Qt, QTimer, QUrl
from qgis.PyQt.QtGui import QDesktopServices, QIcon
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from . import paths
from .algorithm_base import DEFAULT_DEVICE, DEFAULT_PRESET, DEVICES, PRECISIONS, PRESET_NUMBERS
from .algorithm_base import ContrastDMAlgorithm as P
from .class_preview import class_summary
from .dialog_run import RunController, add_results_to_project, eta_text, format_duration
from .i18n import N_, tr
from .options_page import EngineWidget
from .outputs import default_outputs, raster_file
from .prepare_raster import RasterPreparer
from .suggest_sites import ALGORITHM_ID as SITES_ALGORITHM_ID
from .suggest_sites import SuggestSitesAlgorithm as S
from .suggest_sites import add_sites_to_project, class_colors, sites_path

PRESET_HELP = {
    "fast": N_("A first look: about 0.4 times the training time of 'balanced', 0.6 OA points lower on Indian "
               "Pines (84.56 against 85.19 with 10 pixels per class, 80.73 against 81.36 with rectangles)."),
    "balanced": N_("The default, for maps. Longer schedules were not more accurate on Indian Pines' rectangles."),
}
PRECISION_LABELS = {"float32": N_("float32 (exact)"), "bfloat16": N_("bfloat16"),
                    "auto": N_("automatic: bfloat16 where the CPU computes it natively")}

class ContrastDMDialog(QDialog):
    def __init__(self, iface=None, parent=None) -> None:
        super().__init__(parent or (iface.mainWindow() if iface is not None else None))
        self.iface = iface
        self.setWindowTitle(tr("ContrastDM: train and classify"))
        self.setWindowIcon(QIcon(paths.icon_path()))
        self.setObjectName("ContrastDMDialog")
        self.controller = RunController(self)
        self.controller.progress.connect(self._on_progress)
        self.controller.stage.connect(self._on_stage)
        self.controller.finished.connect(self._on_finished)
        self.sites_controller = RunController(self, SITES_ALGORITHM_ID)  # where to label next, after a map
        self.sites_controller.progress.connect(self._on_progress)
        self.sites_controller.stage.connect(self._on_stage)
        self.sites_controller.finished.connect(self._on_finished)
        self._active = self.controller
        self._last_map: dict = {}
        self._defaults: dict[str, str] = {}
        self._run_name = ""
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._update_eta)

        self.tabs = QTabWidget()
        self.tabs.addTab(_scrollable(self._build_main_tab()), tr("Train and classify"))
        self.engine = EngineWidget(self)
        self.engine.probed.connect(self._on_probed)
        self.tabs.addTab(_scrollable(self.engine), tr("Engine"))
        self.message_bar = QgsMessageBar(self)
        self.message_bar.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.buttons = QDialogButtonBox()
        self.run_button = self.buttons.addButton(tr("Run"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.suggest_button = self.buttons.addButton(tr("Suggest where to label"),
                                                     QDialogButtonBox.ButtonRole.ActionRole)
        self.suggest_button.setToolTip(tr("Points where the last map's model is least sure, to label next"))
        self.suggest_button.setEnabled(False)
        self.suggest_button.clicked.connect(self.suggest_sites)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.tabs)
        layout.addLayout(self._build_progress())
        layout.addWidget(self.buttons)
        self.resize(QSize(640, 720))  # scrolls on small (laptop) screens

        self.preparer = RasterPreparer(self)  # the raster's label-free stage, in the background
        self.preparer.state.connect(self.prepare_label.setText)
        for widget in (self.number_widgets["PCA_COMPONENTS"], self.seed_spin):  # settings it depends on
            widget.valueChanged.connect(self._on_preparation_setting_changed)
        self.raster_combo.layerChanged.connect(self._on_raster_changed)
        self.training_combo.layerChanged.connect(self._on_training_changed)
        self.field_combo.fieldChanged.connect(self.update_preview)
        self.validation_combo.layerChanged.connect(self.validation_field_combo.setLayer)
        self._on_raster_changed(self.raster_combo.currentLayer())
        self._on_training_changed(self.training_combo.currentLayer())
        self.engine.show_probe_or_check()

    # -- building ------------------------------------------------------------------------------------------

    def _build_main_tab(self) -> QWidget:
        self.main_page = page = QWidget()
        form = QFormLayout()
        self.raster_combo = QgsMapLayerComboBox()
        self.raster_combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        self.raster_info = QLabel()
        self.raster_info.setWordWrap(True)
        self.prepare_label = QLabel()
        self.prepare_label.setStyleSheet("color: gray")
        self.training_combo = QgsMapLayerComboBox()
        self.training_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer | QgsMapLayerProxyModel.PointLayer)
        self.field_combo = QgsFieldComboBox()
        self.preview = QTableWidget(0, 3)
        self.preview.setHorizontalHeaderLabels([tr("Class"), tr("Features"), tr("Pixels (approx.)")])
        self.preview.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.preview.verticalHeader().setVisible(False)
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.setMaximumHeight(190)
        self.preview_note = QLabel()
        self.preview_note.setWordWrap(True)
        self.validation_combo = QgsMapLayerComboBox()
        self.validation_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer | QgsMapLayerProxyModel.PointLayer)
        self.validation_combo.setAllowEmptyLayer(True)
        self.validation_combo.setLayer(None)
        form.addRow(tr("Raster"), self.raster_combo)
        form.addRow("", self.raster_info)
        form.addRow("", self.prepare_label)
        form.addRow(tr("Training layer"), self.training_combo)
        form.addRow(tr("Class field"), self.field_combo)
        form.addRow(self.preview)
        form.addRow(self.preview_note)
        form.addRow(tr("Validation layer (optional)"), self.validation_combo)

        presets = QHBoxLayout()
        self.preset_group = QButtonGroup(self)
        self.preset_buttons = {}
        for key, label in (("fast", tr("Fast")), ("balanced", tr("Balanced"))):
            button = QRadioButton(label)
            button.setToolTip(tr(PRESET_HELP[key]))
            self.preset_group.addButton(button)
            self.preset_buttons[key] = button
            presets.addWidget(button)
        self.preset_buttons[DEFAULT_PRESET].setChecked(True)
        form.addRow(tr("Preset"), presets)

        self.output_widgets = {}
        self.output_checks = {}
        for key, label, filter_ in (("map", tr("Class map"), "GeoTIFF (*.tif)"),
                                    ("confidence", tr("Confidence"), "GeoTIFF (*.tif)"),
                                    ("model", tr("Model"), "ContrastDM model (*.safetensors)"),
                                    ("report", tr("Report"), "HTML (*.html)")):
            widget = QgsFileWidget()
            widget.setStorageMode(QgsFileWidget.SaveFile)
            widget.setFilter(filter_)
            self.output_widgets[key] = widget
            if key in ("confidence", "report"):
                check = QCheckBox(label)
                check.setChecked(True)
                check.toggled.connect(widget.setEnabled)
                self.output_checks[key] = check
                form.addRow(check, widget)
            else:
                form.addRow(label, widget)

        self.advanced = QgsCollapsibleGroupBox(tr("Advanced"))
        self.advanced.setCollapsed(True)
        advanced = QFormLayout(self.advanced)
        self.validation_field_combo = QgsFieldComboBox()
        self.validation_field_combo.setAllowEmptyFieldName(True)
        advanced.addRow(tr("Validation class field (empty: the class field)"), self.validation_field_combo)
        self.test_combo = QgsMapLayerComboBox()
        self.test_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer | QgsMapLayerProxyModel.PointLayer)
        self.test_combo.setAllowEmptyLayer(True)
        self.test_combo.setLayer(None)
        advanced.addRow(tr("Test layer (accuracy of the map)"), self.test_combo)
        self.number_widgets = {}
        for name, _option, label in PRESET_NUMBERS:
            spin = QSpinBox()
            spin.setRange(0, 100000)
            spin.setSpecialValueText(tr("preset default"))
            self.number_widgets[name] = spin
            advanced.addRow(tr(label), spin)
        self.synthetic_check = QCheckBox(tr("Add synthetic features for scarce classes"))
        self.synthetic_check.setChecked(True)
        self.refine_check = QCheckBox(tr("Refine features with the diffusion model (slower)"))
        self.warm_check = QCheckBox(tr("Quick retrain: start from this raster's last model"))
        self.warm_check.setToolTip(tr("After editing polygons: start from the last model trained on this raster "
                                      "with the same settings and train a fifth of the schedule. The first "
                                      "run trains in full; a class added since starts afresh."))
        self.budget_check = QCheckBox(tr("Schedules fitted to the data (faster first runs)"))
        self.budget_check.setToolTip(tr("Pre-train over the scene's label-free patches about once and fine-tune once "
                                        "on every label instead of choosing the epoch on a slice of them: about "
                                        "half the training time on a small scene with few labels, for the same "
                                        "overall accuracy; on Indian Pines' rectangles the average accuracy was 2 "
                                        "points lower."))
        self.patch_check = QCheckBox(tr("Choose the patch size on held-out polygons"))
        self.patch_check.setToolTip(tr("Short trial runs at 5, 7 and 11 px scored on training polygons held out "
                                       "of them pick the patch size (up to a fifth more training time). Small "
                                       "objects, such as buildings at 30 m, often want a smaller patch."))
        self.scale_check = QCheckBox(tr("Fit the smoothing to the scene's objects"))
        self.scale_check.setToolTip(tr("Narrow the map's smoothing window to the distance over which neighbouring "
                                       "pixels stay alike, so that objects of a few pixels (buildings, roads at "
                                       "30 m) are not smoothed away; large fields keep the full window."))
        self.scale_check.setChecked(True)
        # A quick retrain keeps its network's patch size: the two exclude each other.
        self.warm_check.toggled.connect(lambda on: self.patch_check.setEnabled(not on))
        self.patch_check.toggled.connect(lambda on: self.warm_check.setEnabled(not on))
        advanced.addRow(self.synthetic_check)
        advanced.addRow(self.refine_check)
        advanced.addRow(self.warm_check)
        advanced.addRow(self.budget_check)
        advanced.addRow(self.patch_check)
        advanced.addRow(self.scale_check)
        self.device_combo = QComboBox()
        for device in DEVICES:
            self.device_combo.addItem(tr("automatic") if device == DEFAULT_DEVICE else device.upper(), device)
        advanced.addRow(tr("Compute device"), self.device_combo)
        self.precision_combo = QComboBox()
        for precision in PRECISIONS:
            self.precision_combo.addItem(tr(PRECISION_LABELS[precision]), precision)
        self.precision_combo.setToolTip(tr("bfloat16 trains and classifies in about three quarters of the time on "
                                           "a CPU that computes it natively (AVX512-BF16 or AMX); elsewhere it is "
                                           "emulated and slower. A GPU is not affected."))
        advanced.addRow(tr("Arithmetic on a CPU"), self.precision_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        advanced.addRow(tr("Random seed"), self.seed_spin)
        self.sites_spin = QSpinBox()
        self.sites_spin.setRange(1, 10000)
        self.sites_spin.setValue(20)
        advanced.addRow(tr("Sites to suggest where to label"), self.sites_spin)

        self.device_label = QLabel(tr("Device: checking..."))
        self.device_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.device_label.linkActivated.connect(lambda _link: self.tabs.setCurrentIndex(1))
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.device_label)
        layout.addStretch(1)
        return page

    def _build_progress(self):
        layout = QVBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.stage_label = QLabel()
        self.eta_label = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.stage_label, 1)
        row.addWidget(self.eta_label)
        layout.addWidget(self.progress_bar)
        layout.addLayout(row)
        return layout

    # -- inputs --------------------------------------------------------------------------------------------

    def _on_raster_changed(self, layer) -> None:
        path = raster_file(layer)
        if layer is None:
            self.raster_info.setText(tr("Add a multiband raster (GeoTIFF, ENVI...) to the project."))
        else:
            width, height, bands = layer.width(), layer.height(), layer.bandCount()
            size_mb = width * height * bands * 4 / 1e6
            text = tr("{w} × {h} pixels, {b} bands, {crs}; classified tile by tile (~{mb:.0f} MB as float)").format(
                w=width, h=height, b=bands, crs=layer.crs().authid() or tr("no CRS"), mb=size_mb)
            if not path:
                text += "<br><b>" + tr("Not a file: save it as a GeoTIFF first.") + "</b>"
            self.raster_info.setText(text)
        previous = self._defaults
        self._defaults = default_outputs(path)
        for key, widget in self.output_widgets.items():
            if not widget.filePath() or widget.filePath() == previous.get(key):
                widget.setFilePath(self._defaults[key])
        self.update_preview()
        if self.isVisible():  # a closed dialog's list follows the project too: it prepares nothing then
            self._prepare_raster(layer)

    def _on_preparation_setting_changed(self, *_args) -> None:
        if self.isVisible():
            self._prepare_raster(self.raster_combo.currentLayer())

    def _prepare_raster(self, layer) -> None:
        """Start fitting the raster's band selection and reduction in the background, with the settings the run
        would use now; a run started meanwhile works anyway (it may compute them itself)."""
        self.preparer.prepare(layer if raster_file(layer) else None,
                              {"PCA_COMPONENTS": self.number_widgets["PCA_COMPONENTS"].value(),
                               "SEED": self.seed_spin.value()})

    def _on_training_changed(self, layer) -> None:
        self.field_combo.setLayer(layer)
        if layer is not None:
            renderer = layer.renderer()
            attribute = renderer.classAttribute() if hasattr(renderer, "classAttribute") else ""
            names = layer.fields().names()
            preferred = [attribute] if attribute in names else []
            preferred += [n for n in names if n.lower() in ("class_name", "class", "classname", "label",
                                                            "class_id", "landcover", "klasse")]
            if preferred:
                self.field_combo.setField(preferred[0])
        self.update_preview()

    def update_preview(self, *_args) -> None:
        layer = self.training_combo.currentLayer()
        summary = class_summary(layer, self.field_combo.currentField(), self.raster_combo.currentLayer())
        self.summary = summary
        self.preview.setRowCount(len(summary.classes))
        for row, count in enumerate(summary.classes):
            pixels = f"{count.pixels:,.0f}" if count.pixels else "–"
            for column, text in enumerate((count.label, str(count.features), pixels)):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.preview.setItem(row, column, item)
        notes = []
        raster = self.raster_combo.currentLayer()
        if summary.reprojected and layer is not None and raster is not None:
            notes.append(tr("The training layer ({a}) is reprojected to the raster's CRS ({b}).").format(
                a=layer.crs().authid(), b=raster.crs().authid()))
        warnings = summary.warnings()
        text = " ".join(notes)
        if warnings:
            text += "".join(f"<br><span style='color:#b35900'>⚠ {w}</span>" for w in warnings)
        if summary.truncated:
            text += "<br>" + tr("(counted on the first features only)")
        self.preview_note.setText(text)

    # -- parameters ----------------------------------------------------------------------------------------

    def preset(self) -> str:
        return next(key for key, button in self.preset_buttons.items() if button.isChecked())

    def set_preset(self, key: str) -> None:
        self.preset_buttons[key].setChecked(True)

    def parameters(self) -> dict:
        """The parameters of contrastdm:train_and_classify, as the toolbox would pass them."""
        raster, training = self.raster_combo.currentLayer(), self.training_combo.currentLayer()
        params = {P.INPUT_RASTER: raster.id() if raster else None,
                  P.TRAINING_VECTOR: training.id() if training else None,
                  P.CLASS_FIELD: self.field_combo.currentField(), P.PRESET: self.preset(),
                  P.SYNTHETIC: self.synthetic_check.isChecked(), P.REFINE: self.refine_check.isChecked(),
                  P.WARM_START: self.warm_check.isChecked(), P.DATA_BUDGET: self.budget_check.isChecked(),
                  P.CHOOSE_PATCH_SIZE: self.patch_check.isChecked() and not self.warm_check.isChecked(),
                  P.SMOOTHING_FROM_SCENE: self.scale_check.isChecked(),
                  P.DEVICE: self.device_combo.currentData(), P.PRECISION: self.precision_combo.currentData(),
                  P.SEED: self.seed_spin.value(),
                  P.OUTPUT_RASTER: self.output_widgets["map"].filePath(),
                  P.OUTPUT_MODEL: self.output_widgets["model"].filePath()}
        for name, widget in self.number_widgets.items():
            params[name] = widget.value()
        for key, param in (("confidence", P.OUTPUT_CONFIDENCE), ("report", P.OUTPUT_REPORT)):
            if self.output_checks[key].isChecked() and self.output_widgets[key].filePath():
                params[param] = self.output_widgets[key].filePath()
        for combo, param in ((self.validation_combo, P.VALIDATION_VECTOR), (self.test_combo, P.TEST_VECTOR)):
            if combo.currentLayer() is not None:
                params[param] = combo.currentLayer().id()
        if self.validation_combo.currentLayer() is not None and self.validation_field_combo.currentField():
            params[P.VALIDATION_CLASS_FIELD] = self.validation_field_combo.currentField()
        return params

    # -- running -------------------------------------------------------------------------------------------

    def run(self) -> bool:
        if self.controller.running() or self.sites_controller.running():
            return False
        parameters = self.parameters()
        ok, message = self.controller.check(parameters)
        if not ok:
            self.show_message(tr("Cannot run"), message, Qgis.Warning)
            return False
        raster = self.raster_combo.currentLayer()
        self._run_name = tr("{raster} · ContrastDM {preset} ({time})").format(
            raster=raster.name(), preset=self.preset(), time=datetime.now().strftime("%H:%M"))
        self._run_raster = raster_file(raster)
        self._active = self.controller
        self._set_running(True)
        self.stage_label.setText(tr("Starting the engine..."))
        self.controller.start(parameters, self._run_name)
        return True

    def suggest_sites(self) -> bool:
        """Points where the last map's model is least sure, added next to that map."""
        last = self._last_map
        if not last or self.controller.running() or self.sites_controller.running():
            return False
        parameters = {S.INPUT_RASTER: last["raster"], S.MODEL: last["model"], S.COUNT: self.sites_spin.value(),
                      S.DEVICE: self.device_combo.currentData(), S.PRECISION: self.precision_combo.currentData(),
                      S.OUTPUT_SITES: sites_path(last["map"])}
        ok, message = self.sites_controller.check(parameters)
        if not ok:
            self.show_message(tr("Cannot run"), message, Qgis.Warning)
            return False
        self._active = self.sites_controller
        self._set_running(True)
        self.stage_label.setText(tr("Starting the engine..."))
        self.sites_controller.start(parameters, tr("{name}: where to label next").format(name=last["group"]))
        return True

    def cancel(self) -> None:
        self._active.cancel()
        self.cancel_button.setEnabled(False)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.suggest_button.setEnabled(not running and bool(self._last_map))
        self.cancel_button.setEnabled(running)
        self.main_page.setEnabled(not running)
        self.progress_bar.setValue(0 if running else self.progress_bar.value())
        if running:
            self._tick.start()
        else:
            self._tick.stop()

    def _on_progress(self, percent: float) -> None:
        self.progress_bar.setValue(int(percent))
        self._update_eta()

    def _on_stage(self, text: str) -> None:
        self.stage_label.setText(text)

    def _update_eta(self) -> None:
        self.eta_label.setText(eta_text(self._active.elapsed(), self._active.percent))

    def _on_finished(self, success: bool, results: dict, error: str) -> None:
        self._set_running(False)
        self.last_results = results
        if success:
            self.progress_bar.setValue(100)
            self.stage_label.setText(tr("Done in {}").format(format_duration(self._active.elapsed())))
            self.eta_label.clear()
            if self._active is self.sites_controller:
                self._add_sites(results)
                return
            self.group, self.layers = add_results_to_project(results, self._run_name)
            self._remember_map(results)
            self._report_success(results)
        elif self._active.cancelled:
            self.stage_label.setText(tr("Cancelled"))
            self.show_message(tr("ContrastDM"), tr("Cancelled: the engine was stopped and no output was written."),
                              Qgis.Info)
        else:
            self.stage_label.setText(tr("Failed"))
            self.show_message(tr("ContrastDM failed"), error or tr("See the log for details."), Qgis.Critical)

    def _remember_map(self, results: dict) -> None:
        """What "Suggest where to label" needs of this run: its raster, model, map and group."""
        self._last_map = {"raster": self._run_raster, "model": results.get(P.OUTPUT_MODEL),
                          "map": results.get(P.OUTPUT_RASTER), "group": self._run_name,
                          "layer": self.layers[0].id() if self.layers else ""}
        self.suggest_button.setEnabled(bool(self._last_map["model"] and self._last_map["map"]))

    def _add_sites(self, results: dict) -> None:
        class_map = QgsProject.instance().mapLayer(self._last_map.get("layer", ""))
        self.sites_layer = add_sites_to_project(results.get(S.OUTPUT_SITES), self._last_map["group"],
                                                class_colors(class_map))
        self.show_message(tr("ContrastDM"), tr("{n} sites where the model is least sure were added next to the map: "
                                               "label them, then run again.").format(n=int(results.get(S.SITES) or 0)),
                          Qgis.Success)

    def _report_success(self, results: dict) -> None:
        text = tr("{name}: class map added to the project.").format(name=self._run_name)
        report = results.get(P.OUTPUT_REPORT)
        bars = [self.message_bar] + ([self.iface.messageBar()] if self.iface is not None else [])
        for bar in bars:
            item = bar.createMessage(tr("ContrastDM"), text)
            if report and os.path.isfile(str(report)):
                button = QPushButton(tr("Open report"))
                button.clicked.connect(lambda _=False, r=str(report): QDesktopServices.openUrl(QUrl.fromLocalFile(r)))
                item.layout().addWidget(button)
            bar.pushWidget(item, Qgis.Success, 0 if bar is self.message_bar else 15)

    def show_message(self, title: str, text: str, level) -> None:
        """In the dialog's bar; failures (and anything while the dialog is closed) also in QGIS's bar."""
        self.last_message = text
        self.message_bar.pushMessage(title, text, level, 0)
        if self.iface is not None and (level == Qgis.Critical or not self.isVisible()):
            self.iface.messageBar().pushMessage(title, text, level, 0)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._prepare_raster(self.raster_combo.currentLayer())

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt API
        if not event.spontaneous():  # closed (not minimised): the background preparation stops with it
            self.preparer.prepare(None)
        super().hideEvent(event)

    def _on_probed(self, result: dict) -> None:
        device = result.get("device") or ""
        style = "" if result.get("ready") else "color:#b30000"
        self.device_label.setText(
            f"<span style='{style}'>" + tr("Device: {}").format(device) + "</span> · <a href='#engine'>"
            + tr("Engine settings") + "</a>")


def _scrollable(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    return area


def open_dialog(iface, existing: ContrastDMDialog | None = None, engine_tab: bool = False) -> ContrastDMDialog:
    dialog = existing or ContrastDMDialog(iface)
    if engine_tab:
        dialog.tabs.setCurrentIndex(1)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog

