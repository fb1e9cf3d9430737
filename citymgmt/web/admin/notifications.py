"""/admin/notifications: notifications not delivered after at least one attempt (they are retried with backoff)."""

from __future__ import annotations

from typing import Any

from citymgmt.core.db import db
from citymgmt.web.admin import admin_only, bp, render
from dispatch.notifications.operations import failures


@bp.get("/notifications")
@admin_only
def notifications() -> Any:
    return render("admin/notifications.html", failures=failures(db.session()))
