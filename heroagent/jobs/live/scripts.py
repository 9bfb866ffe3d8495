"""The job system's Lua scripts: kept in `heroagent/jobs/live/lua/*.lua`, read once and registered per
client and key layout.

A script never spells a Redis key, nor puts one together. Every key shape is written once, as a method of
keys.KeyLayout, and the scripts get it from there, for the layout they are loaded for (its key prefix baked
into the text: each layout's scripts have SHAs of their own, and two layouts on one Redis never run each
other's):

- `--! include keys` puts in front of a script one Lua function per key shape the scripts build
  (`job_key(topic, job_id)`, `queue_key(topic)`, `wake_key(topic)`... see KEY_FUNCTIONS), generated here
  from the KeyLayout method that builds the same key in Python, and for the shapes scripts also take
  apart, `<name>_parts(text)`, which returns the arguments (nil when the text is not of that shape).
- A key that is one fixed name is `${NAME}` for the layout's attribute (`${EVENTS}`, `${INFLIGHT}`), and a
  number keys.py builds scores with is `${NAME}` for its constant (`${QUEUE_SCORE_SPAN}`).
- The sets of statuses and fields the scripts share with Python are `${NAME}` too, filled in with a Lua
  table (`{['done'] = true, ...}`) of the set of model.py (LUA_SETS): `${TERMINAL_STATUSES}`...
- A status is `'${STATUS_NEW}'`, `'${STATUS_CANCELED}'`...: JobStatus's value, never a literal of its own.

`--! include common` puts the shared functions (common.lua) in front of the script; common.lua includes
keys itself. A `${NAME}` that neither keys.py (KeyLayout) nor LUA_SETS defines is a KeyError when the script is
read, so a renamed constant cannot leave a script with a wrong key.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import redis
from redis.commands.core import Script

from heroagent.jobs import keys, model

INCLUDE = "--! include "
KEYS_HEADER = "keys"  # the include generated here, not read from a file

# Lua function name -> the KeyLayout method whose key it builds: each key shape the scripts need, once.
# `inflight_member` is the member of hero:inflight and hero:scheduled ("<topic>:<job_id>": no key, the same in
# every layout), and `done_channel` the pub/sub channel of a job's end.
KEY_FUNCTIONS: dict[str, str] = {
    "job_key": "job",
    "queue_key": "queue",
    "limits_key": "limits",
    "running_key": "running",
    "rate_key": "rate",
    "lock_key": "no_overlap_lock",
    "wake_key": "wake",
    "takers_key": "takers",
    "taker_key": "taker",
    "inbox_key": "inbox",
    "idempotency_key": "idempotency",
    "done_channel": "job_done",
    "inflight_member": "inflight_member",
    "dependents_key": "dependents",
    "parents_key": "parents",
    "webhook_key": "webhook",
}
# The shapes scripts also take apart (a job key the sweep is given, the members of the lease and delay sets).
PARSED_SHAPES = ("job_key", "inflight_member")

# `${NAME}` -> the set of model.py it stands for, as a Lua table of name = true.
LUA_SETS: dict[str, frozenset[str]] = {
    "TERMINAL_STATUSES": frozenset(status.value for status in model.TERMINAL),
    "RUNNING_STATUSES": frozenset(status.value for status in model.RUNNING),
    "HASH_NUMBER_FIELDS": model.HASH_NUMBER_FIELDS,
}


def key_functions(layout: keys.KeyLayout) -> dict[str, Callable[..., str]]:
    """Each Lua key function's Python twin in `layout` (KEY_FUNCTIONS): a method of it, or the module's
    function for what is no key."""
    return {lua: getattr(layout, name, None) or getattr(keys, name) for lua, name in KEY_FUNCTIONS.items()}


@functools.cache
def source(name: str, layout: keys.KeyLayout) -> str:
    """The full text of script `name` (without `.lua`) for `layout`: includes and `${NAME}`s filled in, the
    layout's key prefix in every key (so each layout's scripts have SHAs of their own)."""
    text = resources.files("heroagent.jobs.live").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(INCLUDE):
            included = line[len(INCLUDE) :].strip()
            lines.append(keys_header(layout) if included == KEYS_HEADER else source(included, layout))
        else:
            lines.append(line)
    return fill("".join(lines), name, layout)


_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def fill(text: str, script: str, layout: keys.KeyLayout) -> str:
    """`text` with each `${NAME}` replaced by its value in `layout`; KeyError names one nobody defines."""
    values = _values(layout)

    def value(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        if found is None:
            raise KeyError(
                f"{script}.lua names ${{{match.group(1)}}}, which neither keys.py (KeyLayout) nor scripts.LUA_SETS "
                "defines"
            )
        return found

    return _PLACEHOLDER.sub(value, text)


def _constants(names: dict[str, Any]) -> dict[str, str]:
    """The names in capitals of `names` whose value is a text or a number, as text."""
    return {
        name: str(value)
        for name, value in names.items()
        if name.isupper() and isinstance(value, str | int) and not isinstance(value, bool)
    }


@functools.cache
def _values(layout: keys.KeyLayout) -> dict[str, str]:
    """Every `${NAME}`: the keys of `layout` and the constants of keys.py as they are, the sets as Lua tables."""
    values = _constants(vars(keys))
    sets = {name: lua_set(members) for name, members in LUA_SETS.items()}
    for defined_by, more in (("KeyLayout", _constants(vars(layout))), ("scripts.LUA_SETS", sets)):
        clash = values.keys() & more.keys()
        if clash:
            raise RuntimeError(f"{defined_by} defines {sorted(clash)}, which keys.py already does")
        values.update(more)
    values.update((f"STATUS_{status.name}", status.value) for status in model.JobStatus)  # '${STATUS_NEW}'
    return values


def lua_set(members: Iterable[str]) -> str:
    """A Lua table with each member as a key mapped to true (a set, as the scripts test membership)."""
    return "{" + ", ".join(f"[{lua_string(member)}] = true" for member in sorted(members)) + "}"


def lua_string(text: str) -> str:
    """`text` as a Lua string literal."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


@functools.cache
def keys_header(layout: keys.KeyLayout) -> str:
    """The Lua functions of `--! include keys` for `layout`: each key shape of KEY_FUNCTIONS (its prefix in the
    fixed text), and the parsers of PARSED_SHAPES."""
    # The unprefixed layout's scripts are the very text (and SHA) HeroAgent had before key prefixes.
    of = f" of key prefix {layout.prefix}" if layout.prefix else ""
    lines = [f"-- Key shapes{of}, generated by jobs/live/scripts.py from the functions of jobs/keys.py.\n"]
    for name, build in key_functions(layout).items():
        params, parts = _shape(build)
        lines.append(f"local function {name}({', '.join(params)}) return {_lua_concat(params, parts)} end\n")
        if name in PARSED_SHAPES:
            pattern = lua_string(_lua_pattern(build, params, parts))
            lines.append(f"local function {name}_parts(text) return string.match(text, {pattern}) end\n")
    return "".join(lines)


def _shape(build: Callable[..., str]) -> tuple[list[str], list[str | int]]:
    """The parameter names of `build` and the key it makes: its fixed text and (as indexes) its arguments, in
    order. Found by calling it with a marker for each argument, so the shape comes from keys.py as it is."""
    params = list(inspect.signature(build).parameters)
    built = build(*(f"\0{index}\0" for index in range(len(params))))
    pieces = re.split("\0([0-9]+)\0", built)
    parts: list[str | int] = [int(piece) if odd else piece for odd, piece in _alternating(pieces)]
    used = sorted(part for part in parts if isinstance(part, int))
    if used != list(range(len(params))) or "\0" in "".join(p for p in parts if isinstance(p, str)):
        raise ValueError(f"KeyLayout.{build.__name__} must use each of its arguments once, as it is")
    return params, [part for part in parts if part != ""]


def _alternating(pieces: list[str]) -> Iterable[tuple[bool, str]]:
    """re.split's pieces with a flag: True for a captured argument index (every second piece)."""
    return ((index % 2 == 1, piece) for index, piece in enumerate(pieces))


def _lua_concat(params: list[str], parts: list[str | int]) -> str:
    return " .. ".join(params[part] if isinstance(part, int) else lua_string(part) for part in parts)


def _lua_pattern(build: Callable[..., str], params: list[str], parts: list[str | int]) -> str:
    """A Lua pattern that matches the whole key and captures its arguments: digits for an int argument,
    anything (the longest match) for text; as the scripts matched it by hand before."""
    hints = typing.get_type_hints(build)
    out = []
    for part in parts:
        if isinstance(part, int):
            out.append("(%d+)" if hints.get(params[part]) is int else "(.*)")
        else:
            out.append(re.sub(r"([%^$().\[\]*+\-?])", r"%\1", part))
    return "^" + "".join(out) + "$"


def register(client: redis.Redis, name: str, layout: keys.KeyLayout) -> Script:
    """Script `name` of `layout` bound to `client`: called by SHA (EVALSHA), loaded into Redis on first use."""
    return client.register_script(source(name, layout))
