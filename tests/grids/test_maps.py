"""The big screen's outlines: every live district of the city in one document, simplified and rounded."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from grids.maps import area_outlines, areas_in_view

pytestmark = pytest.mark.usefixtures("beijing")


def _decimals(coordinates: object) -> int:
    if isinstance(coordinates, float):
        return len(repr(coordinates).partition(".")[2])
    assert isinstance(coordinates, list)
    return max((_decimals(c) for c in coordinates), default=0)


def test_the_outlines_hold_every_live_district_simplified_to_six_decimals(db_session) -> None:  # type: ignore[no-untyped-def]
    outlines = area_outlines(db_session, "district")
    assert [f["id"] for f in outlines["features"]] == ["110101", "110102"]
    dongcheng = outlines["features"][0]
    assert dongcheng["properties"] == {"code": "110101", "name": "东城区", "level": "district", "source_code": None}
    assert dongcheng["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert _decimals(dongcheng["geometry"]["coordinates"]) <= 6
    full = json.loads(
        db_session.execute(text("SELECT ST_AsGeoJSON(geom) FROM areas WHERE code = '110101'")).scalar_one()
    )
    assert len(json.dumps(dongcheng["geometry"])) < len(json.dumps(full)) / 2  # simplified for a whole-city screen
    # The same outline as a map view of the city at the same zoom shows, but for the rounding.
    view = areas_in_view(db_session, (116.0, 39.7, 116.7, 40.1), 13, "district")
    assert [f["id"] for f in view["features"]] == ["110101", "110102"]

    db_session.execute(text("UPDATE areas SET retired_at = now() WHERE code = '110102'"))
    assert [f["id"] for f in area_outlines(db_session, "district")["features"]] == ["110101"]
