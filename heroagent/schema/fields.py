"""Declarative input schemas: each field's type, bounds and length, checked the same way at every edge.

A `Schema` checks a mapping (from Python, JSON, the CLI, a request over Redis or the config) and raises
`InvalidInputError` naming the field and what is allowed; `json_schema()` gives the same rules as JSON
Schema for the OpenAPI document, so the document is generated from the rules, not written beside them.

Numbers must be finite (JSON, TOML and Python all let NaN and infinity through), booleans are not
numbers, and strings must be valid UTF-8 (a lone surrogate from JSON `"\\ud800"` cannot be stored).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from heroagent.errors import InvalidInputError

Kind = Literal["string", "number", "integer", "boolean", "time", "refs"]
MAX_REFS = 1000  # the jobs one job may depend on (a group's callback depends on each member)
_REF = re.compile(r"@(0|[1-9][0-9]{0,5})|[1-9][0-9]{0,15}")

_KIND_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "time": "an ISO 8601 time, unix seconds or a datetime",
    "refs": "a list of job ids (or '@N': the Nth job of the same call)",
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    description: str = ""
    required: bool = False
    minimum: float | None = None
    exclusive_minimum: bool = False  # minimum itself is not allowed
    maximum: float | None = None
    max_bytes: int | None = None  # UTF-8 length of a string
    min_length: int = 0
    pattern: str = ""  # the whole string must match
    pattern_hint: str = ""  # what the pattern allows, in words, for the error
    enum: tuple[str, ...] = ()
    default: Any = None
    or_object: bool = False  # a JSON object may stand for the text (a json job's params: kept as its text)

    def check(self, value: Any) -> Any:
        """The value if it is allowed; InvalidInputError naming the field if not."""
        kind = self.kind
        if kind == "refs":
            return self._check_refs(value)
        if kind == "time":  # a point in time: text (parsed later), unix seconds, or a datetime
            if isinstance(value, datetime):
                self._check_number(value.timestamp())
                return value
            kind = "string" if isinstance(value, str) else "number"
        if not _is_kind(value, kind):
            raise self.error(value, f"must be {_KIND_WORDS[self.kind]}")
        if kind in ("number", "integer"):
            self._check_number(value)
        elif kind == "string":
            self._check_string(value)
        return value

    def _check_refs(self, value: Any) -> list[int | str]:
        """Job references: ids (whole numbers >= 1) or '@N' (the Nth spec of the same call, from 0), given
        as a list or as text 'a,b,c' (the CLI, a form); returned as a list without repeats."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise self.error(value, f"must be {_KIND_WORDS['refs']}")
        if len(items) > MAX_REFS:
            raise InvalidInputError(f"{self.name}: {len(items)} jobs is over the limit of {MAX_REFS}")
        out: list[int | str] = []
        for item in items:
            ref: int | str
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise self.error(item, "is not a job id (a whole number >= 1) nor '@N'")
            text = item.strip() if isinstance(item, str) else str(item)
            if not _REF.fullmatch(text):
                raise self.error(item, "is not a job id (a whole number >= 1) nor '@N' (the Nth job of this call)")
            ref = text if text.startswith("@") else int(text)
            if ref not in out:
                out.append(ref)
        return out

    def _check_number(self, value: float) -> None:
        if isinstance(value, int):  # JSON's whole numbers have no size: 10**400 is no float (an OverflowError)
            if not -(2**63) <= value < 2**63:
                raise self.error(value, "is too large (a number must fit 64 bits)")
        elif not math.isfinite(value):
            raise self.error(value, "must be a finite number")
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                raise self.error(value, f"must be greater than {_num(self.minimum)}")
            if value < self.minimum:
                raise self.error(value, f"must be at least {_num(self.minimum)}")
        if self.maximum is not None and value > self.maximum:
            raise self.error(value, f"must be at most {_num(self.maximum)}")

    def _check_string(self, value: str) -> None:
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise self.error(value, "must be valid UTF-8 text (it holds a lone surrogate)") from None
        if self.max_bytes is not None and size > self.max_bytes:
            raise InvalidInputError(f"{self.name}: {size} bytes is over the limit of {self.max_bytes} bytes")
        if len(value) < self.min_length:
            raise InvalidInputError(f"{self.name}: must not be empty")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise self.error(value, self.pattern_hint or f"must match {self.pattern}")
        if self.enum and value not in self.enum:
            raise self.error(value, f"is not one of {', '.join(self.enum)}")

    def error(self, value: Any, why: str) -> InvalidInputError:
        return InvalidInputError(f"{self.name}: {_show(value)} {why}")

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "refs":
            item = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": f"^{_REF.pattern}$"}]}
            refs: dict[str, Any] = {"type": "array", "items": item, "maxItems": MAX_REFS}
            return {**refs, "description": self.description} if self.description else refs
        types = {"time": ["string", "number"]}.get(self.kind, self.kind)
        out: dict[str, Any] = {"type": types}
        if self.description:
            out["description"] = self.description
        if self.minimum is not None:
            out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.max_bytes is not None:
            out["maxLength"] = self.max_bytes  # characters <= bytes: a bound a client can check
        if self.min_length:
            out["minLength"] = self.min_length
        if self.pattern:
            out["pattern"] = f"^{self.pattern}$"
        if self.enum:
            out["enum"] = list(self.enum)
        if self.default is not None:
            out["default"] = self.default
        if self.or_object:
            text = {k: v for k, v in out.items() if k != "description"}
            out = {
                "anyOf": [text, {"type": "object"}],
                **({"description": self.description} if self.description else {}),
            }
        return out


@dataclass(frozen=True)
class Schema:
    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def check(self, data: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> dict[str, Any]:
        """The fields given (None = not given), each checked; unknown and missing fields are errors."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{self.name}: must be an object with the fields {', '.join(self.names())}")
        skip = set(ignore)
        unknown = sorted(str(k) for k in data if k not in skip and k not in self.names())
        if unknown:
            raise InvalidInputError(
                f"{', '.join(_show_name(k) for k in unknown)}: unknown field(s); allowed: {', '.join(self.names())}"
            )
        clean: dict[str, Any] = {}
        for f in self.fields:
            value = data.get(f.name)
            if value is None:
                if f.required:
                    raise InvalidInputError(f"{f.name}: required")
                continue
            clean[f.name] = f.check(value)
        return clean

    def errors(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Every field's problem at once (field -> message), for a form that shows them all; {} = none.
        Unknown fields are not reported here (a form only sends its own)."""
        found: dict[str, str] = {}
        for f in self.fields:
            value = data.get(f.name)
            if value is None:
                if f.required:
                    found[f.name] = "required"
                continue
            try:
                f.check(value)
            except InvalidInputError as exc:
                found[f.name] = str(exc).removeprefix(f"{f.name}: ")
        return found

    def json_schema(self, *, required: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {f.name: f.json_schema() for f in self.fields},
        }
        wanted = [f.name for f in self.fields if f.required]
        if required and wanted:
            out["required"] = wanted
        return out


def _is_kind(value: Any, kind: Kind) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "number":
        return isinstance(value, int | float)
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, {"string": str, "boolean": bool}[kind])


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"


def _show_name(name: str) -> str:
    return name if len(name) <= 40 and name.isprintable() else repr(name[:40])
