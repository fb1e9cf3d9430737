"""The Los Angeles 311 set-up shared by the in-process replay (tests/dispatch/routing/test_la311_replay.py) and the live
replay benchmark (tests/perf/replay_bench.py): the records of fixtures/la311, a grid cut from the convex hull of the
certified neighbourhood councils, the five owning departments, the 12 request types as a taxonomy and the rule
table sending each type to its department."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
import yaml
from sqlalchemy.orm import Session

from citymgmt.core.config import DEFAULT_DEPARTMENT_KINDS
from dispatch.departments.files import read_rows
from dispatch.departments.operations import import_departments
from dispatch.routing.rules import import_rules
from dispatch.taxonomy.operations import load_taxonomy
from grids.generate import GenerateOptions, generate_cells
from grids.sources import read_layer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDS = FIXTURES / "la311/la311-2017-subset.csv"
LA = ZoneInfo("America/Los_Angeles")
DISTRICT = "990311"
DEPARTMENTS = {"BOS": "la-bos", "OCB": "la-ocb", "ITA": "la-ita", "BSL": "la-bsl", "LADWP": "la-ladwp"}
DEPARTMENTS_FILE = FIXTURES / "departments/la311-departments.csv"  # the five, as `citymgmt departments import` takes


def created_at(value: str) -> datetime:
    """A record's CreatedDate (`12/31/2017 11:59:58 PM`, Los Angeles local time) as an aware datetime."""
    return datetime.strptime(value, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=LA)


def records() -> list[dict[str, str]]:
    """Every row of the published subset, in file order."""
    with RECORDS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def located(row: dict[str, str]) -> bool:
    return bool(row["Latitude"] and row["Longitude"])


def request_types() -> dict[str, str]:
    """RequestType (the taxonomy's English name of a minor class) → category code."""
    doc = json.loads((FIXTURES / "taxonomy/la311-2017.json").read_text(encoding="utf-8"))
    return {c["name_en"]: c["code"] for c in doc["categories"] if c["level"] == "minor"}


def set_up_la(session: Session, now: datetime, cell_m: float = 500, auto_file: bool = False, hull: bool = True) -> None:
    """The city in the caller's transaction. The boundary is the councils' convex hull, because the councils leave
    parts of the city uncovered (54 located rows fall between or beyond them); `hull=False` cuts the cells from the
    councils themselves, those rows outside. With `auto_file` every rule also files the case on arrival, so that
    routing dispatches it at once (and the department hears of its new work)."""
    layer = read_layer(FIXTURES / "grids/la-neighborhood-councils.geojson")
    boundary = shapely.union_all(shapely.make_valid([f.geometry for f in layer.features]))
    # The councils' own outline, simplified within about 10 m: cut four times faster, and no truer for it unsimplified.
    boundary = boundary.convex_hull if hull else boundary.simplify(0.0001)
    generate_cells(
        session, shapely.to_wkb(boundary), GenerateOptions(DISTRICT, "Los Angeles", cell_m), now, lambda m: None
    )
    load_taxonomy(session, FIXTURES / "taxonomy/la311-2017.json")
    import_departments(
        session, read_rows(DEPARTMENTS_FILE.read_text(encoding="utf-8"), "csv"), DEFAULT_DEPARTMENT_KINDS, now, "la311"
    )
    source = (FIXTURES / "rules/la311-rules.yaml").read_text(encoding="utf-8")
    if auto_file:
        document = yaml.safe_load(source)
        for rule in document["rules"]:
            rule["then"]["auto_file"] = True
        source = yaml.safe_dump(document, allow_unicode=True)
    import_rules(session, source, now)
