"""The Lua scripts and Python agree on every key and set (issue 25, part 4): each key shape is written once, in
keys.py (KeyLayout), and the scripts get it as a generated Lua function (run here in a real Redis), for the
unprefixed layout and a prefixed one alike (issue 28, item 5); the status and field sets come from model.py;
keys.py's table lists every key it builds, and no other module spells one."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

import heroagent
from heroagent.jobs import keys, model
from heroagent.jobs.live import scripts
from heroagent.redis_cluster import slot_of
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import external_redis

LUA_DIR = resources.files("heroagent.jobs.live").joinpath("lua")
SCRIPT_NAMES = sorted(p.name.removesuffix(".lua") for p in LUA_DIR.iterdir() if p.name.endswith(".lua"))
# A text argument with the separator in it and a space: the shape must keep it whole.
SAMPLES: dict[type, Any] = {str: "a:b c", int: 42}
DEFAULT = keys.KeyLayout()
# The unprefixed layout, and a prefix with Lua pattern characters in it ('.', '-'): a parser must escape them;
# each also as a Redis Cluster's layout (the hash tag's braces in every key).
LAYOUTS = [DEFAULT, keys.KeyLayout("team-a.x:b_1:")]
LAYOUTS += [keys.KeyLayout(layout.prefix, cluster=True) for layout in LAYOUTS]


@pytest.fixture
def client(data_dir: Path) -> Iterator[redis.Redis]:
    server: EmbeddedRedis = external_redis(data_dir)
    connected = redis.Redis.from_url(server.url, socket_timeout=5, decode_responses=True)
    try:
        yield connected
    finally:
        connected.close()
        server.stop()


def sample_args(build: Callable[..., str]) -> list[Any]:
    hints = typing.get_type_hints(build)
    return [SAMPLES[hints[name]] for name in inspect.signature(build).parameters]


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_each_lua_key_function_builds_the_key_of_keys_py(client: redis.Redis, layout: keys.KeyLayout) -> None:
    header = scripts.keys_header(layout)
    for name, build in scripts.key_functions(layout).items():
        args = sample_args(build)
        got = client.eval(f"{header}return {name}(unpack(ARGV))", 0, *args)
        assert got == build(*args), name
        if name != "inflight_member":  # a member, not a key: the same in every layout
            assert got.startswith(layout.start), name


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_a_job_key_parses_back_to_its_topic_and_id(layout: keys.KeyLayout) -> None:
    assert layout.parse_job(layout.job("a:b c", 42)) == ("a:b c", 42)


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_each_lua_parser_takes_its_shape_apart(client: redis.Redis, layout: keys.KeyLayout) -> None:
    header = scripts.keys_header(layout)
    for name in scripts.PARSED_SHAPES:
        build = scripts.key_functions(layout)[name]
        args = sample_args(build)
        parse = f"{header}return {{{name}_parts(ARGV[1])}}"
        assert client.eval(parse, 0, build(*args)) == [str(arg) for arg in args], name
        assert client.eval(parse, 0, "heroqueue:nothing-of-that-shape") == [], name
    other = LAYOUTS[1] if layout == DEFAULT else DEFAULT  # another layout's job key is none of this one's
    assert client.eval(f"{header}return {{job_key_parts(ARGV[1])}}", 0, other.job("t", 1)) == []


def test_each_layout_has_scripts_of_its_own() -> None:
    """The prefix is baked into the text: the scripts of two layouts differ (so do their SHAs), and the
    unprefixed layout's are the scripts HeroAgent had before prefixes (no prefix anywhere)."""
    for name in SCRIPT_NAMES:
        plain, prefixed, tagged, _ = (scripts.source(name, layout) for layout in LAYOUTS)
        if "_key(" in plain or "'hero" in plain:
            assert len({plain, prefixed, tagged}) == 3, name
        assert LAYOUTS[1].prefix not in plain, name
    assert scripts.source("create", keys.KeyLayout("team-a.x:b_1:")) is scripts.source("create", LAYOUTS[1])


def test_the_lua_sets_are_those_of_model_py(client: redis.Redis) -> None:
    listed = """
local function members(set) local out = {} for name in pairs(set) do out[#out + 1] = name end return out end
return {members(TERMINAL), members(RUNNING), members(NUMBER_FIELDS)}"""
    terminal, running, numbers = client.eval(scripts.source("common", DEFAULT) + listed, 0)
    assert set(terminal) == {s.value for s in model.TERMINAL}
    assert set(running) == {s.value for s in model.RUNNING}
    assert set(numbers) == model.HASH_NUMBER_FIELDS
    assert set(numbers) - model.NUMBER_FIELDS == {"lost", "parents_left"}


def test_the_number_fields_are_the_jobs_numbers() -> None:
    job = model.Job(topic="t", params="")
    numbers = {name for name, value in job.to_dict().items() if type(value) in (int, float)}
    assert numbers == model.NUMBER_FIELDS


def test_no_script_builds_or_spells_a_key_itself() -> None:
    for name in SCRIPT_NAMES:
        text = LUA_DIR.joinpath(f"{name}.lua").read_text(encoding="utf-8")
        assert "${PREFIX_" not in text, f"{name}.lua puts a key together: use a function of `--! include keys`"
        assert not re.search(r"'hero", text), f"{name}.lua spells a key: name it from keys.py"


@pytest.mark.parametrize("layout", LAYOUTS, ids=repr)
def test_every_script_reads_whole_and_compiles(client: redis.Redis, layout: keys.KeyLayout) -> None:
    for name in SCRIPT_NAMES:
        text = scripts.source(name, layout)
        client.script_load(text)  # Redis compiles it: a syntax error is a ResponseError here
        assert "${" not in text, name
        assert not any(line.startswith(scripts.INCLUDE) for line in text.splitlines()), name


def test_a_name_nobody_defines_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="NOT_DEFINED"):
        scripts.fill("return '${NOT_DEFINED}'", "example", DEFAULT)
    assert scripts.fill("return '${EVENTS}', ${MAX_PRIORITY}", "example", DEFAULT) == "return 'hero:events', 9"
    prefixed = scripts.fill("return '${EVENTS}', '${EVENTS_GROUP}'", "example", LAYOUTS[1])
    assert prefixed == "return 'team-a.x:b_1:hero:events', 'recorder'"  # a group name is no key


# ---------------------------------------------------------------- keys.py's table


def table_rows() -> list[str]:
    """The first column of each row of keys.py's table (a key, `<name>` for an argument)."""
    doc = keys.__doc__ or ""
    return [m.group(1) for m in re.finditer(r"^(hero\S*)\s+(?:hash|string|list|set|zset|stream|channel)\s", doc, re.M)]


def key_functions() -> dict[str, Callable[..., Any]]:
    """The methods of the unprefixed layout, and the functions of keys.py."""
    methods = {n: m for n, m in inspect.getmembers(DEFAULT, inspect.ismethod) if not n.startswith("_")}
    functions = {n: f for n, f in inspect.getmembers(keys, inspect.isfunction) if f.__module__ == keys.__name__}
    return {**methods, **functions}


NOT_KEYS = {
    "of",
    "all_of",
    "every_partition",
    "topic_partition",
    "job_id_partition",
    "queue_score",
    "parse_inflight_member",
    "inflight_member",
    "parse_job",
    "every_job_pattern",
    "every_layout_pattern",
    "prefix_of",
    "webhook_member",
    "parse_webhook_member",
}
# a score, parsers, members, SCAN patterns


def constants() -> dict[str, Any]:
    """The attributes in capitals of the unprefixed layout, and the constants of keys.py."""
    named = {**vars(keys), **vars(DEFAULT)}
    return {name: value for name, value in named.items() if name.isupper()}


def rendered(fn: Callable[..., Any]) -> str:
    return str(fn(*(f"<{name}>" for name in inspect.signature(fn).parameters)))


def test_the_table_lists_every_key_of_keys_py() -> None:
    rows = table_rows()
    doc = keys.__doc__ or ""
    for name, fn in key_functions().items():
        if name not in NOT_KEYS:
            assert rendered(fn) in rows, f"keys.{name} builds {rendered(fn)}, not in keys.py's table"
    assert f'"{rendered(keys.inflight_member)}"' in doc
    for name, value in constants().items():
        if not isinstance(value, str):
            continue
        if name.startswith("PREFIX_"):
            assert any(row.startswith(f"{value}:") for row in rows), f"keys.{name} = {value!r}"
        elif name == "EVENTS_GROUP":
            assert f'group "{value}"' in doc
        else:
            assert value in rows, f"keys.{name} = {value!r} is not in keys.py's table"


def test_every_key_of_the_table_is_built_by_keys_py() -> None:
    built = {rendered(fn) for name, fn in key_functions().items() if name not in NOT_KEYS}
    built |= {value for value in constants().values() if isinstance(value, str)}
    assert [row for row in table_rows() if row not in built] == []


# Text about a job's origin, "hero:<script_type>:<id>" (a job taken from a hero queue): not a key.
ORIGIN_TEXT = "hero:<script_type>:<id>"


def key_like_strings(path: Path) -> list[str]:
    """The string constants of a module (docstrings aside) that start a key: `hero:x`, `herojobs:`..."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    key_like = re.compile(r"\bhero(?:jobs|queue)?:(?:[\w*<{]|$)")
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and key_like.search(node.value)
        and ORIGIN_TEXT not in node.value
    ]


def test_no_module_but_keys_py_spells_a_key() -> None:
    package = Path(heroagent.__file__).parent
    found = {
        str(path.relative_to(package)): strings
        for path in sorted(package.rglob("*.py"))
        if path != package / "jobs" / "keys.py" and (strings := key_like_strings(path))
    }
    # The one left is the start of a job's origin (schema.job.HERO_ORIGIN, as in "hero:osis:h42"), not a key.
    assert found == {"schema/job.py": ["hero:"]}


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_script_names_each_status_through_jobstatus_not_a_literal_of_its_own(name: str) -> None:
    """A status the scripts write or compare is `'${STATUS_NEW}'`, filled in from JobStatus: renaming a
    status in Python cannot leave a script writing the old word (issue 26, item 6)."""
    code = "\n".join(line.split("--", 1)[0] for line in LUA_DIR.joinpath(f"{name}.lua").read_text().splitlines())
    statuses = "|".join(s.value for s in model.JobStatus)
    written = re.findall(rf"'status', '({statuses})'", code)
    compared = re.findall(rf"(?<!fields\[i\] )(?:==|~=) '({statuses})'", code)
    assigned = re.findall(rf"status = '({statuses})'", code)
    assert not (written or compared or assigned), (written, compared, assigned)
    assert "${STATUS_" not in scripts.source(name, DEFAULT)  # every one filled in


def test_a_status_placeholder_is_the_statuss_value() -> None:
    assert scripts.fill("'${STATUS_CANCELING}'", "test", DEFAULT) == "'canceling'"


@pytest.mark.parametrize("prefix", ["", "team-a:"])
def test_every_key_of_a_cluster_layout_is_in_the_slot_of_its_hash_tag(prefix: str) -> None:
    """With `[redis] cluster`, one slot holds every key: a script, MULTI or BLPOP never spans two (CROSSSLOT)."""
    layout = keys.KeyLayout(prefix, cluster=True)
    slot = slot_of(layout.hash_tag)
    built = [
        str(method(*(f"<{name}>" for name in inspect.signature(method).parameters)))
        for name, method in inspect.getmembers(layout, inspect.ismethod)
        if not name.startswith("_") and name not in NOT_KEYS
    ]
    built += [value for name, value in vars(layout).items() if name.isupper() and isinstance(value, str)]
    assert len(built) > 60
    for key in built:
        assert key.startswith(f"{prefix}{{{prefix}hero}}"), key
        assert key_slot(key.encode()) == slot, key
    assert keys.KeyLayout(prefix) != layout and slot_of(keys.KeyLayout("b:", cluster=True).hash_tag) != slot
