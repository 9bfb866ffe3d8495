"""Runs one job's params by their type and returns its result text (or raises JobFailed).

HeroScript, json and OpenRPC jobs return a JSON value's text (a HeroScript job: the list of what its
actions returned; a json job: what its action returned); Rhai and AI jobs return text (`result_type`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heroagent.config import JobsConfig
from heroagent.heroscript import Action, HeroScriptError, parse_cached
from heroagent.jobs.errors import JobFailed, JobSkipped, PermanentError
from heroagent.jobs.model import RESULT_JSON, RESULT_TEXT, ParamsType
from heroagent.jobs.run import processors
from heroagent.jobs.run.actors import ActorRegistry
from heroagent.jobs.run.context import JobContext
from heroagent.jobs.run.isolation import run_in_child
from heroagent.schema.job import JSON_RESULT_TYPES
from heroagent.schema.json_params import json_object
from heroagent.schema.params import ParamError


class JobExecutor:
    def __init__(self, registry: ActorRegistry, share_root: Path | None, config: JobsConfig | None = None) -> None:
        self.registry = registry
        self.share_root = share_root
        self.config = config or JobsConfig()

    def execute(self, ctx: JobContext) -> str:
        kind = ctx.job.params_type
        if kind is ParamsType.HEROSCRIPT:
            return self._heroscript(ctx)
        if kind is ParamsType.JSON:
            return self._json(ctx)
        if kind is ParamsType.RHAISCRIPT:
            return _unless_skipped(processors.run_rhai(ctx, self.config), ctx)
        if kind is ParamsType.OPENRPC:
            return processors.run_openrpc(ctx, self.config, self.registry)
        return processors.run_ai(ctx, self.config)

    def _heroscript(self, ctx: JobContext) -> str:
        try:  # a job's text does not change: no retry fixes a syntax error
            actions = parse_cached(ctx.job.params)
        except HeroScriptError as exc:
            raise PermanentError(str(exc)) from None
        if not actions:
            raise PermanentError("HeroScript has no actions (expected a line like !!actor.name key:value)")
        if ctx.job.topic in self.config.process_topics or any(self.registry.isolated(a.actor) for a in actions):
            return run_in_child(lambda child_ctx: self._run_actions(actions, child_ctx), ctx)
        return self._run_actions(actions, ctx)

    def _run_actions(self, actions: tuple[Action, ...], ctx: JobContext) -> str:
        results: list[Any] = []
        for action in actions:
            if ctx.cancel.is_set():
                break
            results.append(self.registry.call(action, ctx))
        return _unless_skipped(result_json(results), ctx)

    def _json(self, ctx: JobContext) -> str:
        """A json job: its action (named, else its topic's handler here) called with the object's keys."""
        try:  # the rules it was accepted by (json_params.py): what was accepted is what runs
            params = json_object(ctx.job.params)[1]
        except ParamError as exc:
            raise PermanentError(str(exc)) from None
        named = ctx.job.action or self.registry.handler_for(ctx.job.topic)
        if not named:
            raise PermanentError(
                f"topic {ctx.job.topic!r} has no json handler in this worker and the job names no action: "
                f"register one with @heroagent.handler({ctx.job.topic!r}), or give the job an action"
            )
        actor, _, name = named.partition(".")
        action = Action(actor=actor, name=name, params=params)
        if ctx.job.topic in self.config.process_topics or self.registry.isolated(actor):
            return run_in_child(lambda child_ctx: self._call_json(action, child_ctx), ctx)
        return self._call_json(action, ctx)

    def _call_json(self, action: Action, ctx: JobContext) -> str:
        return _unless_skipped(result_json(self.registry.call(action, ctx, from_text=False)), ctx)


def result_type(kind: ParamsType) -> str:
    """Whether a job of this params type returns a JSON value's text or plain text (model.RESULT_*)."""
    return RESULT_JSON if kind in JSON_RESULT_TYPES else RESULT_TEXT


def result_json(value: Any) -> str:
    """What an action returned, as JSON text (a value JSON has no word for, such as a datetime or a set,
    as its str); NaN and infinities cannot be JSON: the job fails saying so."""
    try:
        return json.dumps(value, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise JobFailed(
            "the result holds NaN or an infinity, which JSON cannot carry: return None or a text instead"
        ) from None


def _unless_skipped(result: str, ctx: JobContext) -> str:
    """The result, unless a script the job ran printed "::skip <reason>": then the job ends skipped."""
    if ctx.skip_reason is not None:
        raise JobSkipped(ctx.skip_reason)
    return result
