"""docs/errors.md and the tests stay in step: every row names a test that exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_row_of_the_error_table_names_an_existing_test():
    rows = [line for line in (ROOT / "docs" / "errors.md").read_text().splitlines()
            if line.startswith("| ") and "::" in line]
    assert len(rows) >= 35
    missing = []
    for row in rows:
        reference = row.rstrip(" |").rsplit("|", 1)[-1].strip()
        path, name = reference.split("::")
        source = (ROOT / path).read_text() if (ROOT / path).exists() else ""
        if not re.search(rf"^def {re.escape(name)}\(", source, re.M):
            missing.append(reference)
    assert missing == []


def test_cancellation_has_one_message():
    from contrastdm.errors import CANCELLED_MESSAGE, Cancelled
    from contrastdm.feedback import RecordingFeedback, check_cancelled

    feedback = RecordingFeedback()
    feedback.cancel()
    with pytest.raises(Cancelled) as raised:
        check_cancelled(feedback)
    assert str(raised.value) == CANCELLED_MESSAGE and raised.value.exit_code == 130
    assert CANCELLED_MESSAGE in (ROOT / "docs" / "errors.md").read_text()
