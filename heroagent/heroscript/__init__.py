"""HeroScript: the Hero ecosystem's action language (`!!actor.name key:value`).

`call` (writing a call with correct quoting, build.py) loads on first use: a reader of HeroScript does
not need the writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from heroagent.heroscript.parser import (
    Action,
    HeroScriptError,
    name_fix,
    parse,
    parse_cached,
    parse_job,
    parse_job_cached,
)
from heroagent.lazy import lazy_exports

__all__ = [
    "Action",
    "HeroScriptError",
    "call",
    "name_fix",
    "parse",
    "parse_cached",
    "parse_job",
    "parse_job_cached",
]

if TYPE_CHECKING:
    from heroagent.heroscript.build import call

__getattr__, __dir__ = lazy_exports(__name__, {"call": "heroagent.heroscript.build"})
