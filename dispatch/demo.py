"""The demo departments: city-wide utilities, per-district services and a street office for every street."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch.models import Department


def load_demo_departments(session: Session, fixtures: Path, district_codes: list[str]) -> list[str]:
    """Upsert the demo departments; return their codes."""
    spec = json.loads((fixtures / "departments.json").read_text(encoding="utf-8"))
    rows: list[dict[str, str | None]] = [dict(d, district_code=None, street_code=None) for d in spec["city"]]
    districts = session.execute(
        text("SELECT code, name FROM areas WHERE code = ANY(:codes) ORDER BY code"), {"codes": district_codes}
    ).all()
    for code, name in districts:
        name_en = spec["district_names_en"].get(code, code)
        for template in spec["district"]:
            row = {
                k: v.format(district=code, district_name=name, district_name_en=name_en) for k, v in template.items()
            }
            rows.append(dict(row, district_code=code, street_code=None))
    streets = session.execute(
        text(
            "SELECT code, name, parent_code FROM areas WHERE level = 'street' AND parent_code = ANY(:codes)"
            " AND retired_at IS NULL ORDER BY code"
        ),
        {"codes": district_codes},
    ).all()
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
            set_={c: statement.excluded[c] for c in ("name", "name_en", "kind", "district_code", "street_code")},
        )
    )
    return [str(r["code"]) for r in rows]
