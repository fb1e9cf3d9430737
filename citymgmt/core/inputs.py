"""What no request may carry, refused before any view or query sees it (400, naming where): text PostgreSQL cannot
store (a NUL character, a lone UTF-16 surrogate), JSON nested deeper than any document of ours, path integers
beyond the database's (a bigint), and form parts without a name. Without this each of them became a 500 somewhere
downstream."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from citymgmt.core.errors import DomainError

MAX_JSON_DEPTH = 32  # the deepest document of ours (a routing rule's conditions) is a few levels
BIGINT_MAX = 2**63 - 1
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


class BadInput(DomainError):
    code = "bad_request"


class BoundedIntegerConverter(IntegerConverter):
    """`<int:...>` in every route: a number past the database's bigint is no such thing (404), not a query error."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", BIGINT_MAX)
        super().__init__(map, *args, **kwargs)


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _unstorable(value: Any, where: str) -> str | None:
    """The place of the first string (key or value) PostgreSQL could not store, or None."""
    if isinstance(value, str):
        return where if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return place
            found = _unstorable(item, place)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _unstorable(item, f"{where}[{i}]")
            if found:
                return found
    return None


def check_request_input() -> None:
    if _UNSTORABLE.search(request.headers.get("Authorization", "")):
        raise BadInput("the Authorization header holds a character that cannot be stored", details={"header": "NUL"})
    # Werkzeug parses only these two into request.form and request.files: for another body both are empty.
    form = request.mimetype in FORM_TYPES
    if form and (None in request.form or None in request.files):  # a part whose Content-Disposition name is unread
        raise BadInput(
            "every part of a multipart form needs a name (Content-Disposition: form-data; name=...)",
            details={"form": "a part without a name"},
        )
    for source, values in (("query", request.args), ("form", request.form if form else None)):
        if not values:
            continue
        for name, value in values.items(multi=True):
            if _UNSTORABLE.search(value):  # (names are never stored: an unknown one is refused or left aside)
                raise BadInput(
                    "a NUL character or a lone surrogate cannot be stored: remove it",
                    details={source: {name[:100]: "unstorable character"}},
                )
    if request.is_json:
        body = request.get_data(cache=True)
        if json_depth(body) > MAX_JSON_DEPTH:
            raise BadInput(
                f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", details={"json": "nested too deep"}
            )
        data = request.get_json(silent=True)
        place = _unstorable(data, "")
        if place is not None:
            raise BadInput(
                "a NUL character or a lone surrogate cannot be stored: remove it",
                details={"json": {place[:100] or "(body)": "unstorable character"}},
            )


def install_input_checks(app: Flask) -> None:
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.before_request(check_request_input)
