"""The taxonomy's hand-written SQL (operations.py): a report's category, looked up on the driver.

Placeholders: psycopg's `%(name)s` (the statement runs on the raw driver, prepared), never positional `%s`.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

# The current version's category of a code: the version joined to its category (none when the code is not in it).
MINOR_FROM = (
    "taxonomy_versions v LEFT JOIN categories c ON c.version_code = v.code AND c.code = %(category_code)s"
    " WHERE v.current"
)


def minor_columns(category_columns: Sequence[str]) -> str:
    """The version as `taxonomy_version` and the category's columns (the model's own) as `category_<column>`, also
    for a hot statement that reads them with its own work (intake's first: one round trip instead of two, measured,
    docs/architecture.md)."""
    named: list[sql.Composable] = [sql.SQL("v.code AS taxonomy_version")]
    named += [
        sql.SQL("c.{} AS {}").format(sql.Identifier(c), sql.Identifier(f"category_{c}")) for c in category_columns
    ]
    return sql.SQL(", ").join(named).as_string()


def minor_sql(columns: str) -> str:
    """The category of a code (%(category_code)s) in the current version, with `columns` (minor_columns)."""
    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(columns), sql.SQL(MINOR_FROM)).as_string()
