"""Actors: Python objects whose methods HeroScript actions call (`!!email.send to:...` -> email.send(to=...)).

Register with `@heroagent.actor("email")` on a class (instantiated once) or an instance; the agent's
`agent.actor(...)` does the same. Each public method is an action; its signature is the action's
schema (signatures.py), published with the actor's job type so every creator checks new jobs against
it. A method gets the action's params as keyword arguments, typed by that schema ("3" -> 3 for an `int`),
positional words as the params they stand for, in order, and the JobContext as `ctx` if it has such a
parameter. A call that does not fit the schema fails with PermanentError: no retry could fix it.
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
from heroagent.jobs.errors import PermanentError
from heroagent.jobs.run.context import JobContext
from heroagent.jobs.run.signatures import Schema, actor_schemas, typed_kwargs
from heroagent.schema.job import TypeDefaults, check_type_defaults
from heroagent.schema.params import ParamError, check_params, with_args

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
ISOLATIONS = ("thread", "process")


class ActorRegistry:
    def __init__(self, parent: ActorRegistry | None = None) -> None:
        self._actors: dict[str, Any] = {}
        self._isolated: set[str] = set()
        self._types: dict[str, TypeDefaults] = {}  # actor -> its job type's defaults
        self._schemas: dict[str, dict[str, Schema]] = {}  # actor -> action -> the schema of its params
        self._suspendable: set[str] = set()
        self._handles: dict[str, dict[str, str]] = {}  # actor -> {topic: action} (json jobs' handlers)
        self._version = 0  # bumped at every register: what `published` made is kept until it changes
        self._published: tuple[int, dict[str, dict[str, Any]]] = (-1, {})
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
        suspendable: bool = False,
        handler: str | None = None,
    ) -> Any:
        """`isolation="process"` runs this actor's jobs in a child process that timeouts and cancel kill
        (see isolation.py); "thread" (the default) is faster, and cancel is cooperative there.
        `timeout`, `max_retries`, `retry_delay`, `priority`: the defaults of this job type, which a job
        calling this actor gets unless it gives its own (`[job_types.<name>]` in the config overrides
        them); `no_overlap=True`: one job of the type runs at a time, across all workers; `topic`: the
        topic its jobs go to when they name none; `suspendable=True`: its actions call `ctx.checkpoint()`, so
        a suspend is offered and honoured (a process-isolated actor can always be suspended); `handler`:
        the action a json job of its topic (`topic`, else the actor's name) calls when it names none."""
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
        schemas = actor_schemas(instance)
        key = name_fix(name)
        handles: dict[str, str] = {}
        if handler is not None:
            if handler not in schemas:
                raise ValueError(f"actor {name!r}: handler = {handler!r}: it has no such action ({', '.join(schemas)})")
            handles[topic or key] = handler
        with self._lock:
            self._handles[key] = handles
            self._types[key] = defaults
            self._actors[key] = instance
            self._schemas[key] = schemas
            for group, member in ((self._isolated, isolation == "process"), (self._suspendable, suspendable)):
                if member:
                    group.add(key)
                else:
                    group.discard(key)
            self._version += 1
        return obj

    def actor(self, name: str, *, isolation: str = "thread", **defaults: Any) -> Callable[[T], T]:
        """Decorator: `@registry.actor("email", timeout=30) class Email: def send(self, to, subject): ...`."""

        def decorate(obj: T) -> T:
            self.register(name, obj, isolation=isolation, **defaults)
            return obj

        return decorate

    def handler(self, topic: str, **defaults: Any) -> Callable[[F], F]:
        """Decorator: a function as the handler of `topic`'s json jobs (see `heroagent.handler`)."""

        def decorate(function: F) -> F:
            action = name_fix(function.__name__)
            holder = type(f"handler_{action}", (), {action: staticmethod(function)})
            self.register(name_fix(topic), holder, topic=topic, handler=action, **defaults)
            return function

        return decorate

    def types(self) -> dict[str, TypeDefaults]:
        """Every registered actor (a job type) and the defaults it declared ({} = none)."""
        found = self._parent.types() if self._parent is not None else {}
        with self._lock:
            found.update({name: dict(self._types.get(name, {})) for name in self._actors})
        return found

    def version(self) -> int:
        """Changes whenever an actor is registered here or in the parent registry."""
        return self._version + (self._parent.version() if self._parent is not None else 0)

    def published(self) -> dict[str, dict[str, Any]]:
        """Every actor as its job type is published: its actions' schemas, its defaults, how it runs
        (made once per change: creators in this process ask at every create; do not change the result)."""
        version = self.version()
        if self._published[0] == version:
            return self._published[1]
        found = dict(self._parent.published()) if self._parent is not None else {}
        with self._lock:
            for name in self._actors:
                found[name] = {
                    "actions": self._schemas.get(name, {}),
                    "defaults": dict(self._types.get(name, {})),
                    "isolation": "process" if name in self._isolated else "thread",
                    "suspendable": name in self._suspendable or name in self._isolated,
                    "handles": dict(self._handles.get(name, {})),
                }
        self._published = (version, found)
        return found

    def handler_for(self, topic: str) -> str:
        """The action ("actor.action") a json job of `topic` that names none calls ('' = none here)."""
        with self._lock:
            for name, handles in self._handles.items():
                if topic in handles:
                    return f"{name}.{handles[topic]}"
        return self._parent.handler_for(topic) if self._parent is not None else ""

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

    def call(self, action: Action, ctx: JobContext, *, from_text: bool = True) -> Any:
        """Run one action: its params checked and typed by the action's schema, then the method called.
        `from_text`: the params are HeroScript's texts (converted: "3" -> 3); else JSON values (a json job)."""
        where = f"line {action.line}: !!{action.full_name}" if from_text else f"action {action.full_name}"
        actor = self.get(action.actor)
        if actor is None:
            raise PermanentError(f"{where}: no actor {action.actor!r} is registered (known: {', '.join(self.names())})")
        method = getattr(actor, action.name, None)
        if action.name.startswith("_") or not callable(method):
            raise PermanentError(f"{where}: actor {action.actor!r} has no action {action.name!r}")
        schema = self.schema(action.actor, action.name)
        try:
            given, words = with_args(schema, action.params, action.args)
            kwargs = typed_kwargs(method, check_params(schema, given, from_text=from_text))
        except ParamError as exc:
            raise PermanentError(f"{where}: {exc}") from None
        if "ctx" in _parameters(method):
            kwargs["ctx"] = ctx
        return method(*words, **kwargs)

    def schema(self, actor: str, action: str) -> Schema:
        """The schema of an action's params ({} if the actor is not registered here)."""
        with self._lock:
            found = self._schemas.get(actor)
        if found is None:
            return self._parent.schema(actor, action) if self._parent is not None else {}
        return found.get(action, {})


_PARAMETERS: dict[Any, frozenset[str]] = {}


def _parameters(method: Any) -> frozenset[str]:
    """The names a method takes, computed once per function."""
    key = getattr(method, "__func__", method)
    found = _PARAMETERS.get(key)
    if found is None:
        found = frozenset(inspect.signature(method).parameters)
        _PARAMETERS[key] = found
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
    suspendable: bool = False,
    handler: str | None = None,
) -> Callable[[T], T]:
    """`@heroagent.actor("email", timeout=30, max_retries=5)`, or `@heroagent.actor("convert",
    isolation="process")` for code that must be stoppable by timeout and cancel whatever it does (a C
    call, a loop that ignores ctx.cancel). `timeout`, `max_retries`, `retry_delay`, `priority`,
    `no_overlap` (one of its jobs at a time) and `topic` (where its jobs go when they name none) are the
    defaults of the jobs that call this actor (its job type); `suspendable=True`: its actions call
    `ctx.checkpoint()`, so its jobs can be suspended; `handler="send"`: json jobs of its topic (or of
    the topic named like the actor) that name no action call `send`."""
    return global_registry.actor(
        name,
        isolation=isolation,
        timeout=timeout,
        max_retries=max_retries,
        retry_delay=retry_delay,
        priority=priority,
        no_overlap=no_overlap,
        topic=topic,
        suspendable=suspendable,
        handler=handler,
    )


def handler(topic: str, **defaults: Any) -> Callable[[F], F]:
    """`@heroagent.handler("email")` on a function: the json jobs of topic "email" that name no action
    call it, with their object's keys as its keyword arguments, checked against its signature at create
    like an actor's action (`jm.create_job("email", {"to": "ann@example.com"})`). It is published as
    the job type named after the topic (name_fix'd) whose one action is the function; `isolation`,
    `timeout`, `max_retries`, `retry_delay`, `priority`, `no_overlap`, `suspendable` as for
    `@heroagent.actor`."""
    return global_registry.handler(topic, **defaults)


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
