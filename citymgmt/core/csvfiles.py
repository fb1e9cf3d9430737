"""A CSV file of rows read by a command (users, departments): its header checked before any row is read."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from citymgmt.core.errors import ValidationError


def checked_reader(text: str, required: Sequence[str], columns: Sequence[str], what: str) -> csv.DictReader[str]:
    """A reader of `text` (a byte-order mark dropped) whose header, stripped, has every required column and no
    column outside `columns`; otherwise a ValidationError naming the missing and the unknown ones."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    unknown = [h for h in header if h not in columns]
    if missing or unknown:
        details = {}
        if missing:
            details["columns"] = f"missing {', '.join(missing)}"
        if unknown:
            details["unknown columns"] = f"{', '.join(unknown)} (expected among {', '.join(columns)})"
        raise ValidationError(f"the CSV header is not a {what} header", details=details)
    reader.fieldnames = header
    return reader
