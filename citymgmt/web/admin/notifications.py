"""/admin/notifications: the notification channels (list, add, retire) and the notifications not delivered after at
least one attempt (they are retried with backoff)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.departments import live_departments
from citymgmt.web.admin import FLASHED, Refused, admin_only, attempt, bp, render
from dispatch.notifications.operations import (
    CASE_EVENTS,
    EVENTS,
    KINDS,
    create_channel,
    failures,
    list_channels,
    retire_channel,
)

# The channel form's fields, as the domain names them, with their labels (the refusals name the same fields).
FIELDS = {
    "department": _l("Department"),
    "kind": _l("Kind"),
    "target": _l("Address"),
    "secret": _l("Webhook secret"),
    "events": _l("Events"),
}
MAX_FIELD = 600  # longer than any field may be: the rest is not read (the domain says what is too long)


def _page(status: int = 200, **context: Any) -> Any:
    session = db.session()
    context.setdefault("form", {"kind": "email", "events": list(CASE_EVENTS)})
    return render(
        "admin/notifications.html",
        status,
        channels=list_channels(session, include_retired=True),
        departments=live_departments(session),
        failures=failures(session),
        kinds=KINDS,
        events=EVENTS,
        labels=FIELDS,
        **context,
    )


@bp.get("/notifications")
@admin_only
def notifications() -> Any:
    return _page()


@bp.post("/notifications/channels")
@admin_only
def add_notification_channel() -> Any:
    form = {name: request.form.get(name, "").strip()[:MAX_FIELD] for name in ("department", "kind", "target")}
    secret = request.form.get("secret", "")[:MAX_FIELD] or None
    events = [e[:40] for e in request.form.getlist("events")][: len(EVENTS) + 1]
    session = db.session()
    try:
        with attempt(session):
            channel = create_channel(
                session, form["kind"], form["target"], form["department"] or None, events, secret, utcnow(), "web"
            )
    except Refused as refused:
        return _page(refused.status, form={**form, "events": events}, refused=refused, opened=True)
    flash(
        _("Channel %(id)s added: %(kind)s %(target)s.", id=channel.id, kind=channel.kind, target=channel.target),
        FLASHED,
    )
    return redirect(url_for("admin.notifications", lang=request.args.get("lang")) + f"#c-{channel.id}")


@bp.post("/notifications/channels/<int:channel_id>/retire")
@admin_only
def retire_notification_channel(channel_id: int) -> Any:
    session = db.session()
    try:
        with attempt(session):
            retire_channel(session, channel_id, utcnow(), "web")
    except Refused as refused:
        return _page(refused.status, retire_error=refused)
    flash(_("Channel %(id)s disabled: nothing more is sent to it.", id=channel_id), FLASHED)
    return redirect(url_for("admin.notifications", lang=request.args.get("lang")) + f"#c-{channel_id}")
