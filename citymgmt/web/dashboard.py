"""The supervisor dashboard (监督指挥大屏) at /dashboard/: one page for the centre's big screen.

The page is a shell; its script (static/js/dashboard.js) reads the figures from /api/v1/metrics (the league
table), /api/v1/metrics/cells (the map), /api/v1/metrics/daily (the trends), /api/v1/metrics/feed (new and
overdue cases), /api/v1/metrics/headline (today's figures) and /api/v1/cases?cell= (a cell's cases, each linked
to the supervisor's case page, /supervise/cases/<id>, as the feed's), and reloads them every `refresh` seconds.
Every string the script shows comes from here, translated, in one JSON block. Query parameters: refresh (seconds,
10–3600, default 60), indicator (on_time_closing_rate | overdue_open | density) and days (the period, 1–366,
default 30).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _

from citymgmt.core.access import allow
from citymgmt.core.db import db
from citymgmt.web.i18n import html_lang
from dispatch.cases.models import STATES
from dispatch.metrics.dashboard import CELL_INDICATORS
from grids.maps import area_outlines

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates")

ROLES = ("supervisor", "leader", "admin")  # as GET /api/v1/metrics allows
DEFAULT_REFRESH, DEFAULT_DAYS = 60, 30


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return min(max(value, low), high)


def strings() -> dict[str, Any]:
    """Everything dashboard.js shows, in the page's language."""
    return {
        "indicators": {
            "on_time_closing_rate": _("On-time closing rate"),
            "overdue_open": _("Overdue cases"),
            "density": _("Case density (per km²)"),
        },
        "states": {
            "reported": _("Reported"),
            "verifying": _("Verifying"),
            "filed": _("Filed"),
            "dispatched": _("Dispatched"),
            "handled": _("Handled"),
            "checking": _("Checking"),
            "closed": _("Closed"),
            "suspended": _("Suspended"),
            "cancelled": _("Cancelled"),
        },
        "lights": {"green": _("On time"), "yellow": _("Due soon"), "red": _("Overdue")},
        "feed_kinds": {"report": _("New"), "overdue": _("Overdue")},
        "series": {"reported": _("Reported"), "closed": _("Closed"), "overdue": _("Gone overdue")},
        "no_data": _("No data"),
        "no_cases": _("No cases in this cell."),
        "no_rows": _("No figures for the period yet."),
        "loading": _("Loading…"),
        "failed": _("Could not load: %(message)s"),
        "updated": _("Updated %(time)s"),
        "as_of": _("Evaluation figures as of %(time)s"),
        "cell_title": _("Cell %(code)s"),
        "community_title": _("Community %(code)s"),
        "cell_cases": _("%(count)s cases"),
        "legend_title": _("Legend"),
        "period": _("%(from)s to %(to)s"),
        "case_page": _("Open case %(code)s"),
    }


def analysis_config() -> dict[str, Any]:
    """The "unusual today" panel and the hot-spot layer (static/js/dashboard-analysis.js): their API paths and
    strings, kept apart from the rest of the page's."""
    return {
        "api": {"anomalies": url_for("analysis.anomalies"), "hotspots": url_for("analysis.hotspots")},
        "text": {
            "unusual_none": _("Nothing unusual so far today."),
            "unusual_item": _("%(count)s today, usually %(usual)s"),
            "cell": _("Cell %(code)s"),
            "hot": _("Hot cell"),
            "cold": _("Cold cell"),
            "cluster": _("Cluster of %(count)s cases"),
            "hot_spot_info": _("%(cases)s cases around it, %(expected)s expected (z = %(z)s)"),
        },
    }


@bp.get("/")
@allow(*ROLES)
def index() -> Any:
    settings = current_app.extensions["citymgmt.settings"]
    indicator = request.args.get("indicator", CELL_INDICATORS[0])
    if indicator not in CELL_INDICATORS:
        indicator = CELL_INDICATORS[0]
    config = {
        "refresh": _int_arg("refresh", DEFAULT_REFRESH, 10, 3600),
        "days": _int_arg("days", DEFAULT_DAYS, 1, 366),
        "indicator": indicator,
        "timezone": settings.timezone,
        "locale": html_lang(),
        "api": {
            "metrics": url_for("metrics.metrics"),
            "cells": url_for("metrics.cells"),
            "table": url_for("metrics.table"),
            "daily": url_for("metrics.daily_view"),
            "feed": url_for("metrics.feed_view"),
            "headline": url_for("metrics.headline_view"),
            "cases": url_for("cases.list_cases_view"),
            "cell": url_for("grids.cell", code="0"),  # one cell by its code (0 → the code): where the map finds it
        },
        "case_page": url_for("supervise.case_page", case_id=0),  # the supervisor's page of a case: 0 → its id
        "states": list(STATES),
        "districts": area_outlines(db.session(), "district"),  # with no basemap, they and the cells are the map
        "text": strings(),
        "analysis": analysis_config(),
    }
    return render_template("dashboard.html", config=config, indicators=strings()["indicators"])
