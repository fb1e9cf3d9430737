"""On randomised cases the four analyses give the same answers from the roll-up as from the cases, after a first
build and after the hourly job has brought it up to date with what changed (new cases, closings, cancellations,
merges), over every kind of scope: everywhere, a district, a street, a community, a family, a category."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from citymgmt.core.periodic import registered_periodic
from dispatch.analysis import rollups
from dispatch.analysis.anomalies import anomalies, day_scope
from dispatch.analysis.hotspots import adjacent_sums, hotspots
from dispatch.analysis.patterns import patterns
from dispatch.analysis.recurrence import recurrence
from dispatch.analysis.scope import Scope
from dispatch.metrics.operations import Period

pytestmark = pytest.mark.usefixtures("beijing")

START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
SPRING = Period(date(2025, 3, 1), date(2025, 4, 30))
BUILT = datetime(2025, 5, 20, 0, 0, tzinfo=UTC)  # the first build
LATER = BUILT + timedelta(days=1)  # the job's run after the changes
CATEGORIES = ("E0102", "E0103", "E0102", "C0102")

INSERT_SQL = """
INSERT INTO cases (code, source, category_id, category_code, urgency, point, cell_code, community_code, street_code,
                   district_code, component_id, status, reported_at, updated_at, closed_at, duplicate_of,
                   description)
SELECT :code, 'inspector', k.id, k.code, 'normal', ST_PointOnSurface(g.geom), g.code, g.community_code,
       a.parent_code, left(a.parent_code, 6), :component, :status, :at, :at, :closed_at, :duplicate_of, ''
FROM categories k, grid_cells g JOIN areas a ON a.code = g.community_code
WHERE k.code = :category AND g.code = :cell
ORDER BY k.version_code DESC LIMIT 1
RETURNING id
"""
EVENT_SQL = """
INSERT INTO case_events (case_id, action, at, from_status, to_status, payload)
VALUES (:case_id, :action, :at, NULL, :status, '{}'::jsonb)
"""


def _cells(db_session) -> list[str]:  # type: ignore[no-untyped-def]
    """Forty neighbouring cells in each of two districts."""
    cells: list[str] = []
    for district in ("110101", "110102"):
        cells += db_session.execute(
            text("SELECT code FROM grid_cells WHERE code LIKE :d || '%' AND retired_at IS NULL ORDER BY code LIMIT 40"),
            {"d": district},
        ).scalars()
    return cells


class City:
    def __init__(self, db_session, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
        self.db, self.rng = db_session, rng
        self.cells = _cells(db_session)
        self.components = list(db_session.execute(text("SELECT id FROM components ORDER BY id LIMIT 3")).scalars())
        self.ids: list[int] = []
        self.count = 0

    def report(self, at: datetime, event_at: datetime | None = None) -> None:
        rng = self.rng
        category = rng.choice(CATEGORIES)
        cell = rng.choice(self.cells[:8] if rng.random() < 0.4 else self.cells)  # some cells often
        roll = rng.random()
        status, closed_at = "filed", None
        if roll < 0.5:
            status, closed_at = "closed", at + timedelta(hours=rng.choice((2, 20, 70, 400, 1000)))
        elif roll < 0.6:
            status = "cancelled"
        duplicate_of = self.ids[-1] if self.ids and rng.random() < 0.05 else None
        self.count += 1
        case_id = self.db.execute(
            text(INSERT_SQL),
            {
                "code": f"Z{self.count:07d}",
                "cell": cell,
                "category": category,
                "component": rng.choice(self.components) if category.startswith("C") else None,
                "status": status,
                "at": at,
                "closed_at": closed_at,
                "duplicate_of": duplicate_of,
            },
        ).scalar_one()
        self.ids.append(case_id)
        self.db.execute(
            text(EVENT_SQL), {"case_id": case_id, "action": "report", "at": event_at or at} | {"status": "reported"}
        )

    def change(self, at: datetime) -> None:
        """Close some open cases, cancel others, merge one: each with its event at `at`."""
        open_ids = list(
            self.db.execute(
                text("SELECT id FROM cases WHERE id = ANY(:ids) AND status = 'filed' ORDER BY id"), {"ids": self.ids}
            ).scalars()
        )
        for case_id in self.rng.sample(open_ids, min(15, len(open_ids))):
            roll = self.rng.random()
            if roll < 0.6:
                self.db.execute(
                    text(
                        "UPDATE cases SET status = 'closed', closed_at = reported_at + interval '3 days' WHERE id = :id"
                    ),
                    {"id": case_id},
                )
                action = "close"
            elif roll < 0.9:
                self.db.execute(text("UPDATE cases SET status = 'cancelled' WHERE id = :id"), {"id": case_id})
                action = "cancel"
            else:
                self.db.execute(
                    text("UPDATE cases SET duplicate_of = :other WHERE id = :id"), {"id": case_id, "other": self.ids[0]}
                )
                action = "merge"
            self.db.execute(text(EVENT_SQL), {"case_id": case_id, "action": action, "at": at, "status": None})


def _without_source(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("source", "as_of")}


def _both(run, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:  # type: ignore[no-untyped-def]
    rolled, direct = run(*args, **kwargs), run(*args, fresh=True, **kwargs)
    assert rolled["source"] == "rollups" and direct["source"] == "direct"
    return _without_source(rolled), _without_source(direct)


def _hot(result: dict[str, Any]) -> dict[str, Any]:
    """Hot spots with their p, q and expected counts to nine significant digits: the kept neighbourhoods' areas are
    summed by PostgreSQL, the outlines' by numpy, in other orders (the last bits differ)."""
    cells = [c | {k: pytest.approx(c[k], rel=1e-9) for k in ("p", "q", "expected")} for c in result["cells"]]
    return result | {"cells": cells}


def _compare(db_session, settings, city: City, now: datetime) -> int:  # type: ignore[no-untyped-def]
    """Every analysis over every kind of scope, both ways; the number of non-empty answers (so that the test is
    seen to compare something)."""
    district, street = city.cells[0][:6], city.cells[0][:9]
    community = db_session.execute(
        text("SELECT community_code FROM grid_cells WHERE code = :c"), {"c": city.cells[0]}
    ).scalar_one()
    scopes = [
        Scope(SPRING),
        Scope(SPRING, area=district),
        Scope(SPRING, area=street),
        Scope(SPRING, area=community),
        Scope(SPRING, family="component"),
        Scope(Period(date(2025, 3, 10), date(2025, 3, 30)), category="E01"),
    ]
    found = 0
    for scope in scopes:
        for by, days, within in (("cell", 30, 30), ("community", 10, 5), ("component", 60, 60)):
            rolled, direct = _both(
                recurrence, db_session, scope, settings, by=by, min_cases=2, days=days, within_days=within
            )
            assert rolled == direct, (scope, by)
            found += bool(direct["recurring"]) + bool(direct["repeats"])
        rolled, direct = _both(hotspots, db_session, scope, settings, eps=200, min_points=3, alpha=0.3)
        assert rolled == _hot(direct), scope
        found += bool(direct["cells"])
        for group_by in ("category", "all"):
            rolled, direct = _both(patterns, db_session, scope, settings, group_by=group_by)
            assert rolled == direct, (scope, group_by)
            found += bool(direct["groups"])
    for day in (date(2025, 4, 14), date(2025, 4, 21), date(2025, 4, 30)):
        for area in (None, district, street):
            for by in ("cell", "community", "district"):
                rolled, direct = _both(
                    anomalies, db_session, day_scope(day, now, settings, area=area), settings, now, by=by, alpha=0.5
                )
                assert rolled == direct, (day, area, by)
                found += direct["places_tested"] > 0
    return found


@pytest.mark.parametrize("seed", [1, 2])
def test_the_roll_up_answers_as_the_cases_do(seed: int, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    city = City(db_session, random.Random(seed))
    for _ in range(400):
        city.report(START + timedelta(minutes=city.rng.randrange(0, 61 * 24 * 60)))
    job = registered_periodic()["analysis-rollup"]
    assert job.every == 3600
    assert job.func(db_session, BUILT, settings)["days_rebuilt"] > 61  # the first build: every day
    assert _compare(db_session, settings, city, BUILT) > 40

    # What changes after the build: new cases (one reported back in March, as an import would), closings,
    # cancellations, a merge. Before the job runs the roll-up does not know; after it, it agrees again.
    for _ in range(60):
        city.report(START + timedelta(minutes=city.rng.randrange(0, 61 * 24 * 60)), event_at=LATER)
    city.change(LATER)
    stale = recurrence(db_session, Scope(SPRING), settings, min_cases=2, days=30)
    assert _without_source(stale) != _without_source(
        recurrence(db_session, Scope(SPRING), settings, fresh=True, min_cases=2, days=30)
    )
    rebuilt = job.func(db_session, LATER + timedelta(minutes=5), settings)["days_rebuilt"]
    assert 0 < rebuilt < 100  # only the days that changed
    assert _compare(db_session, settings, city, LATER) > 40


def test_the_rebuild_command_says_each_week(db_session, app) -> None:  # type: ignore[no-untyped-def]
    from citymgmt.cli import cli

    city = City(db_session, random.Random(3))
    for _ in range(20):
        city.report(START + timedelta(minutes=city.rng.randrange(0, 20 * 24 * 60)))
    db_session.commit()  # the command runs in its own unit of work: a savepoint released here, rolled back after
    runner = app.test_cli_runner()
    done = runner.invoke(cli, ["analysis", "rebuild", "--from", "2025-03-01", "--to", "2025-03-20"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "rebuilt 2025-03-01 – 2025-03-07",
        "rebuilt 2025-03-08 – 2025-03-14",
        "rebuilt 2025-03-15 – 2025-03-20",
        "20 days rebuilt",
    ]
    rows = db_session.execute(text("SELECT sum(reported) FROM analysis_days WHERE day <= '2025-03-20'")).scalar_one()
    expected = db_session.execute(
        text(
            "SELECT count(*) FROM cases WHERE code LIKE 'Z%' AND status <> 'cancelled' AND duplicate_of IS NULL"
            " AND reported_at < '2025-03-20T16:00:00Z'"
        )
    ).scalar_one()
    assert rows == expected > 0
    assert rollups.built_at(db_session) is None  # a range is no build: the analyses still count from the cases
    refreshed = runner.invoke(cli, ["analysis", "refresh"])  # the first build: every day since the first report
    assert refreshed.exit_code == 0 and refreshed.output.endswith(" days rebuilt\n"), refreshed.output
    assert int(refreshed.output.split()[0]) > 600 and rollups.built_at(db_session) is not None
    refused = runner.invoke(cli, ["analysis", "rebuild", "--from", "2025-03-20", "--to", "2025-03-01"])
    assert refused.exit_code == 1 and "to is before from" in refused.output


def test_the_kept_neighbourhoods_follow_the_grid(db_session) -> None:  # type: ignore[no-untyped-def]
    """Hot spots' kept neighbourhoods are rebuilt when the grid changed (a cell retired), and only then."""
    assert rollups.keep_grid(db_session, force=True)
    assert not rollups.keep_grid(db_session)  # nothing changed
    cell, neighbour = db_session.execute(
        text(
            "SELECT p.cell_code, p.neighbour_code FROM analysis_neighbours p WHERE p.cell_code <> p.neighbour_code"
            " ORDER BY 1, 2 LIMIT 1"
        )
    ).one()
    k = "SELECT k_city FROM analysis_cells WHERE code = :c"
    before = db_session.execute(text(k), {"c": neighbour}).scalar_one()
    db_session.execute(
        text("UPDATE grid_cells SET retired_at = now(), updated_at = now() WHERE code = :c"), {"c": cell}
    )
    assert rollups.keep_grid(db_session)
    assert db_session.execute(text(k), {"c": cell}).scalar_one_or_none() is None
    assert db_session.execute(text(k), {"c": neighbour}).scalar_one() == before - 1


def test_each_districts_adjacency_is_its_kept_neighbourhoods(db_session) -> None:  # type: ignore[no-untyped-def]
    """The matrix a district's hot spots read (analysis_adjacency) holds, for each of its cells in code order, its
    neighbours in the district, as analysis_neighbours does, and follows the grid with them."""
    assert rollups.keep_grid(db_session, force=True)
    districts = db_session.execute(text("SELECT district_code, cells, indptr, indices FROM analysis_adjacency")).all()
    assert districts
    for district, cells, indptr, indices in districts:
        codes = list(
            db_session.execute(
                text("SELECT code FROM analysis_cells WHERE left(code, 6) = :d ORDER BY code"), {"d": district}
            ).scalars()
        )
        assert cells == len(codes)
        number = {code: i for i, code in enumerate(codes)}
        pairs = db_session.execute(
            text("SELECT cell_code, neighbour_code FROM analysis_neighbours WHERE left(cell_code, 6) = :d"),
            {"d": district},
        ).all()
        expected = [set[int]() for _ in codes]
        for cell, neighbour in pairs:
            if neighbour in number:
                expected[number[cell]].add(number[neighbour])
        starts = np.frombuffer(bytes(indptr), dtype=">i4")
        listed = np.frombuffer(bytes(indices), dtype=">i4")
        assert [set(listed[starts[i] : starts[i + 1]].tolist()) for i in range(cells)] == expected
        weights = np.arange(cells, dtype=np.float64)
        sums = adjacent_sums(weights, bytes(indptr), bytes(indices))
        assert sums.tolist() == [float(sum(expected[i])) for i in range(cells)]
    district, cells = districts[0][0], districts[0][1]
    db_session.execute(
        text(
            "UPDATE grid_cells SET retired_at = now(), updated_at = now()"
            " WHERE code = (SELECT min(code) FROM analysis_cells WHERE left(code, 6) = :d)"
        ),
        {"d": district},
    )
    assert rollups.keep_grid(db_session)
    after = db_session.execute(
        text("SELECT cells FROM analysis_adjacency WHERE district_code = :d"), {"d": district}
    ).scalar_one()
    assert after == cells - 1
