"""The params of a JSON job: one JSON object, whose keys are the arguments of the action it calls.

A creator gives the object itself (Python, the JSON API) or its text (the CLI, `redis-cli`, a seed-style
`CreateJob("email", '{"to": ...}')`). Either way it is checked here before anything is stored: an
object at the top, keys and texts valid UTF-8, numbers finite (NaN, Infinity and 1e400 are refused),
whole numbers within 64 bits, nesting at most MAX_DEPTH deep. The job keeps the text; a worker reads
it back with the same rules, so what was accepted is what runs.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any

from heroagent.schema.params import INT_MAX, INT_MIN, MAX_DEPTH, ParamError, convert, shown


def looks_like_json(params: Any) -> bool:
    """Whether params given without a params_type are a JSON job's: an object, or text that starts with
    '{' (HeroScript never does: its actions start with '!!')."""
    if isinstance(params, Mapping):
        return True
    return isinstance(params, str) and params.lstrip()[:1] == "{"


CACHED_TEXT_LIMIT = 4096  # a short text's object is kept (512 of them): the creator and the contract both ask


def json_object(params: Any, name: str = "params") -> tuple[str, dict[str, Any]]:
    """(its text, the object) of a JSON job's params given as an object or as text; ParamError naming
    what is wrong (a 400 at create). The object of a short text is shared by every caller: read it,
    never change it."""
    if isinstance(params, str) and len(params) <= CACHED_TEXT_LIMIT and name == "params":
        return _short(params)
    return _json_object(params, name)


@functools.lru_cache(maxsize=512)
def _short(text: str) -> tuple[str, dict[str, Any]]:
    return _json_object(text, "params")


def _json_object(params: Any, name: str) -> tuple[str, dict[str, Any]]:
    if isinstance(params, Mapping):
        value: Any = dict(params)
    elif isinstance(params, str):
        value = _parse(params, name)
    else:
        raise ParamError(f"{name}: a json job's params must be a JSON object, got {shown(params)}")
    if not isinstance(value, dict):
        raise ParamError(
            f'{name}: a json job\'s params must be a JSON object ({{"key": value, ...}}), got {shown(value)}'
        )
    checked = _checked(value, name, 0)
    text = params if isinstance(params, str) else json.dumps(checked, ensure_ascii=False, allow_nan=False)
    return text, checked


def _parse(text: str, name: str) -> Any:
    def refuse_constant(word: str) -> Any:
        raise ParamError(f"{name}: {word} is not a JSON number (JSON has no NaN or Infinity)")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ParamError(f"{name}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, and a whole number of more than 4300 digits
        if isinstance(exc, ParamError):
            raise
        raise ParamError(f"{name}: not valid JSON: {str(exc)[:200]}") from None


def _checked(value: Any, name: str, depth: int) -> Any:
    """The value if it is a JSON value HeroAgent keeps (convert's rules for an untyped value, plus valid
    UTF-8 in every key and text at any depth)."""
    if depth > MAX_DEPTH:
        raise ParamError(f"{name}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParamError(f"{name}: key {shown(key)} is not a text (JSON keys are texts)")
            _utf8(key, f"{name}: key {shown(key)}")
            out[key] = _checked(item, f"{name}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_checked(item, f"{name}[{i}]", depth + 1) for i, item in enumerate(value)]
    kind = type(value)
    if kind is str:
        if not value.isascii():
            _utf8(value, name)
        return value
    if kind is bool or value is None:
        return value
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise ParamError(f"{name}: {shown(value)} does not fit 64 bits")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ParamError(f"{name}: {value!r} is not a finite number")
        return value
    return convert({}, value, from_text=False, name=name, depth=depth)  # what else JSON has no word for


def _utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParamError(f"{what}: not valid UTF-8 text (a lone surrogate?)") from None
