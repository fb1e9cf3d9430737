"""GET /api/v1/cases paged by cursor (keyset, `after`): the same cases in the same order as by page number, for every
filter and every role's view, across pages and across ties in report time; the cursor refused by field when it is not
one the list gave."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.api.test_cases import GARBAGE

pytestmark = pytest.mark.usefixtures("beijing")

BEIHAI = {"lon": 116.3831, "lat": 39.9250}  # Xicheng; the Forbidden City is in Dongcheng
SIZE = 4  # cases a page: the ties (three reports at each time) fall across the pages' edges


@pytest.fixture
def listed_city(client: FlaskClient, token_for, db_session, clock, users) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """27 cases, three reported at each minute (ties in report time), by two reporters, in two districts, of two
    categories, in four states, three departments (one the test handler's) and three lights; the test inspector
    walks the cell of one of them."""
    made = []
    for i in range(27):
        body = {**(GARBAGE if i % 4 else {**GARBAGE, **BEIHAI}), "category_code": ("E0102", "E0104")[i % 2]}
        reporter = token_for("inspector" if i % 3 else "operator")
        sent = client.post("/api/v1/cases", json={**body, "description": f"翻页 {i}"}, headers=reporter)
        assert sent.status_code == 201, sent.get_json()
        made.append(sent.get_json())
        if i % 3 == 2:
            clock.advance(minutes=1)
    for i, case in enumerate(made):  # as any writer of a state, department or light would (the clocks follow)
        db_session.execute(
            text("UPDATE cases SET status = :status, department_code = :department, light = :light WHERE id = :id"),
            {
                "status": ("dispatched", "handled", "dispatched", "filed")[i % 4],
                "department": (None, "t-water", "110101-sanitation")[i % 3] if i % 4 != 3 else None,
                "light": ("red", "green", "yellow", "red", "green")[i % 5],
                "id": case["id"],
            },
        )
    db_session.execute(
        text("INSERT INTO inspector_cells (user_id, cell_code, assigned_at) VALUES (:u, :c, now())"),
        {"u": users["inspector"].id, "c": made[3]["cell_code"]},  # a cell of the operator's reports
    )
    db_session.commit()
    return {"made": made, "community": made[1]["community_code"], "cell": made[1]["cell_code"]}


def _by_page(client: FlaskClient, who: dict[str, str], query: str) -> list[int]:
    """The list as page numbers give it, page after page."""
    ids: list[int] = []
    for page in range(1, 100):
        got = client.get(f"/api/v1/cases?{query}&page_size={SIZE}&page={page}", headers=who)
        assert got.status_code == 200, got.get_json()
        if not got.get_json():
            return ids
        ids += [c["id"] for c in got.get_json()]
    raise AssertionError("no end")


def _by_cursor(client: FlaskClient, who: dict[str, str], query: str) -> list[int]:
    """The list as the next page's links give it, from the first page to the last (which has no link)."""
    ids: list[int] = []
    url: str | None = f"/api/v1/cases?{query}&page_size={SIZE}"
    while url is not None:
        got = client.get(url, headers=who)
        assert got.status_code == 200, (url, got.get_json())
        page = [c["id"] for c in got.get_json()]
        ids += page
        link, cursor = got.headers.get("Link"), got.headers.get("X-Next-Cursor")
        assert (link is None) == (cursor is None)
        url = None
        if link is not None:
            assert len(page) == SIZE and link.endswith('>; rel="next"')
            url = link[1 : -len('>; rel="next"')]
            carried = parse_qs(urlsplit(url).query)
            assert carried.pop("after") == [cursor] and "page" not in carried  # the same filters and page size
            assert carried == {**parse_qs(query), "page_size": [str(SIZE)]}
        assert len(ids) < 1000
    return ids


@pytest.mark.parametrize(
    "role, queries",
    [
        (  # sees every case: with light alone the clocks' index pages
            "supervisor",
            (
                "",
                "status=dispatched",
                "department=t-water",
                "category=E0104",
                "cell=110101",
                "cell={community}",
                "cell={cell}",
                "light=red",
                "light=green&status=handled",
                "light=yellow&cell=110102",
                "light=red&category=E0102&department=110101-sanitation",
                "status=dispatched&cell=110101&category=E0102",
            ),
        ),
        ("handler", ("", "light=red", "status=dispatched", "category=E0102", "cell=110101")),  # t-water's
        ("inspector", ("", "mine=true", "light=red", "status=filed", "cell=110102&light=green")),  # reports, cell
        ("operator", ("", "light=yellow", "mine=true")),
    ],
)
def test_the_cursor_gives_the_same_cases_as_the_page_numbers(
    client: FlaskClient, token_for, listed_city, role: str, queries: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    who = token_for(role)
    made = {c["id"] for c in listed_city["made"]}
    for template in queries:
        query = template.format(**listed_city)
        whole = client.get(f"/api/v1/cases?{query}&page_size=500", headers=who)
        everything = [c["id"] for c in whole.get_json()]
        assert "Link" not in whole.headers and "X-Next-Cursor" not in whole.headers  # one page: no next one
        assert made & set(everything), query  # the query selects some of this test's cases
        assert _by_page(client, who, query) == everything, query
        assert _by_cursor(client, who, query) == everything, query
    if role == "supervisor":  # a list longer than a page, with ties across its pages' edges
        assert len(_by_cursor(client, who, "cell=110101")) > 2 * SIZE


def test_the_total_counts_from_the_cursor(client: FlaskClient, token_for, listed_city) -> None:  # type: ignore[no-untyped-def]
    """With `after`, X-Pagination counts the cases after the cursor, those of the cursor's own report time (a tie)
    with a lower id among them, and numbers the pages from there."""
    who = token_for("supervisor")
    for query in ("", "category=E0104", "light=red", "cell=110101", "status=dispatched&light=red"):
        everything = [c["id"] for c in client.get(f"/api/v1/cases?{query}&page_size=500", headers=who).get_json()]
        first = client.get(f"/api/v1/cases?{query}&page_size=2", headers=who)
        assert json.loads(first.headers["X-Pagination"])["total"] == len(everything)
        seen, cursor = 2, first.headers["X-Next-Cursor"]
        while cursor:  # every cursor of the list, two cases apart: some in the middle of a tie
            after = client.get(f"/api/v1/cases?{query}&page_size=2&after={cursor}", headers=who)
            paging = json.loads(after.headers["X-Pagination"])
            assert (paging["total"], paging.get("page", 1)) == (len(everything) - seen, 1), (query, seen)
            assert after.headers["X-Total-Exact"] == "true"
            seen, cursor = seen + 2, after.headers.get("X-Next-Cursor")
        # `page` with `after` counts the pages from the cursor on.
        if len(everything) > 3 * SIZE:
            cursor = client.get(f"/api/v1/cases?{query}&page_size={SIZE}", headers=who).headers["X-Next-Cursor"]
            second = client.get(f"/api/v1/cases?{query}&page_size={SIZE}&after={cursor}&page=2", headers=who)
            assert [c["id"] for c in second.get_json()] == everything[2 * SIZE : 3 * SIZE]
            assert json.loads(second.headers["X-Pagination"])["page"] == 2


def test_a_cursor_is_a_place_in_the_order_whatever_the_filters(client: FlaskClient, token_for, listed_city) -> None:  # type: ignore[no-untyped-def]
    """A cursor from one list used with other filters gives those filters' cases after that place: the cursor names
    a case's report time and id, not the list it came from."""
    who = token_for("supervisor")
    everything = client.get("/api/v1/cases?page_size=500", headers=who).get_json()
    first = client.get(f"/api/v1/cases?page_size={SIZE}&cell=110101", headers=who)
    cursor, last = first.headers["X-Next-Cursor"], first.get_json()[-1]
    place = next(i for i, c in enumerate(everything) if c["id"] == last["id"])
    for query, keep in (
        ("status=dispatched", lambda c: c["status"] == "dispatched"),
        ("light=red", lambda c: c["light"] == "red"),
        ("cell=110102", lambda c: c["cell_code"].startswith("110102")),
    ):
        after = client.get(f"/api/v1/cases?{query}&after={cursor}&page_size=500", headers=who).get_json()
        assert [c["id"] for c in after] == [c["id"] for c in everything[place + 1 :] if keep(c)], query


def test_a_report_that_arrives_meanwhile_does_not_shift_the_cursors_page(
    client: FlaskClient, token_for, listed_city
) -> None:  # type: ignore[no-untyped-def]
    who = token_for("supervisor")
    first = client.get(f"/api/v1/cases?page_size={SIZE}", headers=who)
    second = client.get(f"/api/v1/cases?page_size={SIZE}&page=2", headers=who).get_json()
    assert client.post("/api/v1/cases", json=GARBAGE, headers=token_for("inspector")).status_code == 201
    after = client.get(f"/api/v1/cases?page_size={SIZE}&after={first.headers['X-Next-Cursor']}", headers=who)
    assert after.get_json() == second
    shifted = client.get(f"/api/v1/cases?page_size={SIZE}&page=2", headers=who).get_json()
    assert shifted[0]["id"] == first.get_json()[-1]["id"]  # by page number, the first page's last case again


def _token(*fields: int) -> str:
    return base64.urlsafe_b64encode(struct.pack(">Bqq", *fields)).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor, why",
    [
        ("", "not a cursor"),
        ("x", "not a cursor"),
        ("1" * 22, "not a cursor"),
        ("1" * 24, "not a cursor"),
        (_token(1, 0, 1) + "%0A", "not a cursor"),  # a cursor and a line break
        (_token(1, 0, 1).replace("A", "+"), "not a cursor"),  # base64's other alphabet
        ("🙂" * 23, "not a cursor"),
        (_token(2, 0, 1), "cursor of another version"),
        (_token(1, 2**63 - 1, 1), "not a time the list holds"),
        (_token(1, -(2**63), 1), "not a time the list holds"),
    ],
)
def test_a_cursor_the_list_did_not_give_is_refused_by_field(
    client: FlaskClient, token_for, cursor: str, why: str
) -> None:  # type: ignore[no-untyped-def]
    for query in ("", "light=red&", "status=filed&"):
        got = client.get(f"/api/v1/cases?{query}after={cursor}", headers=token_for("supervisor"))
        assert got.status_code == 422, (query, cursor, got.get_json())
        assert got.get_json()["error"]["details"] == {"after": why}
        assert "after" in got.get_json()["error"]["message"]


def test_cursors_of_the_far_past_and_future_are_places_like_any(client: FlaskClient, token_for, listed_city) -> None:  # type: ignore[no-untyped-def]
    who = token_for("supervisor")
    everything = [c["id"] for c in client.get("/api/v1/cases?page_size=500", headers=who).get_json()]
    year_1 = -62_135_596_800 * 10**6  # 0001-01-01 in microseconds since 1970
    year_9999 = 253_402_300_799 * 10**6
    assert client.get(f"/api/v1/cases?after={_token(1, year_1, 1)}", headers=who).get_json() == []
    late = client.get(f"/api/v1/cases?after={_token(1, year_9999, 1)}&page_size=500", headers=who)
    assert [c["id"] for c in late.get_json()] == everything
