"""What the training layer holds per class: features, approximate pixels, and the warnings to show.

Counted in the dialog before a run so that a class with too few samples, a field that is not a class field,
or training data that does not overlap the raster is seen before minutes of training, not after.
"""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import (
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .i18n import tr

MIN_FEATURES = 2        # fewer: the engine cannot keep a validation sample for the class
MIN_PIXELS = 10         # fewer: too little to learn a class from
MAX_FEATURES = 50_000   # the preview reads at most this many features
MAX_CLASSES = 100       # more distinct values: probably not a class field


@dataclass
class ClassCount:
    value: object
    features: int = 0
    pixels: float = 0.0

    @property
    def label(self) -> str:
        return str(self.value)


@dataclass
class ClassSummary:
    classes: list[ClassCount]
    truncated: bool = False
    overlaps: bool | None = None   # None: not known (no raster, or no transform)
    reprojected: bool = False

    def warnings(self) -> list[str]:
        return summary_warnings(self)


def _pixel_area(raster: QgsRasterLayer | None) -> float:
    if raster is None or not raster.isValid():
        return 0.0
    return abs(raster.rasterUnitsPerPixelX() * raster.rasterUnitsPerPixelY())


def class_summary(layer: QgsVectorLayer | None, field: str, raster: QgsRasterLayer | None = None,
                  max_features: int = MAX_FEATURES) -> ClassSummary:
    """Features and approximate raster pixels per class value (polygon area / pixel area; a point is one)."""
    if layer is None or not layer.isValid() or not field or layer.fields().lookupField(field) < 0:
        return ClassSummary([])
    transform = None
    reprojected = False
    if raster is not None and raster.isValid() and layer.crs() != raster.crs():
        transform = QgsCoordinateTransform(layer.crs(), raster.crs(), QgsProject.instance())
        reprojected = True
    pixel_area = _pixel_area(raster)
    is_point = layer.geometryType() == QgsWkbTypes.PointGeometry
    counts: dict[str, ClassCount] = {}
    request = QgsFeatureRequest().setSubsetOfAttributes([field], layer.fields()).setLimit(max_features + 1)
    read = 0
    extent = None
    for feature in layer.getFeatures(request):
        read += 1
        if read > max_features:
            break
        value = feature[field]
        if value is None or (hasattr(value, "isNull") and value.isNull()) or str(value).strip() == "":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        count = counts.setdefault(str(value), ClassCount(value))
        count.features += 1
        geometry = feature.geometry()
        if geometry is None or geometry.isEmpty():
            continue
        if transform is not None:
            try:
                geometry.transform(transform)
            except Exception:  # a feature outside the transform's domain
                continue
        if is_point:
            count.pixels += max(1, geometry.constGet().partCount()) if geometry.isMultipart() else 1
        elif pixel_area > 0:
            count.pixels += geometry.area() / pixel_area
        box = geometry.boundingBox()
        if extent is None:
            extent = box
        else:
            extent.combineExtentWith(box)
    overlaps = None
    if raster is not None and raster.isValid() and extent is not None:
        overlaps = raster.extent().intersects(extent)
    classes = sorted(counts.values(), key=lambda c: (not isinstance(c.value, (int, float)), c.value
                                                    if isinstance(c.value, (int, float)) else c.label))
    return ClassSummary(classes, truncated=read > max_features, overlaps=overlaps, reprojected=reprojected)


def summary_warnings(summary: ClassSummary, min_features: int = MIN_FEATURES,
                     min_pixels: int = MIN_PIXELS) -> list[str]:
    """Warnings for the user, most important first."""
    warnings = []
    if summary.overlaps is False:
        warnings.append(tr("The training layer does not overlap the raster (after reprojection): "
                           "no training pixels would be found."))
    if len(summary.classes) > MAX_CLASSES:
        warnings.append(tr("{n} different values: is this really the class field?").format(n=len(summary.classes)))
    elif summary.classes and len(summary.classes) < 2:
        warnings.append(tr("Only one class: at least two are needed."))
    few = [c.label for c in summary.classes if c.features < min_features]
    if few:
        warnings.append(tr("Classes with fewer than {n} features (add polygons, or they cannot be validated): "
                           "{classes}").format(n=min_features, classes=", ".join(few)))
    small = [c.label for c in summary.classes if 0 < c.pixels < min_pixels
             or (c.pixels == 0 and summary.overlaps is not None)]
    if small:
        warnings.append(tr("Classes with fewer than about {n} pixels: {classes}").format(
            n=min_pixels, classes=", ".join(small)))
    return warnings
