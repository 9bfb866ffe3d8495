"""How values are presented (web/present.py): the one-line short form of a list's Result and Error cells."""

from __future__ import annotations

import json

import pytest

from heroagent.web.present import SHORT_PARSE_LIMIT, short


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("", ""),
        ("fine", "fine"),
        ("line one\n  line two\t end", "line one line two end"),
        (json.dumps([{"exit_code": 0, "output": "hello\nfrom the share\n"}]), "hello from the share"),
        (json.dumps([{"exit_code": 0, "output": "a"}, {"exit_code": 1, "output": "b"}]), "a | b"),
        ('{"rows": 3, "ok": true}', '{"rows": 3, "ok": true}'),
        ('["fine"]', "fine"),
        ('[""]', ""),
        ('["one", "", "two"]', "one | two"),
        ('"a JSON text"', "a JSON text"),
        ("[1, 2]", "[1, 2]"),
        ("[not json", "[not json"),
        ("x" * 61, "x" * 59 + "…"),
        ("word " * 30, ("word " * 12).rstrip() + "…"),
    ],
)
def test_short_is_one_line_of_at_most_the_width(value: str, shown: str) -> None:
    assert short(value) == shown
    assert len(short(value)) <= 60 and "\n" not in short(value)


def test_a_huge_value_is_cut_without_being_parsed_or_folded_whole() -> None:
    huge = json.dumps([{"exit_code": 0, "output": "y" * (SHORT_PARSE_LIMIT * 4)}])
    assert short(huge).startswith('[{"exit_code": 0') and len(short(huge)) == 60
    assert short("z" * 10_000_000, 40) == "z" * 39 + "…"
