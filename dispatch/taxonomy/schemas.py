"""Request and response schemas of the categories API."""

from __future__ import annotations

import marshmallow as ma

from dispatch.taxonomy.operations import FAMILIES


class CategoryQuery(ma.Schema):
    q = ma.fields.String(
        validate=ma.validate.Length(min=1, max=40),
        metadata={"description": "Code prefix (E05, C0102) or part of the zh/en name or a keyword"},
    )
    family = ma.fields.String(validate=ma.validate.OneOf(FAMILIES))
    version = ma.fields.String(metadata={"description": "Taxonomy version (default: the current one)"})


class TimeLimitSchema(ma.Schema):
    urgency = ma.fields.String()
    amount = ma.fields.Float()
    type = ma.fields.String(metadata={"description": "urgent_hours, working_hours, working_days or natural_days"})


class CategorySchema(ma.Schema):
    code = ma.fields.String()
    version_code = ma.fields.String(data_key="version")
    family = ma.fields.String()
    level = ma.fields.String()
    parent_code = ma.fields.String(data_key="parent", allow_none=True)
    name = ma.fields.String()
    name_en = ma.fields.String()
    filing_criteria = ma.fields.String(allow_none=True)
    closing_criteria = ma.fields.String(allow_none=True)
    time_limits = ma.fields.List(ma.fields.Nested(TimeLimitSchema))
    keywords = ma.fields.List(ma.fields.String())
