"""The Chinese catalogue covers every string the pages show, and the committed .mo is compiled from the .po."""

from __future__ import annotations

from typing import Any

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from citymgmt.web.i18n import TRANSLATIONS
from tests.conftest import REPO

CATALOGUE = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES"


def _key(value: Any) -> Any:
    """A message id or translation: a string, or (for plurals) a tuple of them."""
    return value if isinstance(value, str) else tuple(value)


def _po() -> dict[Any, Any]:
    with (CATALOGUE / "messages.po").open("rb") as f:
        return {_key(m.id): _key(m.string) for m in read_po(f) if m.id and not m.fuzzy}


def _is_translated(value: Any) -> bool:
    return bool(value) and (all(value) if isinstance(value, tuple) else True)


def test_every_string_of_the_pages_has_a_chinese_translation() -> None:
    with (REPO / "citymgmt" / "web" / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = {_key(extracted[2]) for extracted in extract_from_dir(str(REPO), method_map, options_map, keywords)}
    assert len(found) > 30, "the extraction found the pages' strings"
    translated = _po()
    missing = sorted(str(m) for m in found if not _is_translated(translated.get(m)))
    assert missing == [], f"untranslated (run make translations, then translate): {missing}"


def test_the_committed_mo_is_compiled_from_the_po() -> None:
    with (CATALOGUE / "messages.mo").open("rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    assert compiled == _po(), "messages.mo is stale: run make translations"
