"""Runs one job's params by their type and returns its result text (or raises JobFailed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heroagent.config import JobsConfig
from heroagent.heroscript import Action, HeroScriptError, parse_cached
from heroagent.jobs.errors import JobSkipped, PermanentError
from heroagent.jobs.model import ParamsType
from heroagent.jobs.run import processors
from heroagent.jobs.run.actors import ActorRegistry
from heroagent.jobs.run.context import JobContext
from heroagent.jobs.run.isolation import run_in_child


class JobExecutor:
    def __init__(self, registry: ActorRegistry, share_root: Path | None, config: JobsConfig | None = None) -> None:
        self.registry = registry
        self.share_root = share_root
        self.config = config or JobsConfig()

    def execute(self, ctx: JobContext) -> str:
        kind = ctx.job.params_type
        if kind is ParamsType.HEROSCRIPT:
            return self._heroscript(ctx)
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
        return _unless_skipped(json.dumps(results, default=str, ensure_ascii=False), ctx)


def _unless_skipped(result: str, ctx: JobContext) -> str:
    """The result, unless a script the job ran printed "::skip <reason>": then the job ends skipped."""
    if ctx.skip_reason is not None:
        raise JobSkipped(ctx.skip_reason)
    return result
