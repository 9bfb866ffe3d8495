"""The job contract at create: a HeroScript job is checked against the job types the live pools serve.

Each action the job calls must name an actor some pool serves (unless `[jobs] unknown_actors =
"accept"`, or no pool has published yet), an action that actor has, and params that fit the action's
schema: known names, every required one, each value convertible to its type (schema/params.py). A job
that breaks it is an InvalidJobError naming the line, the action, the param, the type and the value,
and nothing is created. The worker checks the same again before it runs the action (the contract
might have changed meanwhile), so what the history says was accepted is what runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heroagent.heroscript import Action, parse_job_cached
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.live.jobtypes import Contract, TypeInfo
from heroagent.jobs.model import ParamsType
from heroagent.schema.json_params import json_object
from heroagent.schema.params import ParamError, check_params, with_args

REFUSE, ACCEPT = "refuse", "accept"


def check_job(clean: Mapping[str, Any], job_type: str, contract: Contract, unknown_actors: str = REFUSE) -> None:
    """A new job (as `check_job_spec_and_type` gave it) against the contract: its HeroScript actions, or a
    json job's object against its action, unless it has no job type (other params types, a json job no
    handler is known for) or its topic is run outside HeroAgent. Every creator calls this."""
    if not job_type or clean.get("topic") in contract.outside:
        return
    if clean.get("params_type") == ParamsType.JSON:
        check_json(json_object(clean["params"])[1], clean["action"], contract.types, unknown_actors)
    else:
        check_actions(parse_job_cached(clean["params"]), contract.types, unknown_actors)


def check_contract(clean: dict[str, Any], job_type: str, contract: Contract, unknown_actors: str = REFUSE) -> str:
    """A new job against the contract, as every creator checks it (`build_job`, a schedule's jobs when it
    is added); a json job's action is resolved first and set in `clean`. Returns the job's type."""
    if clean.get("params_type") == ParamsType.JSON:
        clean["action"] = json_action(clean, contract, unknown_actors)
        job_type = clean["action"].partition(".")[0]
    check_job(clean, job_type, contract, unknown_actors)
    return job_type


def json_action(clean: Mapping[str, Any], contract: Contract, unknown_actors: str = REFUSE) -> str:
    """The action a new json job calls: the one it names, else its topic's handler. InvalidJobError when
    neither is known while workers have published (unless unknown actors are accepted: then '' and the
    worker that takes the job looks its topic's handler up)."""
    named = str(clean.get("action") or "")
    if named:
        return named
    topic = str(clean.get("topic") or "")
    found = contract.handler_for(topic) if topic else ""
    if found or unknown_actors != REFUSE or not contract.types or topic in contract.outside:
        return found
    where = f"topic {topic!r}" if topic else "a json job without a topic"
    raise InvalidJobError(
        f'action: {where} has no handler that a live worker serves; name the action ("action": "actor.name", '
        f"--action actor.name) or register one with @heroagent.handler({topic or 'topic'!r})"
    )


def check_json(
    params: Mapping[str, Any], action: str, types: Mapping[str, TypeInfo], unknown_actors: str = REFUSE
) -> None:
    """InvalidJobError when a json job's object does not fit the action it calls (`actor.action`)."""
    actor, _, name = action.partition(".")
    where = f"params (action {action})"
    info = types.get(actor)
    if info is None:
        if unknown_actors == REFUSE and types:
            raise InvalidJobError(
                f"action: no live worker serves actor {actor!r} (served: {', '.join(sorted(types))}); "
                'register it in a worker (--module), or set [jobs] unknown_actors = "accept"'
            )
        return
    schema = _action(info, Action(actor=actor, name=name), "action")
    try:
        check_params(schema, params, from_text=False, where=where)
    except ParamError as exc:
        raise InvalidJobError(str(exc)) from None


def check_actions(actions: tuple[Action, ...], types: Mapping[str, TypeInfo], unknown_actors: str = REFUSE) -> None:
    """InvalidJobError for the first action that breaks the contract of `types` (actor -> its job type)."""
    for action in actions:
        where = f"params: line {action.line}: !!{action.full_name}"
        info = types.get(action.actor)
        if info is None:
            if unknown_actors == REFUSE and types:
                raise InvalidJobError(
                    f"{where}: no live worker serves actor {action.actor!r} (served: {', '.join(sorted(types))}); "
                    'register it in a worker (--module), or set [jobs] unknown_actors = "accept"'
                )
            continue
        schema = _action(info, action, where)
        try:
            given, _ = with_args(schema, action.params, action.args)
            check_params(schema, given, from_text=True, where=where)
        except ParamError as exc:
            raise InvalidJobError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None


def _action(info: TypeInfo, action: Action, where: str) -> dict[str, Any]:
    actions: Mapping[str, Any] = info.get("actions", {})
    schema = actions.get(action.name)
    if not isinstance(schema, dict):
        known = ", ".join(sorted(actions)) or "none"
        raise InvalidJobError(f"{where}: actor {action.actor!r} has no action {action.name!r} (its actions: {known})")
    return schema


def type_defaults(types: Mapping[str, TypeInfo], job_type: str) -> dict[str, Any]:
    """The defaults a job type's pools declared for its jobs (timeout, retries, priority, topic, ...)."""
    info = types.get(job_type)
    defaults = info.get("defaults", {}) if info is not None else {}
    return dict(defaults) if isinstance(defaults, dict) else {}
