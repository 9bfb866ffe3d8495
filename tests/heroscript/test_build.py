"""heroagent.heroscript.call writes a call that the parser reads back value for value, or refuses the
value, naming the param, when HeroScript cannot carry it (hostile strings included)."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heroagent.heroscript import call, parse
from heroagent.schema.params import check_params

SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "string"},
        "count": {"type": "integer"},
        "urgent": {"type": "boolean"},
        "ratio": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "sizes": {"type": "array", "items": {"type": "integer"}},
        "color": {"enum": ["red", "blue"]},
    },
    "additionalProperties": False,
}


class Color(enum.Enum):
    RED = "red"


def test_a_call_reads_back_typed_by_the_schema() -> None:
    script = call(
        "email.send",
        to="O'Brien <ob@example.com>",
        count=3,
        urgent=False,
        ratio=0.1,
        tags=["a", "b c"],
        sizes=[1, -2],
        color=Color.RED,
        note=None,
    )
    assert script.startswith("!!email.send to:'O\\'Brien <ob@example.com>' count:3 urgent:false ratio:0.1")
    (action,) = parse(script)
    assert action.full_name == "email.send"
    assert check_params(SCHEMA, action.params, from_text=True) == {
        "to": "O'Brien <ob@example.com>",
        "count": 3,
        "urgent": False,
        "ratio": 0.1,
        "tags": ["a", "b c"],
        "sizes": [1, -2],
        "color": "red",
    }


@pytest.mark.parametrize(
    "text",
    ['say "hi"', " leading", "trailing ", "tab\t", "cr\r", "a<BR>b", "a<<BR>>b", "ends \\", "\\'", "\ud800"],
)
def test_a_text_heroscript_cannot_carry_is_refused_naming_the_param(text: str) -> None:
    with pytest.raises(ValueError, match=r"^param note: HeroScript cannot carry .*send a JSON job"):
        call("email.send", note=text)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"v": float("nan")}, "param v: nan is not a finite number"),
        ({"v": {"k": 1}}, "param v: a dict cannot be written in HeroScript"),
        ({"v": ["a,b"]}, "param v: a list item with a comma"),
        ({"Bad": 1}, "param 'Bad': a name is lowercase"),
        ({"id": 1}, "param 'id'"),
    ],
)
def test_values_and_names_it_cannot_write(kwargs: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match="^" + says.replace("(", r"\(")):
        call("a.b", **kwargs)


def test_the_action_name_is_checked() -> None:
    with pytest.raises(ValueError, match=r"actor\.name"):
        call("Email send")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_reads_back_or_is_refused(text: str) -> None:
    try:
        script = call("a.b", v=text)
    except ValueError as exc:
        assert str(exc).startswith("param v: HeroScript cannot carry")
        return
    assert parse(script)[0].params["v"] == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_read_back_exactly(whole: int, number: float) -> None:
    typed = check_params(SCHEMA, parse(call("a.b", count=whole, ratio=number))[0].params, from_text=True)
    assert typed == {"count": whole, "ratio": number}
