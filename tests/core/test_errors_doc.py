"""docs/errors.md and the tests stay in step: every row names a test that exists."""

import re
from pathlib import Path

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
