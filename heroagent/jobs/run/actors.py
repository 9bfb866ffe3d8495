"""Actors: Python objects whose methods HeroScript actions call (`!!email.send to:...` -> email.send(to=...)).

Register with `@heroagent.actor("email")` on a class (instantiated once) or an instance; the agent's
`agent.actor(...)` does the same. A method gets the action's params as keyword arguments, positional
words as positional arguments, and the JobContext as `ctx` if it has such a parameter.
"""

from __future__ import annotations

import importlib
import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from heroagent.errors import InvalidInputError, ServiceError
from heroagent.heroscript import Action, name_fix
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.run.context import JobContext
from heroagent.schema.job import TypeDefaults, check_type_defaults

T = TypeVar("T")
ISOLATIONS = ("thread", "process")


class ActorRegistry:
    def __init__(self, parent: ActorRegistry | None = None) -> None:
        self._actors: dict[str, Any] = {}
        self._isolated: set[str] = set()
        self._types: dict[str, TypeDefaults] = {}  # actor -> its job type's defaults
        self._parent = parent
        self._lock = threading.Lock()

    def register(
        self,
        name: str,
        obj: Any,
        *,
        isolation: str = "thread",
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        priority: int | None = None,
        no_overlap: bool | None = None,
        topic: str | None = None,
    ) -> Any:
        """`isolation="process"` runs this actor's jobs in a child process that timeouts and cancel kill
        (see isolation.py); "thread" (the default) is faster, and cancel is cooperative there.
        `timeout`, `max_retries`, `retry_delay`, `priority`: the defaults of this job type, which a job
        calling this actor gets unless it gives its own (`[job_types.<name>]` in the config overrides
        them); `no_overlap=True`: one job of the type runs at a time, across all workers; `topic`: the
        topic its jobs go to when they name none."""
        if isolation not in ISOLATIONS:
            raise ValueError(f"actor {name!r}: isolation = {isolation!r}: must be one of {', '.join(ISOLATIONS)}")
        try:
            defaults = check_type_defaults(
                name_fix(name),
                {
                    "timeout": timeout,
                    "max_retries": max_retries,
                    "retry_delay": retry_delay,
                    "priority": priority,
                    "no_overlap": no_overlap,
                    "topic": topic,
                },
            )
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        instance = obj() if inspect.isclass(obj) else obj
        with self._lock:
            self._types[name_fix(name)] = defaults
            self._actors[name_fix(name)] = instance
            if isolation == "process":
                self._isolated.add(name_fix(name))
            else:
                self._isolated.discard(name_fix(name))
        return obj

    def actor(self, name: str, *, isolation: str = "thread", **defaults: Any) -> Callable[[T], T]:
        """Decorator: `@registry.actor("email", timeout=30) class Email: def send(self, to, subject): ...`."""

        def decorate(obj: T) -> T:
            self.register(name, obj, isolation=isolation, **defaults)
            return obj

        return decorate

    def types(self) -> dict[str, TypeDefaults]:
        """Every registered actor (a job type) and the defaults it declared ({} = none)."""
        found = self._parent.types() if self._parent is not None else {}
        with self._lock:
            found.update({name: dict(self._types.get(name, {})) for name in self._actors})
        return found

    def isolated(self, name: str) -> bool:
        """Whether the actor's jobs must run in a child process."""
        if name in self._actors:
            return name in self._isolated
        return self._parent.isolated(name) if self._parent is not None else False

    def get(self, name: str) -> Any | None:
        found = self._actors.get(name)
        if found is None and self._parent is not None:
            return self._parent.get(name)
        return found

    def names(self) -> list[str]:
        names = set(self._actors)
        if self._parent is not None:
            names |= set(self._parent.names())
        return sorted(names)

    def call(self, action: Action, ctx: JobContext) -> Any:
        where = f"line {action.line}: !!{action.full_name}"
        actor = self.get(action.actor)
        if actor is None:
            raise JobFailed(f"{where}: no actor {action.actor!r} is registered (known: {', '.join(self.names())})")
        method = getattr(actor, action.name, None)
        if action.name.startswith("_") or not callable(method):
            raise JobFailed(f"{where}: actor {action.actor!r} has no action {action.name!r}")
        kwargs: dict[str, Any] = dict(action.params)
        signature, wants_ctx, takes_any = _signature(method)
        if wants_ctx:
            kwargs["ctx"] = ctx
        if not takes_any and not kwargs.keys() <= signature.parameters.keys():
            unknown = sorted(set(kwargs) - set(signature.parameters))
            if unknown:
                accepted = [p for p in signature.parameters if p != "ctx"]
                raise JobFailed(f"{where}: unknown param(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
        try:
            return method(*action.args, **kwargs)
        except TypeError as exc:
            try:  # a wrong call (missing param) says so; a TypeError from inside the actor is its own
                signature.bind(*action.args, **kwargs)
            except TypeError as bind_error:
                raise JobFailed(f"{where}: {bind_error}") from None
            raise exc from None


_SIGNATURES: dict[Any, tuple[inspect.Signature, bool, bool]] = {}


def _signature(method: Any) -> tuple[inspect.Signature, bool, bool]:
    """(signature, takes ctx, takes **kwargs) of a method, computed once per function."""
    key = getattr(method, "__func__", method)
    found = _SIGNATURES.get(key)
    if found is None:
        signature = inspect.signature(method)
        parameters = signature.parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        found = (signature, "ctx" in parameters, takes_any)
        _SIGNATURES[key] = found
    return found


# The process-wide registry that `heroagent.actor(...)` fills (user modules decorate at import time);
# each agent's registry falls back to it.
global_registry = ActorRegistry()


def actor(
    name: str,
    *,
    isolation: str = "thread",
    timeout: float | None = None,
    max_retries: int | None = None,
    retry_delay: float | None = None,
    priority: int | None = None,
    no_overlap: bool | None = None,
    topic: str | None = None,
) -> Callable[[T], T]:
    """`@heroagent.actor("email", timeout=30, max_retries=5)`, or `@heroagent.actor("convert",
    isolation="process")` for code that must be stoppable by timeout and cancel whatever it does (a C
    call, a loop that ignores ctx.cancel). `timeout`, `max_retries`, `retry_delay`, `priority`,
    `no_overlap` (one of its jobs at a time) and `topic` (where its jobs go when they name none) are the
    defaults of the jobs that call this actor (its job type)."""
    return global_registry.actor(
        name,
        isolation=isolation,
        timeout=timeout,
        max_retries=max_retries,
        retry_delay=retry_delay,
        priority=priority,
        no_overlap=no_overlap,
        topic=topic,
    )


def import_modules(names: list[str]) -> None:
    """Import the users' actor modules; a module that fails to import stops the start, saying why."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise ServiceError(
                "jobs",
                f"cannot import actor module {name!r} ([jobs] modules / --module): "
                f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})",
            ) from None
