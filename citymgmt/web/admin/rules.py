"""/admin/rules: the routing rules (派遣规则) as they stand and their revision, the rule book edited as YAML (refusals
shown by field and line), and the explanation of where a report would go (/admin/rules/explain)."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _

from citymgmt.core.audit import record
from citymgmt.core.clock import utcnow
from citymgmt.core.config import Settings
from citymgmt.core.db import db
from citymgmt.web.admin import FLASHED, Refused, admin_only, attempt, bp, english, render
from citymgmt.web.desk import CONDITION_NAMES, REASON_TEXTS, SOURCE_NAMES, URGENCY_NAMES
from citymgmt.web.refusals import rule_problem
from dispatch.departments.operations import list_departments
from dispatch.intake.explain import explain_report
from dispatch.routing.rules import export_rules, import_rules, line_of, rule_cache
from grids.addresses import locate_address

MAX_YAML = 1_000_000  # characters, as the API's PUT /rules takes at most 1 MB
SOURCES = ("inspector", "public", "hotline", "open311")
CATEGORY_CODE = re.compile(r"^[A-Za-z][0-9]{2,8}$")


def _settings() -> Settings:
    settings: Settings = current_app.extensions["citymgmt.settings"]
    return settings


def _departments() -> dict[str, str]:
    """Every department's name in the page's language, by code (a rule may name a retired one)."""
    en = english()
    return {d.code: (d.name_en if en and d.name_en else d.name) for d in list_departments(db.session(), True)}


def _page(status: int = 200, **context: Any) -> Any:
    session = db.session()
    book = rule_cache.book(session)
    context.setdefault("source", export_rules(session))
    return render(
        "admin/rules.html",
        status,
        book=book,
        departments=_departments(),
        conditions=CONDITION_NAMES,
        **context,
    )


@bp.get("/rules")
@admin_only
def rules() -> Any:
    return _page()


@bp.post("/rules")
@admin_only
def import_yaml() -> Any:
    source = request.form.get("source", "")
    retire_all = request.form.get("retire_all") == "yes"
    if len(source) > MAX_YAML:
        problems: list[tuple[str, int | None, str]] = [("file", None, _("At most %(n)s characters.", n=MAX_YAML))]
        return _page(422, source=source[:MAX_YAML], message=_("The rules were not saved."), problems=problems)
    session = db.session()
    try:
        with attempt(session):
            result = import_rules(session, source, utcnow(), allow_empty=retire_all, kinds=_settings().department_kinds)
            record(session, "rules.import", "admin page", utcnow(), **asdict(result))
    except Refused as refused:
        details = refused.error.details if isinstance(refused.error.details, dict) else {}
        problems = [(p, line_of(source, p), rule_problem(p, str(text))) for p, text in details.items()]
        problems.sort(key=lambda p: (p[1] is None, p[1] or 0, p[0]))
        message = refused.error.message if english() else _("the rule book has problems: see each below")
        return _page(refused.status, source=source, message=message, problems=problems, retire_all=retire_all)
    flash(
        _(
            "Rules saved: %(inserted)s new, %(updated)s changed, %(unchanged)s unchanged, %(retired)s retired.",
            **asdict(result),
        ),
        FLASHED,
    )
    return redirect(url_for("admin.rules", lang=request.args.get("lang")))


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@bp.get("/rules/explain")
@admin_only
def explain() -> Any:
    """Where a report would go: a point or an address, a category, and the rest of what routing reads."""
    args = {
        k: request.args.get(k, "").strip()[:2000]
        for k in ("category", "address", "lon", "lat", "urgency", "source", "description", "at")
    }
    context: dict[str, Any] = {"form": args, "sources": SOURCE_NAMES, "urgencies": URGENCY_NAMES}
    if not args["category"]:  # the empty form
        return render("admin/explain.html", **context)
    problems: dict[str, str] = {}
    session = db.session()
    lon = lat = None
    place = None
    if args["address"]:
        found = locate_address(session, args["address"])
        if found is None:
            problems["address"] = _("No one address of the gazetteer matches this: give more of it, or a point.")
        else:
            lon, lat, place = found.lon, found.lat, found.address
    elif args["lon"] or args["lat"]:
        lon, lat = _number(args["lon"]), _number(args["lat"])
        if lon is None:
            problems["lon"] = _("A longitude is a number, e.g. 116.3906.")
        if lat is None:
            problems["lat"] = _("A latitude is a number, e.g. 39.9158.")
    else:
        problems["address"] = _("Give an address, or a longitude and latitude.")
    category = args["category"].split(" ")[0].strip("()")
    if not CATEGORY_CODE.match(category):
        problems["category_code"] = _("A category code is a letter and digits, e.g. E0102.")
    if args["urgency"] and args["urgency"] not in URGENCY_NAMES:
        problems["urgency"] = _("Choose an urgency from the list.")
    if args["source"] and args["source"] not in SOURCES:
        problems["source"] = _("Choose a source from the list.")
    at = utcnow()
    if args["at"]:
        try:
            at = datetime.fromisoformat(args["at"])
            if at.tzinfo is None:
                at = at.replace(tzinfo=_settings().zone)
        except ValueError:
            problems["at"] = _("Give the time as YYYY-MM-DDTHH:MM.")
    if problems:
        return render("admin/explain.html", 422, problems=problems, **context)
    try:
        with attempt(session):
            explanation = explain_report(
                session,
                rule_cache.book(session),
                category_code=category,
                lon=lon,
                lat=lat,
                crs="wgs84",
                at=at,
                settings=_settings(),
                urgency=args["urgency"] or None,
                description=args["description"],
                source=args["source"] or "inspector",
            )
    except Refused as refused:
        return render("admin/explain.html", refused.status, error=refused.message, refused=refused, **context)
    return render(
        "admin/explain.html",
        explanation=explanation,
        place=place,
        departments=_departments(),
        reason=_reason,
        conditions=CONDITION_NAMES,
        **context,
    )


def _reason(why: str | None, args: dict[str, str] | None, fallback: str = "") -> str:
    """A check's or a rule's reason in the page's language (the desk's words)."""
    text = REASON_TEXTS.get(why or "")
    if text is None:
        return fallback
    try:
        return str(text) % (args or {})
    except (KeyError, ValueError, TypeError):
        return fallback
