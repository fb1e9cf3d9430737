"""What autogenerate compares: our tables, not the ones PostGIS brings (used by env.py and the tests)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

NOT_OURS = frozenset({"spatial_ref_sys", "layer", "topology"})


def include_object(obj: Any, name: str | None, obj_type: str, reflected: bool, compare_to: Any) -> bool:
    if obj_type == "table" and name in NOT_OURS:
        return False
    return bool(alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to))
