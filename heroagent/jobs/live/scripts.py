"""The job system's Lua scripts: kept in `heroagent/jobs/live/lua/*.lua`, read and registered once.

A script never spells a Redis key: it names a key or prefix from keys.py as `${NAME}` (`${PREFIX_JOB}`,
`${EVENTS}`), filled in here from keys.py, so every key shape lives in that one module (and the numbers
keys.py builds them with: `${QUEUE_SCORE_SPAN}`). A first line
`--! include common` puts the shared functions (common.lua) in front of the script.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import redis
from redis.commands.core import Script

from heroagent.jobs import keys

INCLUDE = "--! include "


@functools.cache
def source(name: str) -> str:
    """The full text of script `name` (without `.lua`), includes and key names filled in."""
    text = resources.files("heroagent.jobs.live").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(INCLUDE):
            lines.append(source(line[len(INCLUDE) :].strip()))
        else:
            lines.append(line)
    return _KEY_NAME.sub(lambda m: _key_name(m.group(1), name), "".join(lines))


_KEY_NAME = re.compile(r"\$\{([A-Z_]+)\}")


def _key_name(name: str, script: str) -> str:
    value = _key_names().get(name)
    if value is None:
        raise KeyError(f"{script}.lua names ${{{name}}}, which keys.py does not define")
    return value


@functools.cache
def _key_names() -> dict[str, str]:
    return {
        name: str(value)
        for name, value in vars(keys).items()
        if name.isupper() and isinstance(value, str | int) and not isinstance(value, bool)
    }


def register(client: redis.Redis, name: str) -> Script:
    """Script `name` bound to `client`: called by SHA (EVALSHA), loaded into Redis on first use."""
    return client.register_script(source(name))
