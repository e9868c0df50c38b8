import json
import os
import re

import numpy as np
import pytest

from contrastdm.errors import OutputError
from contrastdm.io.writer import ClassInfo
from contrastdm.metrics import classification_metrics
from contrastdm.report import write_report

CLASSES = [
    ClassInfo(1, "<script>alert('x')</script>", "#ff0000"),
    ClassInfo(2, "Wheat & oats", "#00aa00"),
    ClassInfo(4, "Cost $5 \"grass\"", "#0000ff"),
]


def _metrics():
    y_true = np.array([1, 1, 1, 1, 2, 2, 2, 4, 4, 4])
    y_pred = np.array([1, 1, 2, 0, 2, 2, 1, 4, 4, 2])
    return classification_metrics(y_true, y_pred, [c.id for c in CLASSES], [c.name for c in CLASSES])


def test_full_report(tmp_path):
    preview = np.zeros((30, 40), dtype=np.uint8)
    preview[:, 10:20], preview[:, 20:30], preview[5:, 30:] = 1, 2, 4
    html_path, json_path = write_report(
        tmp_path / "report.html", title="Run <1>", metrics=_metrics(),
        history={"contrastive": [2.0, 1.5, 1.2], "diffusion": [0.9, float("nan"), 0.5], "finetune": [1.0, 0.4]},
        config={"preset": "fast", "patch_size": 11, "raster": "/data/a&b.tif"}, map_preview=preview,
        classes=CLASSES, extra={"training_seconds": 12.5, "note": "<b>bold</b>"},
    )
    assert sorted(os.listdir(tmp_path)) == ["report.html", "report.json"]
    assert json_path == str(tmp_path / "report.json") and html_path == str(tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Wheat &amp; oats" in page and "Cost $5 &quot;grass&quot;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "Run &lt;1&gt;" in page and "/data/a&amp;b.tif" in page
    assert "60.00 %" in page and "61.11 %" in page and "0.4286" in page
    assert page.count("data:image/png;base64,") == 3  # confusion matrix, map preview, training curves
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from outside

    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["metrics"]["overall_accuracy"] == pytest.approx(60.0)
    assert data["metrics"]["confusion_matrix"] == [[2, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert data["history"]["diffusion"] == [0.9, None, 0.5]
    assert data["classes"][0] == {"id": 1, "name": "<script>alert('x')</script>", "color": "#ff0000"}
    assert data["config"]["patch_size"] == 11 and data["extra"]["training_seconds"] == 12.5
    assert "python" in data["environment"]


def test_minimal_report_and_replacement(tmp_path):
    (tmp_path / "r.html").write_text("old")
    write_report(tmp_path / "r.html", title="Training", metrics=None, history=None, config={},
                 map_preview=None, classes=CLASSES)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h1>Training</h1>" in page and "data:image/png" not in page
    assert json.loads((tmp_path / "r.json").read_text())["metrics"] is None
    assert sorted(os.listdir(tmp_path)) == ["r.html", "r.json"]


def test_unwritable_report_leaves_nothing(tmp_path):
    with pytest.raises(OutputError):
        write_report(tmp_path / "missing" / "r.html", title="x", metrics=None, history=None, config={},
                     map_preview=None, classes=[])
    with pytest.raises(OutputError):  # the JSON would overwrite the input
        write_report(tmp_path / "in.html", title="x", metrics=None, history=None, config={},
                     map_preview=None, classes=[], inputs=[tmp_path / "in.json"])
    assert os.listdir(tmp_path) == []
