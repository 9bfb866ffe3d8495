"""An action's params checked against its schema, and typed: the job contract's values.

An actor's signature becomes a JSON Schema per action (jobs/run/signatures.py); every process that
serves the actor publishes it, and every creator checks a new job's params against it here, so a
mistake is a 400 at submit instead of a failure at run time. The worker converts the same way before
it calls the action, so the action gets typed values.

Only the JSON Schema the signatures produce is understood: `type` (string, integer, number, boolean,
null, array, object), `enum`, `items`, `properties` / `required` / `additionalProperties`, `anyOf`
(a union, `Optional`), `default`, `title`. An empty schema `{}` takes any value.

Values come two ways:
- from HeroScript (`from_text=True`): every value is text, converted by the schema: "3" -> 3,
  "false" -> False, "a,b" -> ["a", "b"], a JSON object's text -> a dict; an empty text is None where
  None is allowed;
- from JSON or Python: the value must already have its type (3, not "3"; true, not "true").

Numbers are finite (NaN, infinities and 1e400 are refused) and whole numbers fit 64 bits; texts are valid
UTF-8 (no lone surrogates). An error names the param, the type expected and the value given.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from heroagent.errors import InvalidInputError

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32  # nesting a value may have (a list of dicts of lists...): deep JSON is not a param
_WHOLE = re.compile(r"[+-]?[0-9]{1,40}")  # longer is refused as text, shorter by its bounds
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")
TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


class ParamError(InvalidInputError):
    """A param that does not fit its action's schema: the message names it, the type and the value."""


def shown(value: Any, limit: int = 60) -> str:
    """A value as an error shows it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(schema: Mapping[str, Any]) -> str:
    """The type a schema asks for, in words ("a whole number", "a list of texts", "one of 'a', 'b'")."""
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(describe(option) for option in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"a list of {_plural(describe(schema.get('items', {})))}"
    if kind == "object" and schema.get("title"):
        return f"a {schema['title']} object"
    return _WORDS.get(str(kind), "any value")


_WORDS = {
    "string": "a text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "none",
    "object": "an object",
}


def _plural(words: str) -> str:
    for single, many in (
        ("a whole number", "whole numbers"),
        ("a number", "numbers"),
        ("a text", "texts"),
        ("true or false", "true/false values"),
    ):
        if words == single:
            return many
    return words


def with_args(
    schema: Mapping[str, Any], params: Mapping[str, Any], args: list[str] | tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """A HeroScript action's positional words given to the params they stand for, in the order the
    action declares them (skipping those given by name): (params, the words left for `*args`, when the
    action takes such words: schema `x-words`). Too many words is a ParamError."""
    merged = dict(params)
    free = [name for name in schema.get("properties", {}) if name not in merged]
    words = list(args)
    while words and free:
        merged[free.pop(0)] = words.pop(0)
    if words and not schema.get("x-words"):
        raise ParamError(
            f"{len(args)} positional word(s) ({shown(' '.join(args))}) for fewer params; name them (key:value)"
        )
    return merged, words


def check_params(
    schema: Mapping[str, Any], params: Mapping[str, Any], *, from_text: bool, where: str = ""
) -> dict[str, Any]:
    """The params of one call, typed, checked against the action's schema (an object schema): unknown
    params (unless it takes any), missing required ones and each value. ParamError names what is wrong.
    (On every create: kept to plain dict work.)"""
    prefix = f"{where}: " if where else ""
    properties: Mapping[str, Any] = schema.get("properties", _NONE)
    extra = schema.get("additionalProperties", False)
    if extra is False and not params.keys() <= properties.keys():
        unknown = sorted(params.keys() - properties.keys())
        accepted = ", ".join(properties) or "none"
        raise ParamError(f"{prefix}unknown param(s) {', '.join(unknown)}; accepted: {accepted}")
    required = schema.get("required")
    if required and not all(name in params for name in required):
        missing = [name for name in required if name not in params]
        raise ParamError(f"{prefix}missing required param(s) {', '.join(missing)}")
    values_schema = extra if type(extra) is dict else _NONE
    return {
        name: convert(properties.get(name, values_schema), value, from_text=from_text, name=prefix + name)
        for name, value in params.items()
    }


_NONE: dict[str, Any] = {}


def convert(schema: Mapping[str, Any], value: Any, *, from_text: bool, name: str, depth: int = 0) -> Any:
    """`value` as `schema` types it; ParamError naming `name` when it does not fit."""
    if depth > MAX_DEPTH:
        raise ParamError(f"{name}: nested more than {MAX_DEPTH} levels deep")
    if type(value) is str and not value.isascii():
        _check_text(value, name)
    if "anyOf" in schema:
        return _any_of(schema, value, from_text=from_text, name=name, depth=depth)
    if "enum" in schema:
        return _enum(schema, value, from_text=from_text, name=name)
    kind = schema.get("type")
    if kind is None:
        return _any(value, name, depth)
    converter = _CONVERTERS.get(kind)
    if converter is None:
        raise ParamError(f"{name}: the schema's type {kind!r} is not one HeroAgent checks")
    return converter(schema, value, from_text, name, depth)


def _fail(schema: Mapping[str, Any], value: Any, name: str) -> ParamError:
    return ParamError(f"{name}: expected {describe(schema)}, got {shown(value)}")


def _check_text(value: str, name: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ParamError(f"{name}: not valid UTF-8 text (a lone surrogate?)") from None


def _any_of(schema: Mapping[str, Any], value: Any, *, from_text: bool, name: str, depth: int) -> Any:
    options: list[Mapping[str, Any]] = list(schema["anyOf"])
    # From text, a non-text type is tried first: "3" for int | str is the number 3.
    ordered = sorted(options, key=lambda o: o.get("type") == "string") if from_text else options
    for option in ordered:
        try:
            return convert(option, value, from_text=from_text, name=name, depth=depth)
        except ParamError:
            continue
    raise _fail(schema, value, name)


def _enum(schema: Mapping[str, Any], value: Any, *, from_text: bool, name: str) -> Any:
    allowed = list(schema["enum"])
    for choice in allowed:
        if value == choice and type(value) is type(choice):
            return choice
        if from_text and isinstance(value, str) and not isinstance(choice, str) and value == _as_text(choice):
            return choice
    raise _fail(schema, value, name)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _any(value: Any, name: str, depth: int) -> Any:
    """A value with no declared type: any JSON value (checked for finite numbers and depth)."""
    if depth > MAX_DEPTH:
        raise ParamError(f"{name}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{name}: {value!r} is not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        raise ParamError(f"{name}: {shown(value)} does not fit 64 bits")
    if isinstance(value, list):
        return [_any(item, f"{name}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _any(v, f"{name}.{k}", depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ParamError(f"{name}: {type(value).__name__} is not a JSON value")


def _string(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> str:
    if not isinstance(value, str):
        raise _fail(schema, value, name)
    return value


def _integer(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> int:
    if from_text and isinstance(value, str):
        if not _WHOLE.fullmatch(value):
            raise _fail(schema, value, name)
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(schema, value, name)
    if not INT_MIN <= value <= INT_MAX:
        raise ParamError(f"{name}: {shown(value)} does not fit 64 bits ({INT_MIN} to {INT_MAX})")
    return value


def _number(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> float:
    if from_text and isinstance(value, str):
        if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
            raise ParamError(f"{name}: expected a finite number, got {shown(value)}")
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(schema, value, name)
    try:
        number = float(value)
    except OverflowError:
        raise ParamError(f"{name}: {shown(value)} is too large for a number") from None
    if not math.isfinite(number):
        raise ParamError(f"{name}: {shown(value)} is not a finite number")
    return number


def _boolean(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> bool:
    if from_text and isinstance(value, str):
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
    if isinstance(value, bool):
        return value
    raise _fail(schema, value, name)


def _null(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> None:
    if value is None or (from_text and value in ("", "none", "null")):
        return None
    raise _fail(schema, value, name)


def _array(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> list[Any]:
    if from_text and isinstance(value, str):
        value = split_list(value)
    if not isinstance(value, list | tuple):
        raise _fail(schema, value, name)
    items: Mapping[str, Any] = schema.get("items", {})
    return [
        convert(items, item, from_text=from_text, name=f"{name}[{i}]", depth=depth + 1) for i, item in enumerate(value)
    ]


def _object(schema: Mapping[str, Any], value: Any, from_text: bool, name: str, depth: int) -> dict[str, Any]:
    if from_text and isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ParamError(f"{name}: expected {describe(schema)} as JSON text, got {shown(value)}") from None
        from_text = False  # what JSON gave is typed
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(schema, value, name)
    if "properties" in schema:
        return check_params(schema, value, from_text=from_text, where=name)
    values: Mapping[str, Any] = schema.get("additionalProperties", {})
    if not isinstance(values, Mapping):
        values = {}
    return {k: convert(values, v, from_text=from_text, name=f"{name}.{k}", depth=depth + 1) for k, v in value.items()}


_CONVERTERS = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "null": _null,
    "array": _array,
    "object": _object,
}


def split_list(text: str) -> list[str]:
    """A HeroScript comma list: `a,b, c` -> ['a', 'b', 'c']; an item in double quotes keeps its commas
    and spaces (`"a, b",c`), as the parser writes an item with a space; an empty text is an empty list."""
    if not text.strip():
        return []
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items
