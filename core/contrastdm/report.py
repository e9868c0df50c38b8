"""A self-contained HTML report (plus the same numbers as JSON) for a training or evaluation run.

The HTML page needs nothing outside itself: figures are PNGs drawn with matplotlib's Agg canvas (the
object-oriented API, no pyplot, so it is safe in worker threads and never changes a host application's
backend) and embedded as base64. Every user-supplied string is HTML-escaped. ``report.html`` and
``report.json`` are written together through :func:`~contrastdm.io.atomic.atomic_outputs`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
import platform
import sys
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from .io.atomic import atomic_outputs
from .io.styles import color_to_hex
from .io.writer import ClassInfo
from .version import __version__

PREVIEW_MAX_PIXELS = 900  # longest side of the map preview, in pixels of the map
_MAX_ANNOTATED_CLASSES = 20
UNCLASSIFIED_RGBA = (0.93, 0.93, 0.93, 1.0)  # map preview colour of value 0 and unknown values


def json_safe(value: Any) -> Any:
    """Plain JSON types; NaN/inf become ``None``; numpy scalars/arrays become Python numbers/lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, ClassInfo):
        return value.to_dict()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def environment() -> dict:
    """Versions of the pieces that shape results (no heavy imports: versions come from metadata)."""
    env = {"contrastdm": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        metadata = None
    for package in ("numpy", "torch", "rasterio", "matplotlib"):
        module = sys.modules.get(package)
        version = getattr(module, "__version__", None) if module is not None else None
        if version is None and metadata is not None:
            try:
                version = metadata.version(package)
            except Exception:
                version = None
        if version is not None:
            env[package] = str(version)
    try:
        from osgeo import gdal

        env["gdal"] = gdal.__version__
    except Exception:
        pass
    return env


# -- figures ------------------------------------------------------------------------------------------
def _mpl_text(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in class names as mathtext."""
    return str(text).replace("$", r"\$")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _confusion_png(cm: np.ndarray, names: Sequence[str]) -> str:
    k = len(names)
    size = min(max(4.0, 0.45 * k + 2.5), 14.0)
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    rows = cm.sum(axis=1, keepdims=True).astype(float)
    normalised = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    labels = [_mpl_text(n) for n in names]
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Reference")
    if k <= _MAX_ANNOTATED_CLASSES:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if normalised[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of reference class")
    return _png(fig)


def _preview_png(class_map: np.ndarray, classes: Sequence[ClassInfo]) -> str:
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    data = np.asarray(class_map)
    step = max(1, int(math.ceil(max(data.shape) / PREVIEW_MAX_PIXELS)))
    data = data[::step, ::step]
    max_id = max([c.id for c in classes] + [int(data.max()) if data.size else 0])
    rgba = np.zeros((max_id + 1, 4))
    rgba[:] = UNCLASSIFIED_RGBA
    for c in classes:
        rgba[c.id, :3] = np.asarray(c.color) / 255.0
        rgba[c.id, 3] = 1.0
    height, width = data.shape
    scale = 7.0 / max(height, width)
    fig = _figure(max(width * scale, 2.0) + 2.6, max(height * scale, 2.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(np.clip(data, 0, max_id), cmap=ListedColormap(rgba), vmin=-0.5, vmax=max_id + 0.5,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    present = set(np.unique(data).tolist())
    handles = [Patch(facecolor=color_to_hex(c.color), edgecolor="#555555", label=_mpl_text(f"{c.id} {c.name}"))
               for c in classes if c.id in present]
    known = {c.id for c in classes}
    if present - known:
        handles.append(Patch(facecolor=UNCLASSIFIED_RGBA, edgecolor="#555555", label="unclassified / no data"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def _history_png(history: dict) -> Optional[str]:
    stages = [(name, [v for v in values if v is not None]) for name, values in history.items()]
    stages = [(name, values) for name, values in stages if values]
    if not stages:
        return None
    from matplotlib.ticker import MaxNLocator

    n = len(stages)
    columns = min(n, 4)
    rows = -(-n // columns)
    fig = _figure(3.6 * columns, 2.8 * rows)
    for i, (name, values) in enumerate(stages, start=1):
        ax = fig.add_subplot(rows, columns, i)
        ax.plot(range(1, len(values) + 1), values, color="#1f77b4", linewidth=1.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(_mpl_text(name), fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        if i % columns == 1 or columns == 1:
            ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _spectra_png(spectra: dict, classes: Sequence[ClassInfo]) -> Optional[str]:
    """Class mean spectra over every band of the raster, the dropped bands shaded."""
    means = {k: v for k, v in (spectra.get("means") or {}).items() if v}
    x = np.asarray(spectra.get("x") or [], dtype=np.float64)
    if not means or x.size == 0:
        return None
    colors = {c.name: color_to_hex(c.color) for c in classes}
    fig = _figure(9.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    step = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    for index in spectra.get("dropped") or []:
        ax.axvspan(x[index] - step / 2, x[index] + step / 2, color="#bbbbbb", alpha=0.5, linewidth=0)
    for name, values in means.items():
        y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if y.size == x.size:
            ax.plot(x, y, linewidth=1.2, color=colors.get(name), label=_mpl_text(name))
    ax.set_xlabel("wavelength (nm)" if spectra.get("unit") == "nm" else "band", fontsize=8)
    ax.set_ylabel("mean value", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    if len(means) <= _MAX_ANNOTATED_CLASSES:
        ax.legend(fontsize=6, ncol=2, loc="best")
    fig.tight_layout()
    return _png(fig)


def _bands_section(spectra: dict, classes) -> list[str]:
    dropped = spectra.get("dropped") or []
    x, unit = spectra.get("x") or [], spectra.get("unit")
    parts = [f"<h2>Bands</h2><p>{len(x) - len(dropped)} of {len(x)} bands used; {len(dropped)} dropped "
             "(shaded below).</p>"]
    png = _spectra_png(spectra, classes)
    if png:
        parts.append(_img(png, "class mean spectra with the dropped bands shaded"))
    if dropped:
        reasons = spectra.get("reasons") or {}
        rows = "".join(f"<tr><td class=\"n\">{i + 1}</td><td class=\"n\">"
                       f"{_num(x[i], 1) if unit == 'nm' else '&ndash;'}</td><td>{_e(reasons.get(str(i), ''))}</td></tr>"
                       for i in dropped)
        parts.append("<table><tr><th>Band</th><th>Wavelength (nm)</th><th>Why dropped</th></tr>" + rows + "</table>")
    return parts


# -- HTML -----------------------------------------------------------------------------------------------
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;margin:2em auto;
max-width:1100px;padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.8em}.meta{color:#666;font-size:.9em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1.2em;
min-width:9em}.card .v{font-size:1.6em;font-weight:600}.card .k{color:#666;font-size:.85em}
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:1em;height:1em;border:1px solid #888;vertical-align:middle}
img{max-width:100%;height:auto}code{font-size:.9em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _kv_table(items: Iterable[tuple[Any, Any]]) -> str:
    rows = []
    for key, value in items:
        text = value if isinstance(value, str) else json.dumps(json_safe(value), ensure_ascii=False)
        rows.append(f"<tr><th>{_e(key)}</th><td><code>{_e(text)}</code></td></tr>")
    return "<table>" + "".join(rows) + "</table>" if rows else "<p>&ndash;</p>"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{b64}">'


def _held_out_section(choice: dict) -> list[str]:
    """Held-out OA of every smoothing radius (rows) and member weight (columns); the kept one in bold."""
    radii = sorted({c["radius"] for c in choice["candidates"]})
    weights = sorted({c["weight"] for c in choice["candidates"]})
    oa = {(c["radius"], c["weight"]): c["oa"] for c in choice["candidates"]}
    verdict = "chosen" if choice["changed"] else "kept (no candidate was clearly better than the configured one)"
    parts = ["<h2>Settings chosen on held-out polygons</h2>",
             f"<p class=\"meta\">Overall accuracy on {_e(choice['held_out_pixels'])} pixels of polygons held out "
             f"of training. Smoothing radius {_e(choice['radius'])}, spectral member weight {_e(choice['weight'])}: "
             f"{_e(verdict)}.</p>",
             "<table><tr><th>radius \\ weight</th>" + "".join(f"<th>{_e(w)}</th>" for w in weights) + "</tr>"]
    for r in radii:
        cells = []
        for w in weights:
            text = _num(oa.get((r, w)), 3)
            cells.append(f"<td class=\"n\"><b>{text}</b></td>" if (r, w) == (choice["radius"], choice["weight"])
                         else f"<td class=\"n\">{text}</td>")
        parts.append(f"<tr><th>{_e(r)}</th>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return parts


def _scale_section(choice: dict) -> list[str]:
    """The smoothing radius from the scene's spatial scale: each radius's share of smoothing on alike pixels."""
    from .scene_scale import describe

    rows = "".join(f"<tr><th>{r}</th><td class=\"n\">{_num(value, 2)}</td></tr>"
                   for r, value in enumerate(choice["correlation"], start=1))
    return ["<h2>Smoothing radius from the scene</h2>", f"<p class=\"meta\">{_e(describe(choice))}.</p>",
            "<table><tr><th>radius</th><th>share on alike pixels</th></tr>" + rows + "</table>"]


def _patch_section(choice: dict) -> list[str]:
    """The patch size chosen on held-out polygons: each candidate's held-out OA and probe time."""
    if choice.get("skipped"):
        return ["<h2>Patch size</h2>", f"<p class=\"meta\">{_e(choice['patch_size'])} px, as set: the choice was "
                f"not made ({_e(choice['skipped'])}).</p>"]
    verdict = "chosen" if choice["changed"] else "kept (no candidate was clearly better than the configured size)"
    rows = []
    for c in choice["candidates"]:
        oa = _num(c["oa"], 3)
        oa = f"<b>{oa}</b>" if c["patch_size"] == choice["patch_size"] else oa
        rows.append(f"<tr><th>{_e(c['patch_size'])} x {_e(c['patch_size'])}</th><td class=\"n\">{oa}</td>"
                    f"<td class=\"n\">{_num(c['seconds'], 1)}</td></tr>")
    return ["<h2>Patch size chosen on held-out polygons</h2>",
            f"<p class=\"meta\">Overall accuracy of {_e(choice['probe_epochs'])}-epoch supervised probes on "
            f"{_e(choice['held_out_pixels'])} pixels of polygons held out of them ({_e(choice.get('splits', 1))} "
            f"grouped splits). Patch {_e(choice['patch_size'])} px: "
            f"{_e(verdict)}.</p>",
            "<table><tr><th>patch</th><th>held-out OA</th><th>probe seconds</th></tr>" + "".join(rows) + "</table>"]


def _render(title, metrics, history, config, map_preview, classes, extra, env, created, spectra=None) -> str:
    colors = {c.id: c.color for c in classes}
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">ContrastDM {_e(__version__)} &middot; {_e(created)}</p>',
    ]
    if metrics:
        parts.append("<h2>Summary</h2><div class=\"cards\">")
        for key, label, digits, suffix in (
            ("overall_accuracy", "Overall accuracy", 2, " %"), ("average_accuracy", "Average accuracy", 2, " %"),
            ("kappa", "Cohen's kappa", 4, ""), ("n_samples", "Reference pixels", 0, ""),
        ):
            value = metrics.get(key)
            shown = _num(value, digits) + (suffix if value is not None else "")
            parts.append(f'<div class="card"><div class="v" id="{_e(key)}">{shown}</div>'
                         f'<div class="k">{_e(label)}</div></div>')
        parts.append("</div>")
        if metrics.get("n_unclassified"):
            parts.append(f"<p>{_num(metrics['n_unclassified'])} reference pixels were left unclassified "
                         "and count as errors.</p>")
        per_class = metrics.get("per_class") or []
        if per_class:
            parts.append("<h2>Per-class accuracy</h2><table><tr><th></th><th>Id</th><th>Class</th>"
                         "<th>Support</th><th>Precision %</th><th>Recall %</th><th>F1 %</th></tr>")
            for row in per_class:
                color = colors.get(row.get("id"))
                swatch = (f'<span class="sw" style="background:{color_to_hex(color)}"></span>'
                          if color is not None else "")
                parts.append(
                    f"<tr><td>{swatch}</td><td class=\"n\">{_e(row.get('id'))}</td><td>{_e(row.get('name'))}</td>"
                    f"<td class=\"n\">{_num(row.get('support'))}</td><td class=\"n\">{_num(row.get('precision'))}</td>"
                    f"<td class=\"n\">{_num(row.get('recall'))}</td><td class=\"n\">{_num(row.get('f1'))}</td></tr>"
                )
            parts.append("</table>")
        cm = metrics.get("confusion_matrix")
        names = metrics.get("class_names") or [row.get("name", "") for row in per_class]
        if cm and len(cm) == len(names):
            parts.append("<h2>Confusion matrix</h2><p class=\"meta\">Rows: reference; columns: prediction; "
                         "colour: share of the reference class.</p>")
            parts.append(_img(_confusion_png(np.asarray(cm, dtype=np.int64), names), "confusion matrix"))
    if map_preview is not None and np.asarray(map_preview).size:
        parts.append("<h2>Classification map</h2>")
        parts.append(_img(_preview_png(np.asarray(map_preview), classes), "classification map preview"))
    if classes and not (metrics and metrics.get("per_class")):  # else the per-class table lists them
        parts.append("<h2>Classes</h2><table><tr><th></th><th>Id</th><th>Class</th><th>Colour</th></tr>")
        for c in classes:
            hexcolor = color_to_hex(c.color)
            parts.append(f'<tr><td><span class="sw" style="background:{hexcolor}"></span></td>'
                         f'<td class="n">{c.id}</td><td>{_e(c.name)}</td><td><code>{hexcolor}</code></td></tr>')
        parts.append("</table>")
    if spectra:
        parts.extend(_bands_section(spectra, classes))
    if history:
        png = _history_png(history)
        if png:
            parts.append("<h2>Training curves</h2>")
            parts.append(_img(png, "training loss per stage"))
    training = (extra or {}).get("training", {})
    if training.get("patch_choice"):
        parts.extend(_patch_section(training["patch_choice"]))
    if training.get("smoothing_scale"):
        parts.extend(_scale_section(training["smoothing_scale"]))
    if training.get("held_out_choice"):
        parts.extend(_held_out_section(training["held_out_choice"]))
    if extra:
        parts.append("<h2>Details</h2>" + _kv_table(extra.items()))
    parts.append("<h2>Configuration</h2>" + _kv_table((config or {}).items()))
    parts.append("<h2>Environment</h2>" + _kv_table(env.items()))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    html_path: str | os.PathLike,
    *,
    title: str,
    metrics: Optional[dict],
    history: Optional[dict[str, list[float]]],
    config: dict,
    map_preview: Optional[np.ndarray],
    classes: Sequence[ClassInfo],
    extra: Optional[dict] = None,
    inputs: Iterable[str | os.PathLike] = (),
    spectra: Optional[dict] = None,
) -> tuple[str, str]:
    """Write ``html_path`` and, next to it, the same numbers as ``<basename>.json``; both or neither.

    ``metrics`` is the dict from :func:`contrastdm.metrics.classification_metrics`; ``history`` maps a
    stage name to its loss per epoch; ``map_preview`` is a (h, w) array of class ids (0 = none), shown
    subsampled to at most :data:`PREVIEW_MAX_PIXELS` on its longest side; ``spectra`` (the model file's
    ``class_spectra``) adds the bands used and dropped with a plot of the class mean spectra. Returns
    (html, json) paths.
    """
    html_path = os.fspath(html_path)
    json_path = os.path.splitext(html_path)[0] + ".json"
    classes = list(classes or [])
    env = environment()
    created = _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    payload = json_safe({
        "title": title, "created": created, "contrastdm_version": __version__,
        "metrics": metrics, "history": history, "config": config or {},
        "classes": [c.to_dict() for c in classes], "extra": extra or {}, "environment": env,
        "spectra": spectra,
    })
    text = json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)
    with atomic_outputs(html_path, json_path, inputs=inputs) as (html_temp, json_temp):
        page = _render(title, metrics, history, config, map_preview, classes, extra, env, created, spectra)
        with open(html_temp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(page)
        with open(json_temp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text + "\n")
    return os.path.abspath(html_path), os.path.abspath(json_path)
