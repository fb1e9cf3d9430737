"""`citymgmt metrics report|refresh|rebuild`: the evaluation indicators (DOMAIN.md §6) and their roll-ups."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from citymgmt.core.clock import utcnow
from citymgmt.core.commands import in_transaction
from citymgmt.core.db import db
from dispatch.metrics.operations import GROUPS, INDICATORS_FOR, kind_of, parse_period, rebuild_all, refresh, report


@click.group("metrics")
def metrics_cli() -> None:
    """Evaluation (绩效评价): indicators, scores and grades per cell, area, department or person (inspector, shift
    leader, dispatcher)."""


def _flat(result: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    kind = kind_of(result["group_by"])
    columns = [result["group_by"], "name", "score", "grade", *INDICATORS_FOR[kind]]
    counts = list(result["groups"][0]["counts"]) if result["groups"] else []
    columns += counts
    rows = []
    for g in result["groups"]:
        rows.append(
            {
                result["group_by"]: g["key"],
                "name": g["name"],
                "score": g["score"],
                "grade": g["grade"],
                **g["rates"],
                **g["counts"],
            }
        )
    return columns, rows


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, ensure_ascii=False, indent=2, default=str)
    columns, rows = _flat(result)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: ("" if r.get(c) is None else r.get(c)) for c in columns} for r in rows)
        return out.getvalue()
    cell = lambda v: "" if v is None else (f"{v:.2%}" if isinstance(v, float) and v <= 1 else str(v))  # noqa: E731
    lines = [
        f"# {result['group_by']} {result['from']} – {result['to']} ({result['source']}, as of {result['as_of']})",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(str(r[c]) if c in ("score",) and r[c] is not None else cell(r.get(c)) for c in columns)
            + " |"
        )
    return "\n".join(lines) + "\n"


@metrics_cli.command("report")
@click.option("--from", "first", required=True, help="First day, YYYY-MM-DD (the city's zone).")
@click.option("--to", "last", required=True, help="Last day, YYYY-MM-DD, included.")
@click.option("--group-by", type=click.Choice(GROUPS), required=True)
@click.option("--format", "fmt", type=click.Choice(("csv", "json", "md")), default="md", show_default=True)
@click.option("--fresh", is_flag=True, help="Compute from cases and events now instead of the daily roll-ups.")
@with_appcontext
@in_transaction
def report_command(first: str, last: str, group_by: str, fmt: str, fresh: bool) -> None:
    """Print the indicators, scores and grades per group, best score first."""
    settings = current_app.extensions["citymgmt.settings"]
    result = report(db.session(), group_by, parse_period(first, last), utcnow(), settings, fresh=fresh)
    click.echo(render(result, fmt), nl=False)


@metrics_cli.command("refresh")
@with_appcontext
@in_transaction
def refresh_command() -> None:
    """Rebuild the roll-ups of the days that changed since the last build (what the hourly job does)."""
    settings = current_app.extensions["citymgmt.settings"]
    click.echo(f"{refresh(db.session(), utcnow(), settings)} days rebuilt")


@metrics_cli.command("rebuild")
@click.option("--from", "first", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last day, YYYY-MM-DD, included.")
@with_appcontext
@in_transaction
def rebuild_command(first: str, last: str) -> None:
    """Rebuild the roll-ups of every day from..to (after changing inspectors' beats back in time, say)."""
    settings = current_app.extensions["citymgmt.settings"]
    period = parse_period(first, last)
    rebuild_all(db.session(), period.first, period.last, utcnow(), settings)
    click.echo(f"rebuilt {period.first} – {period.last}")
