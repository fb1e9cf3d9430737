"""/admin/departments: the departments, retired ones too; create, change and retire one (专业部门)."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.core.departments import Department, live_departments
from citymgmt.core.errors import NotFound
from citymgmt.web.admin import FLASHED, Refused, admin_only, attempt, bp, render
from dispatch.departments.operations import (
    CODE,
    create_department,
    list_departments,
    live_department,
    retire_department,
    update_department,
)

# The form's fields, as the domain names them, with their labels (the refusals name the same fields).
FIELDS = {
    "code": _l("Code"),
    "name": _l("Name"),
    "name_en": _l("English name"),
    "kind": _l("Kind"),
    "district": _l("District"),
    "street": _l("Street"),
    "parent": _l("Answers to"),
    "phone": _l("Phone"),
}
MAX_FIELD = 200  # longer than any field may be: the rest is not read (the domain says what is too long)


def _settings() -> Settings:
    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings


def _posted(names: tuple[str, ...]) -> dict[str, str | None]:
    """The form's fields, stripped, empty ones as None (an optional field left empty is cleared)."""
    return {name: (request.form.get(name, "").strip()[:MAX_FIELD] or None) for name in names}


def _page(status: int = 200, **context: Any) -> Any:
    session = db.session()
    return render(
        "admin/departments.html",
        status,
        departments=list_departments(session, include_retired=True),
        live=live_departments(session),
        kinds=_settings().department_kinds,
        labels=FIELDS,
        **context,
    )


@bp.get("/departments")
@admin_only
def departments() -> Any:
    return _page(form={})


@bp.post("/departments")
@admin_only
def create() -> Any:
    values = _posted(tuple(FIELDS))
    session = db.session()
    try:
        with attempt(session):
            created = create_department(session, dict(values), _settings().department_kinds, utcnow(), "web")
    except Refused as refused:
        return _page(refused.status, form=values, refused=refused, opened=True)
    flash(_("Department %(code)s created.", code=created.code), FLASHED)
    return redirect(url_for("admin.departments", lang=request.args.get("lang")) + f"#d-{created.code}")


@bp.get("/departments/<string:code>")
@admin_only
def edit(code: str) -> Any:
    department = _live(code)
    return _edit_page(department.code, _form_of(department))


def _live(code: str) -> Department:
    """The live department of the path's code (404 for any other text, none reaching the database)."""
    if not CODE.match(code):
        raise NotFound("no such department", details={"code": code[:40]})
    return live_department(db.session(), code)


def _form_of(department: Department) -> dict[str, Any]:
    """The edit form as the department stands."""
    return {
        "code": department.code,
        "name": department.name,
        "name_en": department.name_en,
        "kind": department.kind,
        "district": department.district_code,
        "street": department.street_code,
        "parent": department.parent_code,
        "phone": department.phone,
    }


def _edit_page(code: str, form: dict[str, Any], status: int = 200, **context: Any) -> Any:
    session = db.session()
    return render(
        "admin/department.html",
        status,
        code=code,
        form=form,
        live=[d for d in live_departments(session) if d.code != code],
        kinds=_settings().department_kinds,
        labels=FIELDS,
        **context,
    )


@bp.post("/departments/<string:code>")
@admin_only
def update(code: str) -> Any:
    session = db.session()
    department = _live(code)
    changes = _posted(tuple(name for name in FIELDS if name != "code"))
    try:
        with attempt(session):
            update_department(session, department.code, changes, _settings().department_kinds, utcnow(), "web")
    except Refused as refused:
        return _edit_page(department.code, {"code": department.code, **changes}, refused.status, refused=refused)
    flash(_("Department %(code)s saved.", code=department.code), FLASHED)
    return redirect(url_for("admin.departments", lang=request.args.get("lang")) + f"#d-{department.code}")


@bp.post("/departments/<string:code>/retire")
@admin_only
def retire(code: str) -> Any:
    session = db.session()
    department = _live(code)
    if request.form.get("confirm") != "yes":
        message = _("Tick the box to confirm: a retired department gets no more cases and its code is not used again.")
        return _edit_page(department.code, _form_of(department), 422, retire_error=message)
    try:
        with attempt(session):
            summary = retire_department(session, department.code, utcnow(), "web")
    except Refused as refused:
        return _edit_page(department.code, _form_of(_live(code)), refused.status, retire_error=refused.message)
    flash(
        _(
            "Department %(code)s retired. Still pointing at it: %(cases)s open cases (re-dispatch them),"
            " %(rules)s live rules (they no longer match), %(handlers)s active handler accounts.",
            code=summary.code,
            cases=summary.open_cases,
            rules=summary.rules,
            handlers=summary.handlers,
        ),
        FLASHED,
    )
    return redirect(url_for("admin.departments", lang=request.args.get("lang")) + f"#d-{summary.code}")
