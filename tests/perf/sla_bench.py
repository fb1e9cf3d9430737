"""The SLA sweep benchmark (issue 9 item 3), at any size: the smoke test runs it tiny, `make bench` over 1,000,000
open cases of which 1% change light at the sweep (half turn yellow, half red and are escalated).

Side by side in one run: dispatch.sla.sweep.sweep (set-based, on the partial indexes) against a case-by-case loop in
Python (read each open case, decide its light, update it and write its event when it changes). The loop is timed on a
sample of the open cases (every 1/sample-th, so the same 1% change among them) and extrapolated to all of them; it runs
in a transaction rolled back before the sweep, so both see the same cases.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import text

from citymgmt.core.db import db
from dispatch.sla.sweep import sweep
from dispatch.taxonomy.operations import load_taxonomy
from tests.perf.grids_bench import make_grid
from tests.perf.import_bench import FIXTURES
from tests.perf.recorder import Recorder

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

# Every case open (dispatched, with a light): g % 200 = 0 is past its deadline (→ red), g % 200 = 1 past its
# warning time (→ yellow), the rest green with both ahead.
CASES_SQL = """
INSERT INTO cases (id, code, source, category_id, category_code, urgency, description, point, cell_code,
                   community_code, street_code, district_code, department_code, status, reported_at, updated_at,
                   step_started_at, warn_at, due_at, light)
SELECT g, 'S' || g, 'inspector', cat.id, cat.code, 'normal', '', 'SRID=4326;POINT(116.39 39.91)'::geometry,
       cells.codes[g % cells.n + 1], cells.communities[g % cells.n + 1], left(cells.communities[g % cells.n + 1], 9),
       left(cells.communities[g % cells.n + 1], 6), 's-dept-' || (g % 12),
       'dispatched', :now - interval '1 day', :now - interval '1 day', :now - interval '1 day',
       CASE WHEN g % 200 < 2 THEN :now - interval '10 minutes' ELSE :now + interval '1 hour' END,
       CASE WHEN g % 200 = 0 THEN :now - interval '1 minute' ELSE :now + interval '2 hours' END,
       'green'
FROM generate_series(1, :n) g,
     (SELECT id, code FROM categories WHERE level = 'minor' ORDER BY id LIMIT 1) cat,
     (SELECT array_agg(code ORDER BY code) AS codes, array_agg(community_code ORDER BY code) AS communities,
             count(*) AS n FROM grid_cells) cells
"""

LOOP_READ = "SELECT light, warn_at, due_at, status FROM cases WHERE id = %s"
LOOP_UPDATE = "UPDATE cases SET light = %s WHERE id = %s"
LOOP_EVENT = (
    "INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload)"
    " VALUES (%s, %s, NULL, %s, %s, %s, '{}'::jsonb)"
)


@dataclass
class Figures:
    cases: int
    sweep_s: float
    loop_sample: int
    loop_sample_s: float
    changed: int
    generate_s: float

    @property
    def loop_s(self) -> float:
        """The loop's time extrapolated from its sample to all the open cases."""
        return self.loop_sample_s * self.cases / self.loop_sample


def _loop(app: Flask, every: int) -> tuple[int, float]:
    """The case-by-case baseline over every `every`-th case, rolled back."""
    with app.app_context():
        session = db.session()
        driver = session.connection().connection.driver_connection
        assert driver is not None
        ids = [r[0] for r in session.execute(text("SELECT id FROM cases WHERE light IS NOT NULL AND id % :e = 0"),
                                             {"e": every})]  # fmt: skip
        t0 = time.perf_counter()
        for case_id in ids:
            light, warn_at, due_at, status = driver.execute(LOOP_READ, (case_id,)).fetchone()  # type: ignore[misc]
            new = "red" if due_at <= NOW else "yellow" if warn_at <= NOW and light == "green" else light
            if new != light:
                driver.execute(LOOP_UPDATE, (new, case_id))
                driver.execute(LOOP_EVENT, (case_id, "overdue" if new == "red" else "warn", NOW, status, status))
        elapsed = time.perf_counter() - t0
        session.rollback()
        db.session.remove()
    return len(ids), elapsed


def run(app: Flask, cases: int, loop_sample: int) -> Figures:
    make_grid(app, "990001", 100)  # what the cases refer to: cells, a category, departments
    with app.app_context():
        session = db.session()
        load_taxonomy(session, FIXTURES / "taxonomy/cjt214-2007-demo.json")
        for n in range(12):
            session.execute(
                text("INSERT INTO departments (code, name, name_en, kind) VALUES (:c, :c, :c, 'other')"),
                {"c": f"s-dept-{n}"},
            )
        t0 = time.perf_counter()
        session.execute(text(CASES_SQL), {"n": cases, "now": NOW})
        session.commit()
        db.session.remove()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE cases"))
            connection.execute(text("VACUUM ANALYZE case_clocks"))
        generate_s = time.perf_counter() - t0
    # The sample: ids spaced 200·k + 1 apart would miss the changing ones, so any step coprime with 200 keeps 1%.
    every = max(1, cases // loop_sample)
    while every % 2 == 0 or every % 5 == 0:
        every += 1
    sampled, loop_s = _loop(app, every)
    settings = app.extensions["citymgmt.settings"]
    with app.app_context():
        session = db.session()
        t0 = time.perf_counter()
        result = sweep(session, NOW, settings.sla_escalate_overdue)
        session.commit()
        sweep_s = time.perf_counter() - t0
        changed = len(result.warned) + len(result.overdue)
        again = sweep(session, NOW, settings.sla_escalate_overdue)
        assert not again.warned and not again.overdue, "a second sweep at the same time changed lights"
        session.rollback()
        db.session.remove()
    assert changed == cases // 200 + (cases + 199) // 200  # g % 200 in (0, 1)
    return Figures(cases, sweep_s, sampled, loop_s, changed, generate_s)


def record(recorder: Recorder, f: Figures, label: str) -> None:
    recorder.add(
        f"sla_sweep_{label}_s",
        f.sweep_s,
        "s",
        baseline=f"case-by-case Python loop (timed on {f.loop_sample:,} cases, extrapolated)",
        baseline_value=f.loop_s,
        higher_is_better=False,
        target="≤ 0.5 s",
    )
    recorder.add(f"sla_sweep_{label}_changed", f.changed, "cases")
