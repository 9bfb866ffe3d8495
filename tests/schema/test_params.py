"""The job contract's values (schema/params.py): HeroScript text typed by the schema, JSON checked as
it is, and every hostile value a clear error naming the param, the type and the value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from heroagent.schema.params import ParamError, check_params, convert, split_list, with_args

SEND: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to": {"type": "string"},
        "count": {"type": "integer", "default": 1},
        "urgent": {"type": "boolean", "default": False},
        "ratio": {"type": "number", "default": 0.5},
        "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}], "default": None},
        "mode": {"enum": ["a", "b"], "default": "a"},
        "sizes": {"type": "array", "items": {"type": "integer"}},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "required": ["to"],
    "additionalProperties": False,
}


def test_heroscript_text_is_typed_by_the_schema() -> None:
    given = {"to": "ann", "count": "3", "urgent": "false", "ratio": "2.5", "tags": 'x,"y z"', "mode": "b"}
    assert check_params(SEND, given, from_text=True) == {
        "to": "ann",
        "count": 3,
        "urgent": False,
        "ratio": 2.5,
        "tags": ["x", "y z"],
        "mode": "b",
    }
    typed = check_params(SEND, {"to": "a", "sizes": "1,2,3", "extra": '{"k": 4}', "tags": ""}, from_text=True)
    assert typed == {"to": "a", "sizes": [1, 2, 3], "extra": {"k": 4}, "tags": []}


@pytest.mark.parametrize("word", ["true", "True", "yes", "1"])
def test_true_words(word: str) -> None:
    assert convert({"type": "boolean"}, word, from_text=True, name="b") is True


@pytest.mark.parametrize(
    ("param", "value", "says"),
    [
        ("count", "3.5", "count: expected a whole number, got '3.5'"),
        ("count", "1e400", "count: expected a whole number, got '1e400'"),
        ("count", " 3", "count: expected a whole number"),
        ("count", "9" * 30, "count: 999999999999999999999999999999 does not fit 64 bits"),
        ("count", "9" * 5000, "count: expected a whole number"),
        ("urgent", "true ", "urgent: expected true or false, got 'true '"),
        ("urgent", "maybe", "urgent: expected true or false"),
        ("ratio", "nan", "ratio: expected a finite number, got 'nan'"),
        ("ratio", "inf", "ratio: expected a finite number"),
        ("ratio", "1e400", "ratio: expected a finite number, got '1e400'"),
        ("mode", "c", "mode: expected one of 'a', 'b', got 'c'"),
        ("to", "\ud800", "to: not valid UTF-8 text"),
        ("sizes", "1,x", "sizes[1]: expected a whole number, got 'x'"),
        ("extra", "[" * 1000, "extra: expected an object as JSON text"),
        ("extra", '{"k": "v"}', "extra.k: expected a whole number, got 'v'"),
    ],
)
def test_hostile_text_names_the_param_the_type_and_the_value(param: str, value: str, says: str) -> None:
    given = {"to": "ann", param: value} if param != "to" else {"to": value}
    with pytest.raises(ParamError, match="^" + says.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        check_params(SEND, given, from_text=True)


@pytest.mark.parametrize(
    ("param", "value", "says"),
    [
        ("count", "3", "count: expected a whole number, got '3'"),  # JSON carries types: "3" is a text
        ("count", True, "count: expected a whole number, got True"),
        ("count", 3.0, "count: expected a whole number, got 3.0"),
        ("count", 10**400, "count: 1000"),
        ("ratio", math.nan, "ratio: nan is not a finite number"),
        ("ratio", math.inf, "ratio: inf is not a finite number"),
        ("ratio", 10**400, "ratio: 1000"),
        ("urgent", "false", "urgent: expected true or false, got 'false'"),
        ("urgent", 0, "urgent: expected true or false, got 0"),
        ("tags", "a,b", "tags: expected a list of texts or none, got 'a,b'"),
        ("sizes", [1, [2]], "sizes[1]: expected a whole number, got [2]"),
    ],
)
def test_hostile_json_values_name_the_param(param: str, value: Any, says: str) -> None:
    with pytest.raises(ParamError, match="^" + says.replace("[", r"\[").replace("]", r"\]")):
        check_params(SEND, {"to": "ann", param: value}, from_text=False)


def test_json_values_of_the_right_type_pass_and_ints_are_numbers() -> None:
    given = {"to": "a", "count": 2**63 - 1, "ratio": 3, "urgent": True, "tags": None, "sizes": [1, -2]}
    typed = check_params(SEND, given, from_text=False)
    assert typed["ratio"] == 3.0 and isinstance(typed["ratio"], float)
    assert typed["count"] == 2**63 - 1


def test_unknown_and_missing_params_are_named() -> None:
    with pytest.raises(ParamError, match=r"^unknown param\(s\) msg; accepted: to, count"):
        check_params(SEND, {"to": "a", "msg": "hi"}, from_text=True)
    with pytest.raises(ParamError, match=r"^missing required param\(s\) to$"):
        check_params(SEND, {"count": "1"}, from_text=True)


def test_a_schema_that_takes_any_param_takes_them_as_they_are() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": True}
    assert check_params(schema, {"a": "1", "b": "x"}, from_text=True) == {"a": "1", "b": "x"}


def test_nesting_is_bounded() -> None:
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ParamError, match="nested more than 32 levels"):
        convert({}, deep, from_text=False, name="v")
    with pytest.raises(ParamError, match="nested more than 32 levels"):
        convert({"type": "object"}, json.loads('{"a":' * 40 + "1" + "}" * 40), from_text=False, name="v")


def test_untyped_values_are_json_values() -> None:
    assert convert({}, "3", from_text=True, name="v") == "3"  # no type declared: the text as it is
    with pytest.raises(ParamError, match="not a finite number"):
        convert({}, [math.nan], from_text=False, name="v")
    with pytest.raises(ParamError, match="does not fit 64 bits"):
        convert({}, {"k": 10**30}, from_text=False, name="v")


def test_positional_words_fill_the_params_in_order() -> None:
    assert with_args(SEND, {"count": "2"}, ["ann", "true"]) == ({"count": "2", "to": "ann", "urgent": "true"}, [])
    with pytest.raises(ParamError, match="positional word"):
        with_args({"type": "object", "properties": {"a": {}}}, {}, ["x", "y"])
    assert with_args({"type": "object", "properties": {}, "x-words": True}, {}, ["x"]) == ({}, ["x"])


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("a,b, c", ["a", "b", "c"]),
        ('Apple,"Dragon Fruit"', ["Apple", "Dragon Fruit"]),
        ('"a, b",c', ["a, b", "c"]),
        ("", []),
    ],
)
def test_comma_lists_as_the_parser_writes_them(text: str, items: list[str]) -> None:
    assert split_list(text) == items
