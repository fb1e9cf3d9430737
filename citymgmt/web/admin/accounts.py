"""/admin/accounts: the accounts (deactivated ones too); create one, set a new password, deactivate (never delete).

A password the system generates is shown once, on the page that answers the change, and never again (only its hash
is kept): that page is rendered, not redirected to, so that the password travels in no cookie and no URL.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from citymgmt.core.access import current_user
from citymgmt.core.accounts import create_account, deactivate_account, list_accounts, set_password
from citymgmt.core.clock import utcnow
from citymgmt.core.db import db
from citymgmt.core.departments import live_departments
from citymgmt.core.identity import ALL_ROLES
from citymgmt.web.admin import FLASHED, Refused, admin_only, attempt, bp, render
from citymgmt.web.i18n import ROLE_NAMES

PAGE_SIZE = 50
LABELS = {
    "username": _l("Username"),
    "display_name": _l("Name shown to others"),
    "roles": _l("Roles"),
    "department": _l("Department"),
    "phone": _l("Phone"),
    "password": _l("Password"),
}


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw[:7]), 10_000)) if raw.isascii() and raw.isdigit() else 1


def _page(status: int = 200, **context: Any) -> Any:
    session = db.session()
    query = request.args.get("q", "").strip()[:100]
    page = _page_number()
    accounts, total = list_accounts(session, query, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    context.setdefault("form", {})
    return render(
        "admin/accounts.html",
        status,
        accounts=accounts,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=query,
        roles=ALL_ROLES,
        role_names=ROLE_NAMES,
        departments=live_departments(session),
        labels=LABELS,
        me=current_user(),
        **context,
    )


@bp.get("/accounts")
@admin_only
def accounts() -> Any:
    return _page()


@bp.post("/accounts")
@admin_only
def create_user_account() -> Any:
    form = {
        "username": request.form.get("username", "").strip()[:100],
        "display_name": request.form.get("display_name", "").strip()[:200] or None,
        "roles": [r for r in request.form.getlist("roles") if isinstance(r, str)][:10],
        "department": request.form.get("department", "").strip()[:100] or None,
        "phone": request.form.get("phone", "").strip()[:100] or None,
    }
    password = request.form.get("password", "")[:300] or None
    session = db.session()
    try:
        with attempt(session):
            created = create_account(
                session,
                str(form["username"]),
                password,
                list(form["roles"] or []),
                utcnow(),
                "web",
                form["display_name"],  # type: ignore[arg-type]
                form["department"],  # type: ignore[arg-type]
                form["phone"],  # type: ignore[arg-type]
            )
    except Refused as refused:
        fields = {("department" if k == "department_code" else k): v for k, v in refused.fields.items()}
        return _page(refused.status, form=form, refused=refused, fields=fields, opened=True)
    return _page(201, created=created)


@bp.post("/accounts/<string:username>/password")
@admin_only
def reset_password(username: str) -> Any:
    session = db.session()
    try:
        with attempt(session):
            generated, revoked = set_password(session, username[:40], None, utcnow(), "web")
    except Refused as refused:
        return _page(refused.status, error=refused.message)
    return _page(reset={"username": username[:40].strip().lower(), "password": generated, "revoked": revoked})


@bp.post("/accounts/<string:username>/deactivate")
@admin_only
def deactivate(username: str) -> Any:
    session = db.session()
    try:
        with attempt(session):
            deactivate_account(session, username[:40], utcnow(), "web", current_user())
    except Refused as refused:
        return _page(refused.status, error=refused.message)
    flash(_("%(username)s is deactivated: signed out everywhere, and cannot sign in.", username=username[:40]), FLASHED)
    return redirect(url_for("admin.accounts", q=request.args.get("q") or None, lang=request.args.get("lang")))
