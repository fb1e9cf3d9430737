"""The reads at city scale, at any size: the smoke test runs it tiny, `make bench` with 1,000,000 open and 5,000,000
closed cases, about 20,000,000 events and 1,000,000 cells.

On a copy of the demo city (its users, departments, taxonomy and rules), four generated districts of 100 m cells
(squares in UTM 50N) receive the history, generated set-based in SQL: open cases spread over the open states,
departments and lights, closed ones over the year before, each with its events. Then every read the people of the
centre make all day, through the app's HTTP stack (Flask's test client, the same views, access checks and
serialisation as gunicorn runs): `queues/mine` for each role, `GET /api/v1/cases` with each filter on page 1 and
page 100, page 100 both by its number (OFFSET) and by the cursor of page 99's last case (keyset, found by walking
the list's next-page links once before timing), the case as the desk reads it, the big screen's map for one district
and for the whole city (its communities) and for a view of its cells at zoom 16, each as the page asks for it (the
view's box with a margin), the metrics table. The baseline is the same request on a small city of the same shape
(400 cells, 800 cases), measured in the same run. The supervisor's queue is read a second time after most red lights
have turned green and the red dispatched cases have been escalated, as the sweep does (督办): a city where few open
cases are red and the supervisor's `overdue` task is fewer still.

The reads that go to a streaming replica when one is configured (the map and the metrics table: citymgmt.core.db's
`reads`) are measured a second time on a hot standby of the test cluster, made by pg_basebackup once the city is
written and read once it has replayed the primary's WAL, one request on the standby and one on the primary in turn.
Each is checked to have reached the standby: its tables' scans there rise by at least one a request.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from citymgmt.core.clock import SystemClock
from citymgmt.core.db import db
from citymgmt.core.db import reads as replica_session
from citymgmt.demo import DEMO_PASSWORD
from dispatch.cases.models import CLOCK_COPIES
from dispatch.metrics import operations as metrics
from dispatch.workflow.views import Position, cursor_of
from grids.generate import GenerateOptions, generate_cells
from tests.conftest import TestServers
from tests.perf.recorder import Recorder, percentile
from tests.replica import closed, cluster_bytes, reading_from, replayed, standby

X0, Y0 = 420_000.0, 4_380_000.0  # UTM 50N, south-west of the demo city
DISTRICTS = ("990101", "990102", "990103", "990104")
OPEN_STATES = ("reported", "filed", "dispatched", "dispatched", "dispatched", "handled", "checking", "suspended")
LIGHTS = ("green", "green", "green", "yellow", "red")

CASES_SQL = """
WITH p AS (
    SELECT CAST(:states AS text[]) AS st, CAST(:lights AS text[]) AS li, CAST(:reporters AS bigint[]) AS re,
           CAST(:category_ids AS bigint[]) AS ki, CAST(:category_codes AS text[]) AS kc,
           CAST(:departments AS text[]) AS de, CAST(:now AS timestamptz) AS now
)
INSERT INTO cases (id, code, source, reporter_id, category_id, category_code, urgency, description, point,
                   cell_code, community_code, street_code, district_code, department_code, status, due_at, light,
                   step_started_at, disposal_due_at, reported_at, updated_at, closed_at, verified)
SELECT :first + s.g, 'R' || (:first + s.g), CASE WHEN s.g % 3 = 0 THEN 'hotline' ELSE 'inspector' END,
       p.re[1 + s.g % cardinality(p.re)], p.ki[1 + s.g % cardinality(p.ki)], p.kc[1 + s.g % cardinality(p.kc)],
       'normal', '', c.p, c.code, c.community_code, substr(c.community_code, 1, 9), substr(c.community_code, 1, 6),
       CASE WHEN s.status IN ('reported', 'filed') THEN NULL ELSE p.de[1 + s.g % cardinality(p.de)] END,
       s.status,
       CASE WHEN s.status = 'closed' THEN NULL ELSE p.now + (s.g % 400 - 100) * interval '1 hour' END,
       CASE WHEN s.status = 'closed' THEN NULL ELSE p.li[1 + s.g % cardinality(p.li)] END,
       s.r, s.r + interval '4 hours', s.r, s.r,
       CASE WHEN s.status = 'closed' THEN s.r + interval '6 hours' END, s.g % 3 = 0
FROM p CROSS JOIN LATERAL (
    SELECT g,
           CASE WHEN g <= :open THEN p.st[1 + g % cardinality(p.st)] ELSE 'closed' END AS status,
           CASE WHEN g <= :open THEN p.now - (g % 720) * interval '20 minutes'
                ELSE p.now - interval '365 days' + ((g - :open)::float8 / greatest(:closed, 1)) * interval '360 days'
           END AS r
    FROM generate_series(1, :open + :closed) g
) s
JOIN bench_cells c ON c.n = 1 + s.g % :cells
"""
EVENTS_SQL = """
INSERT INTO case_events (case_id, action, actor_id, at, from_status, to_status, payload, department_code)
SELECT c.id, a.action, c.reporter_id, c.reported_at + a.after, a.from_status, a.to_status, '{}'::jsonb,
       c.department_code
FROM cases c CROSS JOIN (VALUES
    ('report', interval '0', NULL, 'reported', false),
    ('file', interval '5 minutes', 'reported', 'filed', false),
    ('dispatch', interval '10 minutes', 'filed', 'dispatched', false),
    ('handle', interval '50 minutes', 'dispatched', 'handled', true),
    ('close', interval '6 hours', 'checking', 'closed', true)
) AS a (action, after, from_status, to_status, closed_only)
WHERE c.code LIKE 'R%' AND (c.status = 'closed' OR NOT a.closed_only)
      AND (c.status = 'closed' OR c.status NOT IN ('reported') OR a.action = 'report')
"""

# The clocks that the trigger on cases keeps (replica mode above skips it), as the workflow's writes leave them.
CLOCKS_SQL = f"""
INSERT INTO case_clocks (case_id, {", ".join(CLOCK_COPIES)})
SELECT id, {", ".join(CLOCK_COPIES)} FROM cases WHERE code LIKE 'R%' AND (light IS NOT NULL OR escalated)
"""  # noqa: S608 (constants only)

# Few red (after the other reads): one red light in ten kept (by a hash of the code: the lights follow the case's
# number), the rest turned green, and the red dispatched cases escalated as the sweep escalates an overdue disposal.
# Through the trigger on cases, which keeps their clocks.
FEW_RED_SQL = (
    "UPDATE cases SET light = 'green' WHERE code LIKE 'R%' AND light = 'red' AND hashtext(code) % 10 <> 0",
    "UPDATE cases SET escalated = true, escalation_due_at = now() + interval '8 hours'"
    " WHERE code LIKE 'R%' AND light = 'red' AND status = 'dispatched'",
)
FEW_RED_READS = [("queues/mine supervisor, few red", "supervisor", "/api/v1/queues/mine")]


@dataclass
class Timing:
    name: str
    p50_ms: float
    p99_ms: float
    base_p50_ms: float
    base_p99_ms: float


@dataclass
class Figures:
    open_cases: int
    closed_cases: int
    events: int
    cells: int
    generate_s: float
    timings: list[Timing] = field(default_factory=list)
    replica: list[Timing] = field(default_factory=list)  # on the standby; base_*: the primary's, asked in turn
    replica_scans: dict[str, int] = field(default_factory=dict)  # each read's scans of tables on the standby
    replica_copy_s: float = 0.0  # pg_basebackup of the test cluster and the replay up to the primary's WAL
    replica_bytes: int = 0  # the cluster's databases, as they were copied

    def worst(self, prefix: str, but: str | None = None) -> Timing:
        """The read of that prefix with the highest p99, leaving out those whose names end with `but`."""
        found = [t for t in self.timings if t.name.startswith(prefix) and not (but and t.name.endswith(but))]
        return max(found, key=lambda t: t.p99_ms)


def _grid(app: Flask, cells: int, districts: tuple[str, ...] = DISTRICTS) -> tuple[float, float, float, float]:
    """The districts (four by default, codes 9901xx) side by side, `cells` 100 m cells in all; returns the city's
    bbox (lon/lat)."""
    per_side = max(2, round(math.sqrt(cells / len(districts))))
    side = per_side * 100.0
    with app.app_context():
        session = db.session()
        for i, district in enumerate(districts):
            x0 = X0 + i * side
            wkb = session.execute(
                text("SELECT ST_AsBinary(ST_Transform(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 32650), 4326))"),
                {"x0": x0, "y0": Y0, "x1": x0 + side, "y1": Y0 + side},
            ).scalar_one()
            options = GenerateOptions(district, f"bench {i + 1}", 100.0, community_block=31, street_block=31)
            generate_cells(session, bytes(wkb), options, SystemClock().now(), progress=lambda m: None)
            session.commit()
        box = session.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Extent(geom)::geometry b"
                " FROM grid_cells WHERE community_code LIKE '9901%') x"
            )
        ).one()
        db.session.remove()
    return (box[0], box[1], box[2], box[3])


def _history(
    app: Flask, open_cases: int, closed_cases: int, now: datetime, events: bool = True, shuffled: bool = False
) -> int:
    """The cases (and, unless `events` is False, their events) on the cells of the 9901xx districts. Case g falls
    on the cell g modulo the cells, in code order (a district's cases then come in bursts, one each time the cases
    run through the cells) or, `shuffled`, in an order of their codes' hashes (every district's cases spread over
    the year)."""
    order = "md5(code)" if shuffled else "code"
    with app.app_context():
        session = db.session()
        cells_sql = (
            f"CREATE TABLE bench_cells AS SELECT row_number() OVER (ORDER BY {order}) AS n, code, community_code,"  # noqa: S608
            " ST_PointOnSurface(geom) AS p FROM grid_cells WHERE community_code LIKE '9901%'"
        )
        session.execute(text(cells_sql))
        session.execute(text("CREATE UNIQUE INDEX ON bench_cells (n)"))
        cells = session.execute(text("SELECT count(*) FROM bench_cells")).scalar_one()
        reporters = list(
            session.execute(
                text("SELECT u.id FROM users u WHERE u.username IN ('inspector', 'operator') ORDER BY u.id")
            ).scalars()
        )
        categories = session.execute(
            text(
                "SELECT k.id, k.code FROM categories k JOIN taxonomy_versions v ON v.code = k.version_code"
                " WHERE v.current AND k.level = 'minor' ORDER BY k.code LIMIT 12"
            )
        ).all()
        departments = list(
            session.execute(text("SELECT code FROM departments WHERE retired_at IS NULL ORDER BY code")).scalars()
        )
        first = session.execute(text("SELECT coalesce(max(id), 0) + 1000 FROM cases")).scalar_one()
        session.execute(text("SET session_replication_role = replica"))  # synthetic rows: no triggers, no FK checks
        session.execute(
            text(CASES_SQL),
            {
                "first": first,
                "open": open_cases,
                "closed": closed_cases,
                "cells": cells,
                "now": now,
                "states": list(OPEN_STATES),
                "lights": list(LIGHTS),
                "reporters": reporters,
                "category_ids": [c.id for c in categories],
                "category_codes": [c.code for c in categories],
                "departments": departments,
            },
        )
        if events:
            session.execute(text(EVENTS_SQL))
        session.execute(text(CLOCKS_SQL))
        session.execute(text("SET session_replication_role = DEFAULT"))
        session.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
        session.execute(text("DROP TABLE bench_cells"))
        session.commit()
        events = session.execute(text("SELECT count(*) FROM case_events")).scalar_one()
        db.session.remove()
    _vacuum(app)
    return int(events)


VACUUMED = ("cases", "case_clocks", "case_events", "grid_cells", "areas", "metric_days")
VACUUMED += ("analysis_days", "analysis_cells", "analysis_neighbours")


def _vacuum(app: Flask) -> None:
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in VACUUMED:
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def _sign_in(client: FlaskClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 201, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _handler(app: Flask) -> str:
    """The demo handler whose department has the most open cases."""
    with app.app_context():
        name = (
            db.session()
            .execute(
                text(
                    "SELECT u.username FROM users u"
                    " LEFT JOIN cases c ON c.department_code = u.department_code AND c.status <> 'closed'"
                    " WHERE 'handler' = ANY(u.roles)"
                    " GROUP BY u.username ORDER BY count(c.id) DESC, u.username LIMIT 1"
                )
            )
            .scalar_one()
        )
        db.session.remove()
    return str(name)


def _requests(app: Flask, city: tuple[float, float, float, float]) -> list[tuple[str, str, str]]:
    """(name, user, path) of every read measured."""
    with app.app_context():
        session = db.session()
        case_id = session.execute(
            text("SELECT id FROM cases WHERE status = 'dispatched' ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        department = session.execute(
            text("SELECT department_code FROM cases WHERE department_code IS NOT NULL ORDER BY id DESC LIMIT 1")
        ).scalar_one()
        category = session.execute(text("SELECT category_code FROM cases ORDER BY id DESC LIMIT 1")).scalar_one()
        district_box = session.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Extent(geom)::geometry b"
                " FROM grid_cells WHERE community_code LIKE :d || '%') x"
            ),
            {"d": DISTRICTS[0]},
        ).one()
        db.session.remove()
    handler = _handler(app)
    day = date.today()
    month = f"from={(day - timedelta(days=30)).isoformat()}&to={day.isoformat()}"
    reads: list[tuple[str, str, str]] = [
        (f"queues/mine {role}", user, "/api/v1/queues/mine")
        for role, user in (
            ("operator", "operator"),
            ("leader", "leader"),
            ("dispatcher", "dispatcher"),
            ("handler", handler),
            ("inspector", "inspector"),
            ("supervisor", "supervisor"),
        )
    ]
    for label, query in (
        ("all", ""),
        ("status", "status=dispatched"),
        ("department", f"department={department}"),
        ("cell", f"cell={DISTRICTS[0]}"),
        ("light", "light=red"),
        ("category", f"category={category}"),
    ):
        for page in (1, 100):
            reads.append((f"cases list {label} p{page}", "supervisor", f"/api/v1/cases?{query}&page={page}"))
    reads += [
        ("case page", "dispatcher", f"/api/v1/cases/{case_id}"),
        # The big screen's map as dashboard.js asks for it: the view with half a view's margin on every side, at
        # the view's zoom; communities below zoom 15, cells from there on.
        ("map one district", "supervisor", _map_view(district_box, "community", month)),
        ("map whole city", "supervisor", _map_view(city, "community", month)),
        ("map cells in view", "supervisor", _map_view(_around(district_box, 16), "cell", month)),
        ("metrics table", "supervisor", f"/api/v1/metrics?group_by=department&{month}"),
    ]
    return reads


MAP_PX = (1200, 900)  # the big screen's map at 1920×1080, about


def _zoom(box: tuple[float, float, float, float]) -> int:
    """The zoom at which a box fills the map (Leaflet's fitBounds, quarter steps, then rounded as the page asks)."""
    west, south, east, north = box
    y = [math.log(math.tan(math.pi / 4 + math.radians(v) / 2)) for v in (south, north)]
    across = math.log2(MAP_PX[0] * 360 / 256 / (east - west))
    fits = min(across, math.log2(MAP_PX[1] * 2 * math.pi / 256 / (y[1] - y[0])))
    return round(math.floor(fits * 4) / 4)


def _around(box: tuple[float, float, float, float], zoom: int) -> tuple[float, float, float, float]:
    """The view of the map at `zoom` centred on the box's centre."""
    lon, lat = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w = MAP_PX[0] / 2 * 360 / 256 / 2**zoom
    half_h = half_w * MAP_PX[1] / MAP_PX[0] * math.cos(math.radians(lat))
    return (lon - half_w, lat - half_h, lon + half_w, lat + half_h)


def _map_view(view: tuple[float, float, float, float], level: str, month: str) -> str:
    """The big screen's request for a view: its box with half the view's size more on every side (what the page
    asks, so that moving within it asks nothing new), at the zoom the view is seen at."""
    west, south, east, north = view
    dx, dy = (east - west) / 2, (north - south) / 2
    box = ",".join(f"{v:.6f}" for v in (west - dx, south - dy, east + dx, north + dy))
    zoom = 16 if level == "cell" else _zoom(view)
    return f"/api/v1/metrics/cells?bbox={box}&zoom={zoom}&level={level}&{month}"


def _with_cursors(app: Flask, reads: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Beside each list's page 100 by number, the same page by cursor: the list walked once from its first page along
    its next-page links to page 99, and page 100 read after page 99's last case. In a list shorter than that, after
    its last case: an empty page, as page 100 by number is."""
    client = app.test_client()
    tokens: dict[str, dict[str, str]] = {}
    found = list(reads)
    for name, user, path in reads:
        if not (name.startswith("cases list ") and path.endswith("&page=100")):
            continue
        headers = tokens.setdefault(user, _sign_in(client, user))
        first = path.removesuffix("&page=100")
        url, last = first, None
        for _ in range(99):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, f"{name}: {response.status_code} {response.get_data(as_text=True)}"
            last = response.get_json()[-1] if response.get_json() else last
            following = response.headers.get("X-Next-Cursor")
            if following is None:
                break
            url = f"{first}&after={following}"
        assert last is not None, f"{name}: no cases"
        cursor = cursor_of(Position(datetime.fromisoformat(last["reported_at"]), last["id"]))
        by_cursor = f"{first}&after={cursor}"
        same = [client.get(p, headers=headers).get_json() for p in (path, by_cursor)]
        assert same[0] == same[1], f"{name}: page 100 by cursor is not page 100 by number"
        found.append((f"{name} cursor", user, by_cursor))
    return found


def _measure(app: Flask, reads: list[tuple[str, str, str]], samples: int) -> dict[str, list[float]]:
    client = app.test_client()
    tokens: dict[str, dict[str, str]] = {}
    found: dict[str, list[float]] = {}
    for name, user, path in reads:
        if user not in tokens:
            tokens[user] = _sign_in(client, user)
        headers = tokens[user]

        def call(path: str = path, headers: dict[str, str] = headers) -> Any:
            return client.get(path, headers=headers)

        first = call()
        assert first.status_code == 200, f"{name}: {first.status_code} {first.get_data(as_text=True)[:300]}"
        timings = []
        for _ in range(samples):
            t0 = time.perf_counter()
            response = call()
            response.get_data()
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        found[name] = timings
    return found


# The reads that go to the replica bind (citymgmt.core.db.reads) when one is configured.
REPLICA_READS = ("map one district", "map whole city", "map cells in view", "metrics table")


@dataclass
class Replica:
    """A hot standby of the test cluster, ready: the app whose replica bind is its copy of the database, and that
    copy's conninfo (to ask it what it served)."""

    app: Flask
    conninfo: str
    copy_s: float
    copied_bytes: int


def _progress(message: str) -> None:
    print(f"reads: {message}", flush=True)


@contextmanager
def on_standby(
    servers: TestServers, database: str, progress: Callable[[str], None] = _progress, **overrides: Any
) -> Iterator[Replica]:
    """A standby of the test cluster as it is now, replayed up to the primary's current WAL, and an app on
    `database` that reads from it; the app's pools emptied and the standby stopped when the block ends."""
    t0 = time.perf_counter()
    size = cluster_bytes(servers.postgres)
    with standby(servers, "bench-replica", progress) as replica:
        copied = time.perf_counter() - t0
        replayed(servers.postgres, replica)
        copy_s = time.perf_counter() - t0
        progress(f"standby copied in {copied:.1f} s, replayed up to the primary's WAL after {copy_s:.1f} s")
        with reading_from(servers, replica, database, replica_max_lag_s=3600, **overrides) as app:
            with app.app_context():
                assert replica_session().execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
            yield Replica(app, replica.conninfo(database), copy_s, size)


def _scans(conninfo: str) -> int:
    """Every scan of the database's tables the server has counted: a read served there raises it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables"
        ).fetchone()
    return int(row[0]) if row else 0


def _timed(app: Flask, name: str, user: str, path: str) -> Callable[[], float]:
    """A read through the app's views, signed in and asked once untimed: each call asks again and says how long
    the answer took, in ms."""
    client = app.test_client()
    headers = _sign_in(client, user)
    first = client.get(path, headers=headers)
    assert first.status_code == 200, f"{name}: {first.status_code} {first.get_data(as_text=True)[:300]}"

    def call() -> float:
        t0 = time.perf_counter()
        response = client.get(path, headers=headers)
        response.get_data()
        elapsed = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200
        return elapsed

    return call


def _measure_on(
    replica: Replica, primary: Flask, reads: list[tuple[str, str, str]], samples: int
) -> tuple[dict[str, tuple[list[float], list[float]]], dict[str, int]]:
    """Each read on the standby and on the primary, one request on each in turn (the same moment's load on both):
    (standby's, primary's) timings; and the scans each made on the standby, counted once the replica app's
    connections are closed (a backend's statistics reach the server's view when it exits)."""
    found: dict[str, tuple[list[float], list[float]]] = {}
    scans: dict[str, int] = {}
    for name, user, path in reads:
        before = _scans(replica.conninfo)
        on_standby, on_primary = _timed(replica.app, name, user, path), _timed(primary, name, user, path)
        timings: tuple[list[float], list[float]] = ([], [])
        for _ in range(samples):
            timings[0].append(on_standby())
            timings[1].append(on_primary())
        found[name] = timings
        closed(replica.app)
        deadline = time.monotonic() + 30
        while (rise := _scans(replica.conninfo) - before) < samples + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        scans[name] = rise
        assert rise >= samples + 1, f"{name}: {rise} scans on the standby for {samples + 1} requests"
    return found, scans


BASE = (200, 600, 400)  # the baseline's open cases, closed cases and cells: a small city, the same shape


def _populate(app: Flask, open_cases: int, closed_cases: int, cells: int, now: datetime) -> tuple[Any, int]:
    city = _grid(app, cells)
    events = _history(app, open_cases, closed_cases, now)
    with app.app_context():  # the month's roll-ups, which the map and the metrics table read, as the hourly job keeps
        settings = app.extensions["citymgmt.settings"]
        today = now.astimezone(settings.zone).date()
        metrics.rebuild_all(db.session(), today - timedelta(days=31), today, now, settings)
        db.session.commit()
        db.session.remove()
    _vacuum(app)
    return city, events


def _few_red(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        for sql in FEW_RED_SQL:
            session.execute(text(sql))
        session.commit()
        db.session.remove()
    _vacuum(app)


def run(
    base: Flask,
    app: Flask,
    open_cases: int,
    closed_cases: int,
    cells: int,
    samples: int,
    replica: Callable[[], AbstractContextManager[Replica]] | None = None,
) -> Figures:
    """The reads measured on `app` (its city generated at that size) beside `base` (a small city); with `replica`,
    those that go to a replica measured again on the standby it makes once the city is written."""
    now = datetime.now(UTC)
    base_city, _ = _populate(base, *BASE, now)
    t0 = time.perf_counter()
    city, events = _populate(app, open_cases, closed_cases, cells, now)
    generate_s = time.perf_counter() - t0
    with app.app_context():
        made = db.session().execute(text("SELECT count(*) FROM grid_cells")).scalar_one()
        db.session.remove()
    reads = _with_cursors(app, _requests(app, city))
    baseline = _measure(base, _with_cursors(base, _requests(base, base_city)), samples)
    measured = _measure(app, reads, samples)
    on_replica: dict[str, tuple[list[float], list[float]]] = {}
    scans: dict[str, int] = {}
    copy_s, copied = 0.0, 0
    if replica is not None:
        with replica() as standby_app:
            replicated = [r for r in reads if r[0] in REPLICA_READS]
            on_replica, scans = _measure_on(standby_app, app, replicated, samples)
            copy_s, copied = standby_app.copy_s, standby_app.copied_bytes
    for city in (base, app):
        _few_red(city)
    baseline |= _measure(base, FEW_RED_READS, samples)
    measured |= _measure(app, FEW_RED_READS, samples)
    reads += FEW_RED_READS
    figures = Figures(open_cases, closed_cases, events, int(made), generate_s)
    for name, _, _ in reads:
        figures.timings.append(_timing(name, measured[name], baseline[name]))
    for name, (on_standby, on_primary) in on_replica.items():
        figures.replica.append(_timing(name, on_standby, on_primary))
    figures.replica_scans, figures.replica_copy_s, figures.replica_bytes = scans, copy_s, copied
    return figures


def _timing(name: str, measured: list[float], baseline: list[float]) -> Timing:
    return Timing(
        name,
        statistics.median(measured),
        percentile(measured, 0.99),
        statistics.median(baseline),
        percentile(baseline, 0.99),
    )


NAMES = {
    "read_p99_ms_queues_mine": "queues/mine",
    "read_p99_ms_cases_list": "cases list",
    "read_p99_ms_case_page": "case page",
    "read_p99_ms_district_map": "map one district",
    "read_p99_ms_city_map": "map whole city",
    "read_p99_ms_cells_map": "map cells in view",
    "read_p99_ms_metrics_table": "metrics table",
}
# The list's figure is its first pages and its deep pages as a client should reach them, by cursor: page 100 by its
# number (OFFSET) is measured and printed beside it, not counted in the metric.
LEFT_OUT = {"read_p99_ms_cases_list": " p100"}
TARGETS = {
    "read_p99_ms_queues_mine": "≤ 100 ms",
    "read_p99_ms_cases_list": "≤ 100 ms",
    "read_p99_ms_case_page": "≤ 100 ms",
    "read_p99_ms_city_map": "≤ 500 ms",
}


def record(recorder: Recorder, f: Figures) -> None:
    scale = f"{f.open_cases:,} open and {f.closed_cases:,} closed cases, {f.events:,} events, {f.cells:,} cells"
    for metric, prefix in NAMES.items():
        worst = f.worst(prefix, LEFT_OUT.get(metric))
        baseline = f"the same read on a small city (worst: {worst.name}; p50 {worst.p50_ms:.1f} ms at scale)"
        if metric in LEFT_OUT:
            left_out = [t for t in f.timings if t.name.startswith(prefix) and t.name.endswith(LEFT_OUT[metric])]
            deep = max(left_out, key=lambda t: t.p99_ms)  # printed beside it, for comparison
            baseline = (
                f"the same read on a small city (worst of page 1 and page 100 by cursor: {worst.name}; p50"
                f" {worst.p50_ms:.1f} ms at scale; page 100 by number, not counted: worst {deep.name}, p99"
                f" {deep.p99_ms:.1f} ms)"
            )
        recorder.add(
            metric,
            worst.p99_ms,
            "ms",
            baseline=baseline,
            baseline_value=worst.base_p99_ms,
            higher_is_better=False,
            target=TARGETS.get(metric),
        )
    _record_each(recorder, f.timings, "", "at scale", "small city")
    recorder.add(f"reads data generation ({scale})", f.generate_s, "s")
    if f.replica:
        _record_replica(recorder, f)


def _record_each(recorder: Recorder, timings: list[Timing], suffix: str, measured: str, base: str) -> None:
    """Each read's p50 beside its baseline's, with both p99s said: `measured` and `base` name the two sides."""
    for t in timings:
        recorder.add(
            f"read {t.name}{suffix}: p50 / p99",
            t.p50_ms,
            "ms",
            baseline=f"p99 {t.p99_ms:.1f} ms {measured}; {base} p50 {t.base_p50_ms:.1f} / p99 {t.base_p99_ms:.1f}",
            baseline_value=t.base_p50_ms,
            higher_is_better=False,
        )


def _record_replica(recorder: Recorder, f: Figures) -> None:
    """The reads on the standby (`<metric>_replica`), beside the same reads on the primary in the same run; the
    targets are the primary's."""
    for metric, prefix in NAMES.items():
        if prefix not in REPLICA_READS:
            continue
        t = max((t for t in f.replica if t.name.startswith(prefix)), key=lambda t: t.p99_ms)
        recorder.add(
            f"{metric}_replica",
            t.p99_ms,
            "ms",
            baseline=(
                f"the same read on the primary, asked in turn with the standby (p50 {t.p50_ms:.1f} ms on the"
                f" standby, {t.base_p50_ms:.1f} ms on the primary)"
            ),
            baseline_value=t.base_p99_ms,
            higher_is_better=False,
            target=TARGETS.get(metric),
        )
    _record_each(recorder, f.replica, " on the replica", "on the standby", "the primary")
    recorder.add(
        f"reads replica: pg_basebackup of the test cluster ({f.replica_bytes / 1e9:.1f} GB) and replay to its WAL",
        f.replica_copy_s,
        "s",
    )
