"""Answers sent as files to save (CSV for spreadsheets, GeoJSON for GIS): the metrics' and the analyses' downloads."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response

GEOJSON = "application/geo+json"


def download(body: str, mimetype: str, filename: str) -> Response:
    """`body` as an attachment named `filename`."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """The rows' `columns` (others left out) as CSV, with a header line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return "\ufeff" + out.getvalue()  # the BOM makes spreadsheet programs read the Chinese names as UTF-8
