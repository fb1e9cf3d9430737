"""Fields for JSON bodies that take JSON's types as they are: true is not "yes", and true is not the number 1."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true or false (marshmallow's Boolean also reads "yes", "on", 1 ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ma.ValidationError("must be true or false")
        return value


class _NotBoolean:
    """A number field that refuses JSON true and false (Python reads them as 1 and 0)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise ma.ValidationError("must be a number")
        return super()._deserialize(value, attr, data, **kwargs)  # type: ignore[misc]


class StrictFloat(_NotBoolean, ma.fields.Float):
    """A JSON number, or a numeral in a form field; never a boolean."""


class StrictInteger(_NotBoolean, ma.fields.Integer):
    """A JSON integer, or a numeral in a form field; never a boolean."""
