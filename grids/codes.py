"""Area codes: DB11's digits, and the city's own codes beside them.

The system keys areas by DB11 codes (a 6-digit district, + 3 digits a street, + 3 a community, + 3 a cell): cell
matching, routing prefixes, the roll-ups and the components' ids all read a place from its code's prefix. A boundary
file that has no such codes (names only, or the city's own codes such as "52" or "NC-052") keeps them as the area's
`source_code`, and the area is given a DB11 code by this scheme:

- districts: 9 and a 5-digit serial, from 900001 (GB/T 2260 codes begin with 1 to 8, so never a real one);
- streets and communities: the parent's code and a 3-digit serial, from 001;
- new keys take the next free serials in the order of their keys: numbers in numeric order first, then the rest
  alphabetically (case-insensitive);
- a key already stored at that level (under that parent) keeps the code it was given, so importing or generating
  the file again, or a later file with more areas, changes no code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from citymgmt.core.errors import ValidationError
from grids.queries import AREAS_BY_SOURCE_CODE_SQL, LAST_ASSIGNED_CODE_SQL

AUTO_CODE_FIELDS = ("adcode", "code")  # the code's field when none is named: Chinese boundary datasets, our files
DB11_DIGITS = {"district": 6, "street": 9, "community": 12, "cell": 15}
ASSIGNED_DISTRICT_PREFIX = "9"
SOURCE_CODE_MAX = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_db11(code: str, level: str) -> bool:
    digits = DB11_DIGITS[level]
    return len(code) == digits and code.isascii() and code.isdigit()


def source_code_problem(value: str) -> str | None:
    """Why a value cannot be a city's own code, or None."""
    if len(value) > SOURCE_CODE_MAX:
        return f"is longer than {SOURCE_CODE_MAX} characters"
    if _CONTROL.search(value):
        return "contains control characters"
    return None


def key_order(key: str) -> tuple[int, int, str, str]:
    """Numbers in numeric order, then the rest alphabetically: "4" < "52" < "114" < "Arleta" < "arroyo"."""
    if key.isascii() and key.isdigit():
        return (0, int(key), "", key)
    return (1, 0, key.casefold(), key)


def assign_codes(session: Session, level: str, parent: str | None, keys: Iterable[str]) -> dict[str, str]:
    """The DB11 code of each key (the city's own code or a name) at `level` under `parent` (None for districts):
    the stored one where the key is known, else the next free serial (see the module's scheme)."""
    wanted = sorted(set(keys), key=key_order)
    if level == "district":
        prefix, serial_digits = ASSIGNED_DISTRICT_PREFIX, 5
    elif level in ("street", "community") and parent is not None:
        prefix, serial_digits = parent, 3
    else:
        raise ValueError(f"codes are assigned to districts, streets and communities under a parent, not {level}")
    known: dict[str, str] = dict(
        session.execute(
            text(AREAS_BY_SOURCE_CODE_SQL),
            {"level": level, "parent": parent, "keys": wanted},
        ).all()
    )
    last = session.execute(
        text(LAST_ASSIGNED_CODE_SQL),
        {"level": level, "parent": parent, "prefix": prefix, "pattern": f"^{prefix}[0-9]{{{serial_digits}}}$"},
    ).scalar_one_or_none()
    serial = int(last[len(prefix) :]) if last else 0
    out: dict[str, str] = {}
    for key in wanted:
        if key in known:
            out[key] = known[key]
            continue
        serial += 1
        if serial >= 10**serial_digits:
            raise ValidationError(
                f"no free {level} code left under {prefix or 'the assigned range'} ({10**serial_digits - 1} in use)",
                details={"level": level},
            )
        out[key] = f"{prefix}{serial:0{serial_digits}d}"
    return out
