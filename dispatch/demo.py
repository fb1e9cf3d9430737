"""The demo departments (city-wide utilities, per-district services and a street office for every street) and the
demo component registry."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from citymgmt.core.departments import Department
from dispatch.components.importer import ImportReport, import_component_rows, source_rows
from grids.demo import demo_cells, seeded_points
from grids.models import Area, AreaLevel


def load_demo_departments(session: Session, fixtures: Path, district_codes: list[str]) -> list[str]:
    """Upsert the demo departments; return their codes."""
    spec = json.loads((fixtures / "departments.json").read_text(encoding="utf-8"))
    rows: list[dict[str, str | None]] = [dict(d, district_code=None, street_code=None) for d in spec["city"]]
    districts = session.execute(select(Area.code, Area.name).where(Area.code.in_(district_codes)).order_by(Area.code))
    for code, name in districts:
        name_en = spec["district_names_en"].get(code, code)
        for template in spec["district"]:
            row = {
                k: v.format(district=code, district_name=name, district_name_en=name_en) for k, v in template.items()
            }
            rows.append(dict(row, district_code=code, street_code=None))
    streets = session.execute(
        select(Area.code, Area.name, Area.parent_code)
        .where(Area.level == AreaLevel.street, Area.parent_code.in_(district_codes), Area.retired_at.is_(None))
        .order_by(Area.code)
    )
    for code, name, district in streets:
        rows.append(
            {
                "code": f"street-{code}",
                "name": f"{name}办事处",
                "name_en": f"Street office {code}",
                "kind": "street_office",
                "district_code": district,
                "street_code": code,
            }
        )
    statement = insert(Department).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Department.code],
            # Loading the demo makes its departments live again (after `demo unload`).
            set_={c: statement.excluded[c] for c in ("name", "name_en", "kind", "district_code", "street_code")}
            | {"retired_at": None},
        )
    )
    return [str(r["code"]) for r in rows]


# The demo registry: (class, assets per district, owner). Owners: city-wide utilities for the manhole covers, the
# district's own departments for street lamps and litter bins; {district} is filled in.
DEMO_COMPONENTS = (
    ("C0101", 400, "bj-water"),  # 上水井盖
    ("C0102", 500, "bj-drainage"),  # 污水井盖
    ("C0103", 500, "bj-drainage"),  # 雨水井盖
    ("C0118", 600, "{district}-roads"),  # 路灯
    ("C0305", 300, "{district}-sanitation"),  # 垃圾箱
)
DEMO_COMPONENT_SEED = 20261122
# A survey finds a few assets damaged or missing.
DEMO_STATUS_WEIGHTS = {"in_use": 0.96, "damaged": 0.03, "missing": 0.01}


def load_demo_components(session: Session, district_codes: list[str], now: datetime) -> ImportReport:
    """A few thousand assets in the demo districts, placed at random but always the same places (seeded) inside
    live cells, and numbered per district and class from 000001; loaded through the registry's own import."""
    records: list[dict[str, Any]] = []
    for d, district in enumerate(district_codes):
        cells = demo_cells(session, district)
        if not cells:
            continue
        rng = np.random.default_rng(DEMO_COMPONENT_SEED + d)
        for class_code, count, owner in DEMO_COMPONENTS:
            chosen = [cells[i] for i in rng.integers(0, len(cells), count)]
            seeds = rng.integers(1, 2**31 - 1, count).tolist()
            statuses = rng.choice(list(DEMO_STATUS_WEIGHTS), count, p=list(DEMO_STATUS_WEIGHTS.values())).tolist()
            points = seeded_points(session, chosen, seeds)
            for serial, ((lon, lat), status) in enumerate(zip(points, statuses, strict=True), start=1):
                records.append(
                    {
                        "id": f"{district}{class_code[1:]}{serial:06d}",
                        "owner": owner.format(district=district),
                        "lon": lon,
                        "lat": lat,
                        "status": status,
                    }
                )
    # The demo's cells may be uncommitted yet (one transaction loads the whole demo): match on this connection.
    return import_component_rows(session, source_rows(records), now, "wgs84", lambda _: None, match_workers=1)


def demo_department_codes(session: Session, fixtures: Path, district_codes: list[str]) -> list[str]:
    """The demo's departments: the city-wide ones of the fixture and every one serving a demo district."""
    spec = json.loads((fixtures / "departments.json").read_text(encoding="utf-8"))
    local = session.execute(
        select(Department.code).where(Department.district_code.in_(district_codes)).order_by(Department.code)
    ).scalars()
    return [d["code"] for d in spec["city"]] + list(local)
