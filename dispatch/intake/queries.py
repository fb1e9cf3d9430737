"""Intake's hand-written SQL, on the raw driver (psycopg, `%(name)s` parameters): every report runs both
statements, and the driver pays here (docs/architecture.md, "Decisions kept": measured against the same work through
the ORM, three more round trips and about 2 ms more CPU a report).

Rows are read by column name (`dict_row`), never by position.
"""

from __future__ import annotations

from citymgmt.core.revisions import COLUMNS as REVISION_COLUMNS
from dispatch.cases.models import Case
from dispatch.taxonomy.operations import MINOR_COLUMNS, MINOR_FROM

# The first statement, one round trip: the next case number (case_number), the revisions of the rules' and the
# calendar's caches (their owner's named columns, citymgmt.core.revisions.COLUMNS) and the category with the current
# taxonomy's version (the taxonomy's named columns, MINOR_COLUMNS). Each owner reads its columns back by name.
PRELUDE_SQL = f"SELECT nextval('case_number_seq') AS case_number, {REVISION_COLUMNS}, {MINOR_COLUMNS} FROM {MINOR_FROM}"  # noqa: S608

# The case and its first two events (report, route) in one statement. The new row comes back whole (nothing is
# read again); without a row the Idempotency-Key or the work order was seen before.
CASE_COLUMNS = (
    "code", "source", "reporter_id", "reporter_contact", "idempotency_key", "idempotency_fingerprint", "category_id",
    "category_code", "urgency", "description", "address", "cell_code", "community_code", "street_code",
    "district_code", "status", "suspected_duplicate", "component_id", "component_source",
    "suggested_department_code", "reported_at", "updated_at", "step_started_at", "due_at", "warn_at", "light",
    "external_system", "external_id", "request_kind",
)  # fmt: skip
_RETURNED = ", ".join(c.name for c in Case.__table__.columns if c.name != "point")
# Built from the model's own column names; every value is a parameter.
_INSERT_TEMPLATE = f"""
    WITH c AS (
        INSERT INTO cases ({", ".join(CASE_COLUMNS)}, point)
        VALUES ({", ".join(f"%({c})s" for c in CASE_COLUMNS)}, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
        {{on_conflict}}
        RETURNING {_RETURNED}
    ), e AS (
        INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)
        SELECT c.id, v.action, v.actor_id, %(reported_at)s, v.from_status, 'reported', v.payload
        FROM c, (VALUES (1, 'report', %(reporter_id)s::int4, NULL::varchar, %(report_payload)s::jsonb),
                        (2, 'route', NULL::int4, 'reported', %(route_payload)s::jsonb))
                AS v(n, action, actor_id, from_status, payload)
        ORDER BY v.n
        RETURNING id
    )
    SELECT c.*, ARRAY(SELECT id FROM e ORDER BY id) AS event_ids FROM c
"""  # noqa: S608
INSERT_SQL = _INSERT_TEMPLATE.format(on_conflict="")
# With an Idempotency-Key: no row when it was seen before (the one unique index checked first, as before work orders).
INSERT_ONCE_SQL = _INSERT_TEMPLATE.format(
    on_conflict="ON CONFLICT ON CONSTRAINT uq_cases_reporter_idempotency_key DO NOTHING"
)
# With a work-order number (and perhaps a key): no row when either was seen before (the caller tells which).
INSERT_WORK_ORDER_SQL = _INSERT_TEMPLATE.format(on_conflict="ON CONFLICT DO NOTHING")
