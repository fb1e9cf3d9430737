"""`line_of`: the line of the YAML text a refusal's path names, so that the admin's rules page can point at it."""

from __future__ import annotations

import pytest

from dispatch.routing.rules import line_of

BOOK = """version: 1
rules:
  - code: a
    name: first
    priority: 10
    then: {department: bj-water}
  - code: b
    name: second
    when:
      time: {from: "25:00", to: "06:00"}
    then:
      department: nowhere
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("rules", 2),
        ("rules.0.code", 3),
        ("rules.0.then.department", 6),
        ("rules.1.then.department", 12),
        ("rules.1.when.time.from", 10),
        ("rules.1.priority", 7),  # missing: its rule's line
        ("rules.7.code", 2),  # no such rule: the list's line
    ],
)
def test_a_path_is_found_at_its_line(path: str, line: int) -> None:
    assert line_of(BOOK, path) == line


def test_a_bare_list_and_text_that_is_not_yaml() -> None:
    assert line_of("- code: a\n- code: b\n  name: x\n", "rules.1.name") == 3
    assert line_of("rules: [\n  - {code: x", "rules.0.code") is None
    assert line_of("", "rules.0") is None
    assert line_of(BOOK, "file") is None
