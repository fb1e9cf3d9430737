"""citymgmt: grid-based urban management case dispatch (数字城管).

Kept import-light: `create_app` imports blueprints inside the function, so that `grids` and `dispatch` can
import `citymgmt.core` without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from citymgmt.app import build_app

    return build_app(overrides)
