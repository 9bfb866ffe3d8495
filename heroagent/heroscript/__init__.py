"""HeroScript: the Hero ecosystem's action language (`!!actor.name key:value`)."""

from heroagent.heroscript.parser import (
    Action,
    HeroScriptError,
    name_fix,
    parse,
    parse_cached,
    parse_job,
    parse_job_cached,
)

__all__ = ["Action", "HeroScriptError", "name_fix", "parse", "parse_cached", "parse_job", "parse_job_cached"]
