"""An actor's signature as its job type's schema: one JSON Schema per action, from its type hints.

`def send(self, to: str, count: int = 1, urgent: bool = False)` gives
`{"type": "object", "properties": {"to": {"type": "string"}, "count": {"type": "integer", "default": 1},
"urgent": {"type": "boolean", "default": false}}, "required": ["to"], "additionalProperties": false}`.
The process that registers the actor publishes these (jobs/live/jobtypes.py) and every creator checks a
new job against them (schema/params.py), so the signature is the contract.

Understood: str, int, float, bool, None, `X | None` / Optional, unions, Literal, Enum, list[...] /
tuple[X, ...] / set[...], dict[str, ...], dataclasses and TypedDicts (their fields), Any. A parameter
without a hint, or with a hint this does not understand, takes any JSON value. `ctx` (the JobContext)
and `self` are not params; `*args` takes positional words past the named params (`x-words`);
`**kwargs` lets any other param through.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

Schema = dict[str, Any]
NOT_PARAMS = frozenset({"self", "ctx"})


def action_schema(method: Callable[..., Any]) -> Schema:
    """The JSON Schema of one action's params (an object schema)."""
    signature = inspect.signature(method)
    hints = _hints(method)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    takes_any = takes_words = False
    for name, param in signature.parameters.items():
        if name in NOT_PARAMS:
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            takes_words = True
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
            continue
        field = type_schema(hints.get(name, Any))
        if param.default is inspect.Parameter.empty:
            required.append(name)
        elif _is_json(param.default):
            field = {**field, "default": _json_default(param.default)}
        properties[name] = field
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": takes_any}
    if required:
        schema["required"] = required
    if takes_words:
        schema["x-words"] = True  # positional words past the named params go to its *args
    doc = inspect.getdoc(method)
    if doc:
        schema["description"] = doc.split("\n\n", 1)[0]
    return schema


def actor_schemas(instance: Any) -> dict[str, Schema]:
    """Action name -> schema, for every public method of an actor instance."""
    found: dict[str, Schema] = {}
    for name in dir(instance):
        if name.startswith("_"):
            continue
        method = getattr(instance, name, None)
        if callable(method) and not inspect.isclass(method):
            try:
                found[name] = action_schema(method)
            except (TypeError, ValueError):  # a builtin without a signature: it takes anything
                found[name] = {"type": "object", "properties": {}, "additionalProperties": True}
    return found


_HINTS: dict[Any, dict[str, Any]] = {}


def _hints(method: Callable[..., Any]) -> dict[str, Any]:
    """The method's type hints, resolved once per function (every call of an action asks: it is on the
    worker's path); a hint that cannot be resolved counts as none (Any)."""
    key = getattr(method, "__func__", method)
    found = _HINTS.get(key)
    if found is None:
        try:
            found = typing.get_type_hints(method)
        except Exception:  # a forward reference to a name the module does not have
            found = {}
        _HINTS[key] = found
    return found


def type_schema(hint: Any) -> Schema:
    """The JSON Schema of one Python type hint."""
    if hint is Any or hint is inspect.Parameter.empty or hint is object:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    simple = _SIMPLE.get(hint)
    if simple is not None:
        return dict(simple)
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return {"anyOf": [type_schema(arg) for arg in typing.get_args(hint)]}
    if origin is typing.Literal:
        return {"enum": [_json_default(v) for v in typing.get_args(hint)]}
    if origin is typing.Annotated:
        return type_schema(typing.get_args(hint)[0])
    if origin in (list, tuple, set, frozenset) or _is_abc(origin, ("Sequence", "Iterable", "Collection", "Set")):
        return _sequence(hint, origin)
    if origin is dict or _is_abc(origin, ("Mapping", "MutableMapping")):
        args = typing.get_args(hint)
        return {"type": "object", "additionalProperties": type_schema(args[1]) if len(args) == 2 else {}}
    if inspect.isclass(hint):
        return _class_schema(hint)
    return {}


_SIMPLE: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    list: {"type": "array"},
    dict: {"type": "object"},
}


def _is_abc(origin: Any, names: tuple[str, ...]) -> bool:
    return getattr(origin, "__module__", "") == "collections.abc" and getattr(origin, "__name__", "") in names


def _sequence(hint: Any, origin: Any) -> Schema:
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if origin is tuple and len(args) > 1 and len(set(args)) > 1:
        return {"type": "array"}  # a fixed tuple of mixed types: a list, not checked item by item
    return {"type": "array", "items": type_schema(args[0]) if args else {}}


def _class_schema(cls: type) -> Schema:
    if issubclass(cls, enum.Enum):
        return {"enum": [_json_default(member.value) for member in cls], "title": cls.__name__}
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        properties = {f.name: type_schema(hints.get(f.name, Any)) for f in fields}
        required = [
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        return _object(cls.__name__, properties, required)
    if typing.is_typeddict(cls):
        hints = typing.get_type_hints(cls)
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset(hints))
        return _object(cls.__name__, {k: type_schema(v) for k, v in hints.items()}, sorted(required_keys))
    return {}


def _object(title: str, properties: Mapping[str, Schema], required: list[str]) -> Schema:
    schema: Schema = {"type": "object", "title": title, "properties": dict(properties), "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _is_json(value: Any) -> bool:
    """Whether a default can be shown in JSON (a default of another kind is simply not shown)."""
    if isinstance(value, enum.Enum):
        return _is_json(value.value)
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def typed_kwargs(method: Callable[..., Any], converted: Mapping[str, Any]) -> dict[str, Any]:
    """Converted params with enums and dataclasses made from their JSON form, as the method declares
    them (the schema check gave JSON values: an Enum's value, a dataclass's dict)."""
    hints = _hints(method)
    return {name: build(hints.get(name, Any), value) for name, value in converted.items()}


def build(hint: Any, value: Any) -> Any:
    """A checked JSON value as the hint's Python type: Enum members, dataclasses, and lists of them."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(hint):
            if arg is not type(None) and _fits(arg, value):
                return build(arg, value)
        return value
    if origin in (list, set, frozenset, tuple) and isinstance(value, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        items = [build(args[0], v) for v in value] if len(args) == 1 else value
        return origin(items) if origin is not list else items
    if inspect.isclass(hint):
        if issubclass(hint, enum.Enum):
            return hint(value)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            hints = typing.get_type_hints(hint)
            return hint(**{k: build(hints.get(k, Any), v) for k, v in value.items()})
    return value


def _fits(hint: Any, value: Any) -> bool:
    """Whether a JSON value is of the hint's kind (which member of a union it was checked as)."""
    if inspect.isclass(hint):
        if issubclass(hint, enum.Enum):
            return value in {m.value for m in hint}
        if dataclasses.is_dataclass(hint):
            return isinstance(value, dict)
        if hint is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, hint)
    return True
