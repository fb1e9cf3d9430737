"""Open311 test helpers: a client key, the published GeoReport v2 shapes, and XML read back as data."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Flask

SCHEMAS = Path(__file__).parent / "schemas"
# The specification's containers whose children are list items (services → service, ...).
LISTS = {"services", "service_requests", "service_request_updates", "errors", "attributes", "values", "endpoints",
         "formats"}  # fmt: skip
FORBIDDEN_CITY = {"lat": "39.9158", "long": "116.3906"}
PERSONAL = {"email": "zhang.san@example.org", "first_name": "三", "last_name": "张", "phone": "13800138000"}


def check_shape(name: str, data: Any) -> None:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(data)


def xml_data(body: bytes) -> tuple[str, Any]:
    """The XML document as (root tag, data): lists for the specification's containers, dicts, text leaves."""
    root = ET.fromstring(body)  # noqa: S314 - our own server's output; raises on XML that is not well-formed

    def read(node: ET.Element) -> Any:
        if node.tag in LISTS:
            return [read(child) for child in node]
        if len(node):
            return {child.tag: read(child) for child in node}
        return node.text or ""

    return root.tag, read(root)


def as_text(value: Any) -> Any:
    """JSON data written as XML writes it: every scalar a string, null empty, booleans true/false."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def same_in_both(client: Any, path: str, root: str, shape: str, **kwargs: Any) -> Any:
    """GET path as .json and .xml: JSON of the published shape, XML well-formed with the same content."""
    as_json = client.get(f"{path}.json", **kwargs)
    as_xml = client.get(f"{path}.xml", **kwargs)
    assert as_json.status_code == as_xml.status_code
    assert as_json.headers["Content-Type"] == "application/json; charset=utf-8"
    assert as_xml.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert as_xml.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    data = json.loads(as_json.data.decode("utf-8"))
    check_shape(shape, data)
    tag, from_xml = xml_data(as_xml.data)
    assert tag == root
    assert from_xml == as_text(data)
    return data


@pytest.fixture
def open311_key(db_session, clock) -> str:  # type: ignore[no-untyped-def]
    from citymgmt.open311.keys import create_key

    secret, _ = create_key(db_session, "t-client", clock.now())
    db_session.commit()  # set-up is committed data: a refused request's rollback must not take it
    return secret


@pytest.fixture
def configure(app: Flask) -> Iterator[Callable[..., None]]:
    """Change settings for one test."""
    original = app.extensions["citymgmt.settings"]

    def change(**values: Any) -> None:
        app.extensions["citymgmt.settings"] = dataclasses.replace(original, **values)

    yield change
    app.extensions["citymgmt.settings"] = original
