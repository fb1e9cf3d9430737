"""The demo grids: real district boundaries cut into 100 m cells."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import shapely
from sqlalchemy.orm import Session

from grids.crs import transform_geometry
from grids.generate import GenerateOptions, generate_cells
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
