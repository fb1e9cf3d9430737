"""`citymgmt demo load`: the demo city, loaded once by `make run`; idempotent, so loading again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Progress = Callable[[str], None]

# (code, name, file) of the demo districts; their boundaries are GCJ-02.
DEMO_DISTRICTS = (
    ("110101", "东城区", "grids/beijing-dongcheng-110101.geojson"),
    ("110102", "西城区", "grids/beijing-xicheng-110102.geojson"),
)


def demo_loaded(session: Session) -> bool:
    codes = [code for code, _, _ in DEMO_DISTRICTS]
    found = session.execute(
        text("SELECT count(*) FROM areas WHERE code = ANY(:codes) AND retired_at IS NULL"), {"codes": codes}
    ).scalar_one()
    return bool(found == len(codes))


def load_demo(session: Session, now: datetime, progress: Progress) -> None:
    """Everything the demo city has, in the caller's transaction."""
    from grids.demo import load_demo_grids

    load_demo_grids(session, FIXTURES, DEMO_DISTRICTS, now, progress)
