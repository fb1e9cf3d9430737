"""Reading a departments file (CSV or YAML) into rows, each with the line it starts on, so that every problem can be
named by line and field. Nothing here checks the values: `operations.check_rows` does.

CSV: a header row, then one department a row; columns `code`, `name`, `name_en`, `kind`, `district`, `street`,
`parent`, `phone`, `channels` (only `code`, `name` and `kind` must be there). `channels` holds the department's
notification channels separated by `;`, each `email:ADDRESS` or `webhook:URL SECRET`.

YAML: a list of mappings with the same keys (or a mapping with a `departments` list); `channels` is a list, each
`{email: ADDRESS}` or `{webhook: URL, secret: SECRET}`, optionally with `events: [new_work, sla_warn, ...]`, or the
CSV's `kind:target` text.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from citymgmt.core.csvfiles import checked_reader
from citymgmt.core.errors import ValidationError

COLUMNS = ("code", "name", "name_en", "kind", "district", "street", "parent", "phone", "channels")
REQUIRED_COLUMNS = ("code", "name", "kind")
FORMATS = ("csv", "yaml")
MAX_ROWS = 20_000

Row = tuple[int, dict[str, Any]]  # (line the row starts on, its values)


def detect_format(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise ValidationError(
        f"cannot tell the format of {path.name}: name it .csv, .yaml or .yml, or give --format",
        details={"file": "unknown format"},
    )


def read_rows(text: str, fmt: str) -> list[Row]:
    """The file's rows with their line numbers, or ValidationError about the file as a whole."""
    rows = _csv_rows(text) if fmt == "csv" else _yaml_rows(text)
    if not rows:
        raise ValidationError("the file holds no departments", details={"file": "empty"})
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} departments a file", details={"file": f"{len(rows)} rows"})
    return rows


def _csv_rows(text: str) -> list[Row]:
    reader = checked_reader(text, REQUIRED_COLUMNS, COLUMNS, "departments")
    rows: list[Row] = []
    try:
        for record in reader:
            extra = record.pop(None, None)
            values = {k: (v or "").strip() for k, v in record.items() if v is not None}
            if extra:
                values["_extra"] = extra
            if any(values.values()):
                rows.append((reader.line_num, values))  # the line the row ends on: its line, unless quoted over lines
    except csv.Error as exc:
        raise ValidationError(f"not valid CSV at line {reader.line_num}: {exc}", details={"file": "CSV"}) from None
    return rows


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line each mapping starts on."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["_line"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _yaml_rows(text: str) -> list[Row]:
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader that only adds line numbers)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"not valid YAML{where}", details={"file": "YAML syntax"}) from None
    if isinstance(document, dict) and "departments" in document:
        document = document["departments"]
    if document is None:
        return []
    if not isinstance(document, list):
        raise ValidationError("expected a list of departments (or a 'departments' list)", details={"file": "no list"})
    rows: list[Row] = []
    for item in document:
        if not isinstance(item, dict):
            raise ValidationError("every department is a mapping of code, name, kind, ...", details={"file": "list"})
        line = int(item.pop("_line"))
        channels = item.get("channels")
        if isinstance(channels, list):
            item["channels"] = [_without_line(c) for c in channels]
        rows.append((line, item))
    return rows


def _without_line(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_line(v) for k, v in value.items() if k != "_line"}
    return value
