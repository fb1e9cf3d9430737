"""The demo grids: real district boundaries cut into 100 m cells; their cells and seeded points in them for the demo's
registry (dispatch/demo.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import shapely
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from grids.crs import transform_geometry
from grids.generate import GenerateOptions, generate_cells
from grids.models import GridCell
from grids.queries import SEEDED_POINTS_SQL
from grids.sources import read_layer


def load_demo_grids(
    session: Session,
    fixtures: Path,
    districts: Iterable[tuple[str, str, str]],
    now: datetime,
    progress: Callable[[str], None],
) -> None:
    for code, name, relative in districts:
        layer = read_layer(fixtures / relative)
        boundary = shapely.union_all([f.geometry for f in layer.features if f.geometry is not None])
        boundary = transform_geometry(boundary, "gcj02", "wgs84")
        progress(f"{name} ({code}): cutting into 100 m cells")
        generate_cells(session, shapely.to_wkb(boundary), GenerateOptions(code, name, 100.0), now, progress)


def demo_cells(session: Session, district: str) -> list[str]:
    """The live cells of a demo district, by code."""
    query = select(GridCell.code).where(func.left(GridCell.code, 6) == district, GridCell.retired_at.is_(None))
    return list(session.execute(query.order_by(GridCell.code)).scalars())


def seeded_points(session: Session, cells: list[str], seeds: list[int]) -> list[tuple[float, float]]:
    """A point inside each cell (a cell may come again), always the same one for the same seed (SEEDED_POINTS_SQL):
    the demo's assets."""
    rows = session.execute(text(SEEDED_POINTS_SQL), {"cells": cells, "seeds": seeds})
    return [(r.lon, r.lat) for r in rows]
