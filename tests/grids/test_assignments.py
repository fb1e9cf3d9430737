"""Inspectors' beats: assigned by cell, community, street or district code, kept as a history."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from citymgmt.core.errors import NotFound, ValidationError
from citymgmt.core.identity import create_user
from grids.assignments import assign_cells, beat_of, inspectors_of, unassign_cells

pytestmark = pytest.mark.usefixtures("beijing")
PASSWORD = "a-good-long-password"


@pytest.fixture
def walker(db_session) -> str:  # type: ignore[no-untyped-def]
    create_user(db_session, "t-walker", PASSWORD, ["inspector"])
    return "t-walker"


def test_a_community_goes_on_the_beat_once(db_session, walker: str, clock) -> None:  # type: ignore[no-untyped-def]
    in_community = db_session.execute(
        text("SELECT count(*) FROM grid_cells WHERE community_code = '110102001001' AND retired_at IS NULL")
    ).scalar_one()
    assert assign_cells(db_session, walker, ["110102001001"], clock.now()) == in_community > 0
    assert assign_cells(db_session, walker, ["110102001001"], clock.now()) == 0  # already there
    beat = beat_of(db_session, walker)
    assert len(beat) == in_community and all(code.startswith("110102001001") for code in beat)
    assert walker in inspectors_of(db_session, beat[0])


def test_unassigning_keeps_the_history(db_session, walker: str, clock) -> None:  # type: ignore[no-untyped-def]
    cell = db_session.execute(text("SELECT min(code) FROM grid_cells WHERE code LIKE '110101001%'")).scalar_one()
    assign_cells(db_session, walker, [cell], clock.now())
    clock.advance(days=30)
    assert unassign_cells(db_session, walker, [cell], clock.now()) == 1
    assert beat_of(db_session, walker) == [] and walker not in inspectors_of(db_session, cell)
    rows = db_session.execute(
        text(
            "SELECT assigned_at, unassigned_at FROM inspector_cells a JOIN users u ON u.id = a.user_id"
            " WHERE u.username = :u"
        ),
        {"u": walker},
    ).all()
    assert len(rows) == 1 and rows[0][1] > rows[0][0]
    assert assign_cells(db_session, walker, [cell], clock.now()) == 1  # back on the beat: a new period


def test_only_inspectors_have_beats_and_codes_must_be_real(db_session, walker: str, clock) -> None:  # type: ignore[no-untyped-def]
    create_user(db_session, "t-desk", PASSWORD, ["operator"])
    with pytest.raises(ValidationError, match="t-desk is not an inspector"):
        assign_cells(db_session, "t-desk", ["110101"], clock.now())
    with pytest.raises(NotFound, match="no active user nobody"):
        assign_cells(db_session, "nobody", ["110101"], clock.now())
    with pytest.raises(ValidationError, match="give cell"):
        assign_cells(db_session, walker, ["1101"], clock.now())
    with pytest.raises(NotFound, match="no live cells"):
        assign_cells(db_session, walker, ["999999"], clock.now())


def test_the_demo_inspector_walks_the_forbidden_city(db_session) -> None:  # type: ignore[no-untyped-def]
    from grids.matching import match_cell

    cell = match_cell(db_session, 116.3906, 39.9158).cell_code
    assert "inspector" in inspectors_of(db_session, cell)
