"""The analyses on cases planted in the demo city's grid (March 2025, where no other test puts cases): each planted
pattern is found, and what was planted beside it, looking alike but not the pattern, is not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from citymgmt.core.errors import ValidationError
from dispatch.analysis.anomalies import anomalies, day_scope
from dispatch.analysis.hotspots import hotspots
from dispatch.analysis.patterns import patterns
from dispatch.analysis.recurrence import recurrence
from dispatch.analysis.rollups import rebuild
from dispatch.analysis.scope import Scope
from dispatch.metrics.operations import Period
from tests.dispatch.notifications.test_notifications import mailbox, receiver, smtp_settings  # noqa: F401

pytestmark = pytest.mark.usefixtures("beijing")

MARCH = Period(date(2025, 3, 1), date(2025, 3, 31))
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # Monday 3 March 2025, 09:00 in Beijing

INSERT_SQL = """
INSERT INTO cases (code, source, category_id, category_code, urgency, point, cell_code, community_code, street_code,
                   district_code, component_id, status, reported_at, updated_at, closed_at, description)
SELECT :code, 'inspector', k.id, k.code, 'normal',
       ST_Translate(ST_PointOnSurface(g.geom), :dx * 0.0000117, :dy * 0.000009), g.code, g.community_code,
       a.parent_code, left(a.parent_code, 6), :component, :status, :at, :at, :closed_at, ''
FROM categories k, grid_cells g JOIN areas a ON a.code = g.community_code
WHERE k.code = :category AND g.code = :cell
ORDER BY k.version_code DESC LIMIT 1
"""


@dataclass
class Grid:
    """A street of the demo grid: a cell in its middle (with its eight neighbours) and cells far from it."""

    street: str
    centre: str
    neighbours: list[str]
    far: list[str]


_GRIDS: list[Grid] = []  # the demo grid does not change within a session: found once


@pytest.fixture
def grid(db_session) -> Grid:  # type: ignore[no-untyped-def]
    if not _GRIDS:
        _GRIDS.append(_find_grid(db_session))
    return _GRIDS[0]


def _find_grid(db_session) -> Grid:  # type: ignore[no-untyped-def]
    street = db_session.execute(
        text(
            "SELECT a.parent_code FROM grid_cells g JOIN areas a ON a.code = g.community_code"
            " WHERE g.code LIKE '110101%' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    ).scalar_one()
    centre = db_session.execute(
        text(
            "SELECT g.code FROM grid_cells g JOIN areas a ON a.code = g.community_code WHERE a.parent_code = :s"
            " AND (SELECT count(*) FROM grid_cells h JOIN areas b ON b.code = h.community_code"
            "      WHERE b.parent_code = :s AND h.retired_at IS NULL AND ST_Intersects(h.geom, g.geom)) = 9"
            " ORDER BY g.code LIMIT 1"
        ),
        {"s": street},
    ).scalar_one()
    neighbours = list(
        db_session.execute(
            text(
                "SELECT h.code FROM grid_cells g, grid_cells h WHERE g.code = :c AND h.code <> g.code"
                " AND h.retired_at IS NULL AND ST_Intersects(h.geom, g.geom) ORDER BY h.code"
            ),
            {"c": centre},
        ).scalars()
    )
    far = list(
        db_session.execute(
            text(
                "SELECT h.code FROM grid_cells g, grid_cells h JOIN areas a ON a.code = h.community_code"
                " WHERE g.code = :c AND a.parent_code = :s AND ST_Distance(h.geom::geography, g.geom::geography) > 400"
                " ORDER BY h.code"
            ),
            {"c": centre, "s": street},
        ).scalars()
    )
    return Grid(street, centre, neighbours, far)


Plant = Callable[..., None]
Build = Callable[[], bool]


@pytest.fixture(params=["rollups", "direct"])
def build(request, db_session, app) -> Build:  # type: ignore[no-untyped-def]
    """Each planted pattern is found both ways: from the roll-up (built, when called, over every day up to now) and
    from the cases (`fresh`). Returns the `fresh` to call the analyses with."""

    def built() -> bool:
        if request.param == "rollups":
            rebuild(db_session, datetime.now(UTC), app.extensions["citymgmt.settings"])
        return request.param == "direct"

    return built


def source(fresh: bool) -> str:
    return "direct" if fresh else "rollups"


@pytest.fixture
def plant(db_session) -> Plant:  # type: ignore[no-untyped-def]
    counter = iter(range(1, 1_000_000))

    def insert(
        cell: str,
        at: datetime,
        category: str = "E0102",
        *,
        status: str = "filed",
        closed_at: datetime | None = None,
        dx: float = 0,
        dy: float = 0,
        component: str | None = None,
    ) -> None:
        db_session.execute(
            text(INSERT_SQL),
            {
                "code": f"A{next(counter):07d}",
                "cell": cell,
                "at": at,
                "category": category,
                "status": status,
                "closed_at": closed_at,
                "dx": dx,
                "dy": dy,
                "component": component,
            },
        )

    return insert


def test_recurrence_and_repeats_after_closure(grid: Grid, plant: Plant, build: Build, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    a, b, c = grid.far[0], grid.far[5], grid.far[10]
    for day in (0, 3, 6, 9):  # four exposed-garbage cases in ten days: recurring
        plant(a, T0 + timedelta(days=day))
    for day in (0, 15, 28):  # three in four weeks, never three within ten days: not with days=10
        plant(b, T0 + timedelta(days=day))
    plant(b, T0 + timedelta(days=1), "E0103")  # another category: not counted with E0102
    # A case closed on the 4th, the same problem again 5 days later: a repeat after closure; one 10.5 days after
    # another closure is not, with within_days=10; nor a different category.
    plant(c, T0, status="closed", closed_at=T0 + timedelta(days=1))
    plant(c, T0 + timedelta(days=6))
    plant(c, T0 + timedelta(days=17), status="closed", closed_at=T0 + timedelta(days=17, hours=12))
    plant(c, T0 + timedelta(days=28))
    plant(c, T0 + timedelta(days=9), "E0103")
    fresh = build()

    result = recurrence(db_session, Scope(MARCH), settings, min_cases=3, days=10, within_days=10, fresh=fresh)
    assert result["source"] == source(fresh)
    assert [(g["place"], g["category_code"], g["most_in_window"], g["cases"]) for g in result["recurring"]] == [
        (a, "E0102", 4, 4)
    ]
    assert [x["reported_at"][:10] for x in result["recurring"][0]["case_list"]] == [
        "2025-03-03",
        "2025-03-06",
        "2025-03-09",
        "2025-03-12",
    ]
    assert result["recurring"][0]["category_name"] == "暴露垃圾"
    assert [(g["place"], g["category_code"], g["repeats"]) for g in result["repeats"]] == [(c, "E0102", 1)]
    pair = result["repeats"][0]["pairs"][0]
    assert pair["days_after_closure"] == 5.0

    # With a longer window B recurs too, and both of C's closures were followed within 30 days.
    wider = recurrence(db_session, Scope(MARCH), settings, min_cases=3, days=30, within_days=30, fresh=fresh)
    assert {g["place"] for g in wider["recurring"]} == {a, b, c}
    assert [g["repeats"] for g in wider["repeats"] if g["place"] == c] == [2]
    # Filters: the area (another district has none) and the family (no component cases).
    elsewhere = recurrence(db_session, Scope(MARCH, area="110102"), settings, min_cases=3, days=10, fresh=fresh)
    assert elsewhere["recurring"] == []
    components = recurrence(db_session, Scope(MARCH, family="component"), settings, min_cases=3, fresh=fresh)
    assert components["recurring"] == []


def test_recurrence_on_a_component(grid: Grid, plant: Plant, build: Build, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    component = db_session.execute(text("SELECT id FROM components ORDER BY id LIMIT 1")).scalar_one()
    for day in (0, 2, 4):
        plant(grid.far[0], T0 + timedelta(days=day), "C0102", component=component)
    plant(grid.far[0], T0 + timedelta(days=5), status="closed", closed_at=T0 + timedelta(days=5, hours=2))
    plant(grid.far[2], T0 + timedelta(days=6), "C0102", status="closed", closed_at=T0 + timedelta(days=6, hours=1))
    plant(grid.far[2], T0 + timedelta(days=8), "C0102")  # a repeat at the cell, but of no component
    fresh = build()
    result = recurrence(db_session, Scope(MARCH), settings, by="component", min_cases=3, days=7, fresh=fresh)
    assert [(g["place"], g["most_in_window"]) for g in result["recurring"]] == [(component, 3)]
    assert result["repeats"] == [] and result["source"] == source(fresh)
    by_cell = recurrence(db_session, Scope(MARCH), settings, min_cases=3, days=7, fresh=fresh)
    assert [(g["place"], g["repeats"]) for g in by_cell["repeats"]] == [(grid.far[2], 1)]


def test_a_planted_cluster_and_hot_cell_are_found(grid: Grid, plant: Plant, build: Build, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    for i in range(8):  # eight cases within 20 m of the centre cell's middle
        plant(grid.centre, T0 + timedelta(hours=i), dx=(i % 3) * 5, dy=(i // 3) * 5)
    for i, cell in enumerate(grid.neighbours):  # and three more in each neighbour
        for j in range(3):
            plant(cell, T0 + timedelta(days=1, hours=i + j))
    for i, cell in enumerate(grid.far[::7][:12]):  # one case in each of twelve cells far apart
        plant(cell, T0 + timedelta(days=2, hours=i))
    fresh = build()
    result = hotspots(db_session, Scope(MARCH, area=grid.street), settings, eps=30, min_points=5, fresh=fresh)
    assert result["cells_tested"] > 50 and result["source"] == source(fresh)
    clusters = result["clusters"]
    assert [c["cases"] for c in clusters] == [8]
    assert clusters[0]["top_category"] == "E0102" and clusters[0]["hull"]["type"] == "Polygon"
    hot = [c for c in result["cells"] if c["kind"] == "hot"]
    assert grid.centre in {c["code"] for c in hot}
    assert hot[0]["code"] == grid.centre and hot[0]["neighbourhood_cases"] == 8 + 3 * 8
    assert not {c["code"] for c in hot} & set(grid.far[::7][:12]), "a single case far away is not a hot spot"
    # Metres, not degrees: 2 m apart the eight are no cluster of five.
    close = hotspots(db_session, Scope(MARCH, area=grid.street), settings, eps=2, min_points=5, fresh=fresh)
    assert close["clusters"] == []


def test_a_planted_anomaly_is_found(grid: Grid, plant: Plant, build: Build, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    day = T0 + timedelta(weeks=8)  # Monday 28 April 2025
    a, b = grid.far[0], grid.far[3]
    for w in range(1, 9):  # one case on each of the eight Mondays before, in both cells
        plant(a, day - timedelta(weeks=w))
        plant(b, day - timedelta(weeks=w))
        plant(b, day - timedelta(weeks=w, days=1))  # Sundays: not the baseline
    for h in range(9):  # nine on the day in A, two in B (twice its normal: not significant)
        plant(a, day + timedelta(hours=h))
    for h in range(2):
        plant(b, day + timedelta(hours=h))
    plant(b, day + timedelta(hours=14))  # after `now`: not counted
    fresh = build()
    now = day + timedelta(hours=12)  # 21:00 in Beijing
    result = anomalies(db_session, day_scope(None, now, settings), settings, now, fresh=fresh)
    assert result["day"] == "2025-04-28" and result["source"] == "direct"  # the day not over: from the cases
    assert result["places_tested"] == 2
    assert [(x["place"], x["count"], x["baseline_mean"]) for x in result["anomalies"]] == [(a, 9, 1.0)]
    by_street = anomalies(db_session, day_scope(None, now, settings), settings, now, by="street", fresh=fresh)
    assert [x["place"] for x in by_street["anomalies"]] == [grid.street]
    # Once the day is over, all of it (B's third case too: 3 against 1 a Monday, still not significant).
    later = day + timedelta(days=3)
    whole = anomalies(db_session, day_scope(day.date(), later, settings), settings, later, fresh=fresh)
    assert whole["source"] == source(fresh) and whole["until"] == "2025-04-29T00:00:00+08:00"
    assert [(x["place"], x["count"]) for x in whole["anomalies"]] == [(a, 9)] and whole["places_tested"] == 2


def test_today_is_compared_with_the_same_hours_of_its_baseline_days(grid: Grid, plant: Plant, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    day = T0 + timedelta(weeks=8)  # Monday 28 April 2025, 09:00 in Beijing
    d = grid.far[0]
    for w in range(1, 9):  # three each Monday evening (20:00) for eight weeks
        for _ in range(3):
            plant(d, day - timedelta(weeks=w) + timedelta(hours=11))
    for m in (0, 10, 20):  # three this morning
        plant(d, day + timedelta(minutes=m))
    morning, evening = day + timedelta(minutes=30), day + timedelta(hours=12)
    flagged = anomalies(db_session, day_scope(None, morning, settings), settings, morning)
    assert flagged["until"] == "2025-04-28T09:30:00+08:00"
    assert [(x["place"], x["count"], x["baseline_mean"]) for x in flagged["anomalies"]] == [(d, 3, 0.0)]
    assert anomalies(db_session, day_scope(None, evening, settings), settings, evening)["anomalies"] == []


def test_hour_of_week_patterns(grid: Grid, plant: Plant, build: Build, db_session, app) -> None:  # type: ignore[no-untyped-def]
    settings = app.extensions["citymgmt.settings"]
    for week in range(3):  # Mondays 09:00 in Beijing (01:00 UTC), and one Saturday 23:30 (15:30 UTC)
        plant(grid.far[0], T0 + timedelta(weeks=week))
    plant(grid.far[0], T0 + timedelta(days=5, hours=14, minutes=30), "E0103")
    fresh = build()
    result = patterns(db_session, Scope(MARCH, area=grid.street), settings, fresh=fresh)
    assert result["source"] == source(fresh)
    groups = {g["category_code"]: g for g in result["groups"]}
    assert groups["E0102"]["peak"] == {"weekday": 1, "hour": 9, "cases": 3}
    assert groups["E0103"]["peak"] == {"weekday": 6, "hour": 23, "cases": 1}
    assert groups["E0102"]["matrix"][0][9] == 3 and sum(groups["E0102"]["by_hour"]) == 3
    everything = patterns(db_session, Scope(MARCH, area=grid.street), settings, group_by="all", fresh=fresh)
    assert [g["cases"] for g in everything["groups"]] == [4]


def test_the_weekly_report(grid: Grid, plant: Plant, build: Build, db_session, app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`citymgmt analysis report --week`: the planted hot cell on the map and in the table, the recurring cell, the
    day's anomaly and the charts, in one HTML file."""
    from citymgmt.cli import cli

    for i in range(8):  # the cluster and hot cell of the test above, in the week of 3 to 9 March 2025
        plant(grid.centre, T0 + timedelta(hours=i), dx=(i % 3) * 5, dy=(i // 3) * 5)
    for cell in grid.neighbours:
        for j in range(3):
            plant(cell, T0 + timedelta(days=1, hours=j))
    build()  # from the roll-up when it was built, from the cases when it never was
    db_session.commit()  # the command runs in its own unit of work: a savepoint released here, rolled back after
    out = tmp_path / "week.html"
    runner = app.test_cli_runner()
    done = runner.invoke(cli, ["analysis", "report", "--week", "--ending", "2025-03-09", "-o", str(out)])
    assert done.exit_code == 0, done.output
    html = out.read_text(encoding="utf-8")
    assert "2025-03-03 至 2025-03-09" in html and "案件 32 件" in html
    assert '<path class="hot" d="M' in html and f"<title>{grid.centre}</title>" in html
    assert f'<tr class="hot-row"><td>{grid.centre}</td>' in html
    assert '<path class="cluster"' in html
    # The centre cell had eight in a day: recurring (at least 3 within 7 days), and the day's anomaly.
    assert f'<tr><td>{grid.centre}</td><td>暴露垃圾</td><td class="num">8</td>' in html
    assert f"<td>2025-03-03（周一）</td><td>{grid.centre}</td>" in html
    assert html.count('<rect class="bar"') == 7 + 24
    refused = runner.invoke(cli, ["analysis", "report", "--week", "--ending", "March", "-o", str(out)])
    assert refused.exit_code == 1 and "--ending 'March' is not a date" in refused.output


def test_the_weekly_report_is_sent_to_the_centres_channels(  # type: ignore[no-untyped-def]
    grid: Grid,
    plant: Plant,
    db_session,
    app,
    run_jobs,
    department,
    smtp_settings,  # noqa: F811
    mailbox,  # noqa: F811
    receiver,  # noqa: F811
) -> None:
    """--send: the centre's channels that asked for analysis_report get it (the e-mail as an HTML attachment, the
    webhook as its `document`); a department's channel and the centre's channels for other events do not."""
    import json

    from citymgmt.cli import cli
    from dispatch.notifications.operations import add_channel

    box, _ = mailbox
    hook, url = receiver
    add_channel(db_session, "email", "supervisors@example.org", None, ["analysis_report"])
    add_channel(db_session, "webhook", url, None, ["analysis_report"], secret="a-secret-of-16-chars")
    add_channel(db_session, "email", "duty@example.org", None, ["sla_overdue"])
    add_channel(db_session, "email", "water@example.org", department)  # the cases' events only, by default
    with pytest.raises(ValidationError, match="not valid"):  # a department's channel cannot ask for it
        add_channel(db_session, "email", "water@example.org", department, ["analysis_report"])
    plant(grid.centre, T0)
    db_session.commit()
    done = app.test_cli_runner().invoke(cli, ["analysis", "report", "--week", "--ending", "2025-03-09", "--send"])
    assert done.exit_code == 0, done.output
    assert "sent to 2 channels" in done.output
    assert run_jobs() == 2
    [mail] = box.messages
    assert mail["To"] == "supervisors@example.org"
    [attachment] = [part for part in mail.walk() if part.get_filename() == "analysis_report.html"]
    assert "高发问题周报" in attachment.get_payload(decode=True).decode()
    [(headers, body)] = hook.requests
    sent = json.loads(body)
    assert headers["X-Citymgmt-Event"] == "analysis_report" and "2025-03-03 至 2025-03-09" in sent["document"]
    nowhere = app.test_cli_runner().invoke(cli, ["analysis", "report", "--week"])
    assert nowhere.exit_code == 1 and "-o FILE and/or --send" in nowhere.output


def test_each_analysis_is_planned_for_its_values_without_jit(db_session, app) -> None:  # type: ignore[no-untyped-def]
    """psycopg prepares a statement run five times on a connection and PostgreSQL may then keep a generic plan, blind
    to the optional family, category and area; each analysis sets its transaction to plan for the values given."""
    settings = app.extensions["citymgmt.settings"]
    now = datetime(2025, 3, 20, 4, 0, tzinfo=UTC)
    runs: dict[str, Callable[[], object]] = {
        "recurrence": lambda: recurrence(db_session, Scope(MARCH), settings),
        "hotspots": lambda: hotspots(db_session, Scope(MARCH, area="110102"), settings),
        "anomalies": lambda: anomalies(db_session, day_scope(None, now, settings), settings, now),
        "patterns": lambda: patterns(db_session, Scope(MARCH), settings),
    }
    for name, run in runs.items():
        db_session.rollback()
        before = db_session.execute(text("SELECT current_setting('plan_cache_mode')")).scalar_one()
        assert before == "auto", name
        run()
        mode, jit = db_session.execute(text("SELECT current_setting('plan_cache_mode'), current_setting('jit')")).one()
        assert (mode, jit) == ("force_custom_plan", "off"), name
    db_session.rollback()
    after = db_session.execute(text("SELECT current_setting('plan_cache_mode')")).scalar_one()
    assert after == "auto"  # for the transaction only
