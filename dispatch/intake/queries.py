"""Intake's hand-written SQL (through SQLAlchemy, `:name` parameters).

The case row is written once, with its first step's clock, by hand for two things the ORM's INSERT does not say:
the point built by PostGIS from its coordinates, and, with an Idempotency-Key, `ON CONFLICT DO NOTHING` (no row
back: the key was seen before, and the caller reads that case). The row comes back whole (`RETURNING *`) and is
loaded as the session's `Case` (`select(Case).from_statement(...)`), as if queried.
"""

from __future__ import annotations

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB

# The columns intake writes; the rest take their defaults. Every value is a parameter.
COLUMNS = (
    "code", "source", "reporter_id", "reporter_contact", "idempotency_key", "idempotency_fingerprint", "category_id",
    "category_code", "urgency", "description", "address", "cell_code", "community_code", "street_code",
    "district_code", "status", "suspected_duplicate", "component_id", "component_source",
    "suggested_department_code", "reported_at", "updated_at", "step_started_at", "due_at", "warn_at", "light",
)  # fmt: skip

_TEMPLATE = f"""
INSERT INTO cases ({", ".join(COLUMNS)}, point)
VALUES ({", ".join(f":{c}" for c in COLUMNS)}, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
{{on_conflict}}
RETURNING *
"""  # noqa: S608 (the model's own column names)

INSERT_CASE = text(_TEMPLATE.format(on_conflict="")).bindparams(bindparam("reporter_contact", type_=JSONB))
INSERT_CASE_ONCE = text(
    _TEMPLATE.format(on_conflict="ON CONFLICT ON CONSTRAINT uq_cases_reporter_idempotency_key DO NOTHING")
).bindparams(bindparam("reporter_contact", type_=JSONB))
