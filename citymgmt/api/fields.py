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


class StrictFloat(ma.fields.Float):
    """A JSON number, or a numeral in a form field; never a boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool):
            raise ma.ValidationError("must be a number")
        result: float = super()._deserialize(value, attr, data, **kwargs)
        return result


class StrictInteger(ma.fields.Integer):
    """A JSON integer, or a numeral in a form field; never a boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ma.ValidationError("must be an integer")
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result
