"""GeoReport v2's two formats: the same content as JSON and as XML, UTF-8, and its error list.

Every response body is built once as plain data (lists of flat dicts, a few nested lists) and written in the format
the URL's extension asks for. XML names the list items as the specification does (`services` → `service`, ...).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from flask import Response

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

# Containers and the name of their items in XML.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def w3c(moment: datetime | None, zone: Any) -> str | None:
    """A W3C datetime in the city's zone, with its offset (2026-11-23T09:30:00+08:00)."""
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else None


# Characters XML 1.0 cannot hold at all (control characters but tab, line feed and carriage return; surrogates;
# U+FFFE and U+FFFF): written as U+FFFD, so that one description pasted from a word processor (\x0b, \x0c) cannot make
# a whole feed unparseable. The stored text is unchanged; JSON carries it as it is.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _element(tag: str, value: Any) -> ET.Element:
    node = ET.Element(tag)
    if isinstance(value, dict):
        for key, child in value.items():
            node.append(_element(key, child))
    elif isinstance(value, list):
        item = ITEMS[tag]
        for child in value:
            node.append(_element(item, child))
    else:
        node.text = _text(value)
    return node


def to_xml(root: str, value: Any) -> bytes:
    return ET.tostring(_element(root, value), encoding="utf-8", xml_declaration=True)


def respond(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    """`value` as JSON, or as XML under `root` (a list's items named by ITEMS)."""
    if fmt == "xml":
        return Response(to_xml(root, value), status=status, content_type=XML_TYPE)
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status=status, content_type=JSON_TYPE)


def error_response(fmt: str, status: int, description: str, headers: dict[str, str] | None = None) -> Response:
    response = respond(fmt, "errors", [{"code": status, "description": description}], status)
    response.headers.update(headers or {})
    return response
