"""HeroAgent, the factory: builds the enabled services from one Config and starts/stops them in order.

It wires services together and holds no logic of theirs. Start order is Redis, jobs, scheduler, WebDAV,
UI (each needs the ones before it); stop is the reverse. If one fails to start, the ones already started are
stopped, and the error names the service.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from heroagent.config import Config, default_config, validate
from heroagent.errors import ConfigError, HeroAgentError, ServiceError
from heroagent.jobs.run.builtin_actors import make_registry
from heroagent.jobs.server.manager import JobManager
from heroagent.jobs.server.service import JobsService
from heroagent.lockfile import DataDirLock
from heroagent.redis_server import EmbeddedRedis, ExternalRedis, make_redis, request_options
from heroagent.redis_server.facts import redis_facts
from heroagent.schedules.control import Schedules
from heroagent.schedules.service import SchedulerService
from heroagent.service import Service
from heroagent.webdav import WebDAVServer

if TYPE_CHECKING:
    from heroagent.web.server import UIServer

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
CLIENT_SLOTS_WARN = 0.9  # health is degraded once Redis's client table is this full


class HeroAgent:
    """One appliance. `start()`, `stop()`, or use as a context manager."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else default_config()
        validate(self.config)
        c = self.config
        if c.jobs.enabled and not c.redis.enabled:
            raise ConfigError(
                f"{c.source}: [jobs] enabled = true needs Redis: set [redis] enabled = true "
                "(embedded) or give [redis] url, or set [jobs] enabled = false"
            )
        self.redis: EmbeddedRedis | ExternalRedis | None = make_redis(c) if c.redis.enabled else None
        self.registry = make_registry()
        self.jobs: JobsService | None = None
        if c.jobs.enabled and self.redis is not None:
            self.jobs = JobsService(c, self.redis, self.registry)
        self.scheduler: SchedulerService | None = None
        if c.scheduler.enabled and self.redis is not None and (self.jobs is not None or c.schedules):
            self.scheduler = SchedulerService(c, self.redis, self.jobs)
        self.webdav: WebDAVServer | None = WebDAVServer(c) if c.webdav.enabled else None
        self.ui: UIServer | None = None
        if c.ui.enabled:
            from heroagent.web.server import UIServer

            self.ui = UIServer(c, self)
        self._started: list[tuple[str, Service]] = []
        self._lock = DataDirLock(c.data_path)
        self._health_client: redis.Redis | None = None  # connected when Redis starts; the dashboard polls it
        self._redis_error = ""  # why health's last PING failed

    def _services(self) -> list[tuple[str, Service | None]]:
        return [
            ("redis", self.redis),
            ("jobs", self.jobs),
            ("scheduler", self.scheduler),
            ("webdav", self.webdav),
            ("ui", self.ui),
        ]

    # ------------------------------------------------------------ life cycle

    def start(self) -> HeroAgent:
        """Lock the data dir, check every service's settings, then start them in order.

        Nothing is started (and nothing of another agent on the same data dir is touched) until the
        lock is held and every preflight check passed."""
        if self._started:
            return self
        self._lock.acquire()
        try:
            for _, service in self._services():
                if service is not None:
                    service.preflight()
        except BaseException:
            self._lock.release()
            raise
        for name, service in self._services():
            if service is None:
                continue
            try:
                service.start()
            except BaseException as exc:
                self.stop()
                if isinstance(exc, HeroAgentError):
                    raise
                if isinstance(exc, Exception):
                    raise ServiceError(name, f"failed to start: {exc}") from exc
                raise
            self._started.append((name, service))
            if name == "redis" and self.redis is not None:  # health's own connection, held from the start:
                self._health_client = self.redis.client(**request_options())  # a full client table
                with contextlib.suppress(redis.RedisError):  # cannot then keep health from saying so
                    self._health_client.ping()
        return self

    def stop(self) -> None:
        if self._health_client is not None:
            self._health_client.close()
            self._health_client = None
        while self._started:
            name, service = self._started.pop()
            try:
                service.stop()
            except Exception:
                log.exception("%s: error while stopping", name)
        self._lock.release()

    def hurry(self) -> None:
        """Make a stop (in progress, or to come) quick: running jobs go back to their queue at once
        instead of getting `[jobs] stop_grace` to end. `serve` calls it on a second Ctrl-C / SIGTERM."""
        jobs = self.jobs
        if jobs is not None:
            jobs.hurry()

    @property
    def running(self) -> bool:
        return bool(self._started)

    def __enter__(self) -> HeroAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ access

    def get_job_manager(self) -> JobManager:
        """The job system's manager; available while the agent runs with [jobs] enabled."""
        if self.jobs is None:
            raise ServiceError("jobs", "the job system is disabled; set [jobs] enabled = true")
        if self.jobs.manager is None:
            raise ServiceError("jobs", "the job system is not running; call agent.start() first")
        return self.jobs.manager

    GetJobManager = get_job_manager

    def actor(self, name: str, *, isolation: str = "thread", **defaults: Any) -> Callable[[T], T]:
        """Register an actor for this agent's HeroScript jobs: `@agent.actor("email") class Email: ...`.
        `isolation="process"` runs its jobs in a child process that timeouts and cancel kill; `timeout`,
        `max_retries`, `retry_delay` are its job type's defaults (see heroagent.actor)."""
        return self.registry.actor(name, isolation=isolation, **defaults)

    def handler(self, topic: str, **defaults: Any) -> Callable[[F], F]:
        """Register a function as the handler of `topic`'s json jobs: `@agent.handler("email") def
        send(to: str, subject: str = ""): ...` (see heroagent.handler)."""
        return self.registry.handler(topic, **defaults)

    def service_states(self) -> dict[str, str]:
        """Each configured service: 'running', 'stopped' or 'disabled' (what /api/health reports)."""
        started = {name for name, _ in self._started}
        states = {}
        for name, service in self._services():
            states[name] = "disabled" if service is None else ("running" if name in started else "stopped")
        return states

    def health(self) -> dict[str, str]:
        """`service_states()`, with Redis asked for a PING: a running Redis that does not answer is 'down'."""
        states = self.service_states()
        if states.get("redis") == "running" and self.redis is not None:
            if self._health_client is None:
                self._health_client = self.redis.client(**request_options())
            try:
                self._health_client.ping()
            except redis.RedisError as exc:
                states["redis"] = "down"
                self._redis_error = str(exc)
            else:
                self._redis_error = ""
                if self._client_slots_problem():
                    states["redis"] = "degraded"
        if states.get("jobs") == "running" and self.jobs is not None and self.jobs.problems():
            states["jobs"] = "degraded"
        if states.get("scheduler") == "running" and self.scheduler is not None and self.scheduler.problems():
            states["scheduler"] = "degraded"
        return states

    def _client_slots_problem(self) -> str:
        """Redis's client table nearly full ('' = not): new connections, ours too, would be refused. An
        idle connection costs nothing to hold, so a local program can fill the table without a password."""
        if self._health_client is None:
            return ""
        try:
            info: Any = self._health_client.info("clients")
            used, limit = int(info.get("connected_clients", 0)), int(info.get("maxclients", 0) or 0)
        except (redis.RedisError, ValueError):
            return ""
        if limit and used >= limit * CLIENT_SLOTS_WARN:
            return (
                f"{used} of Redis's {limit} client slots are in use: new connections are about to be refused. "
                "Find the program holding them (`redis-cli CLIENT LIST`, `ss -xp`, `ss -tnp`)"
            )
        return ""

    def problems(self) -> list[str]:
        """Why health is not ok, one line each, naming the part and the error ([] = all is well)."""
        found = [f"jobs: {problem}" for problem in self.jobs.problems()] if self.jobs is not None else []
        slots = self._client_slots_problem() if self.redis is not None else ""
        if slots:
            found.append(f"redis: {slots}")
        if self._redis_error:
            found.append(f"redis: does not answer: {self._redis_error}")
        if self.scheduler is not None:
            found += [f"scheduler: {problem}" for problem in self.scheduler.problems()]
        return found

    def notices(self) -> list[str]:
        """Things worth a look that do not make health fail (events set aside, ...)."""
        return [f"jobs: {notice}" for notice in self.jobs.notices()] if self.jobs is not None else []

    def get_schedules(self) -> Schedules:
        """Add, pause, resume, remove and list schedules; available while the agent runs its scheduler."""
        if self.scheduler is None:
            raise ServiceError("scheduler", "the scheduler is disabled; set [scheduler] enabled = true")
        if self.scheduler.schedules is None:
            raise ServiceError("scheduler", "the scheduler is not running; call agent.start() first")
        return self.scheduler.schedules

    GetSchedules = get_schedules

    def local_pool_id(self) -> str:
        """This process's worker pool id ('' when it runs none)."""
        pool = self.jobs.pool if self.jobs is not None else None
        return pool.pool_id if pool is not None else ""

    def redis_facts(self) -> dict[str, str]:
        """Redis's version, memory, clients and persistence for the dashboard (redis.RedisError if down)."""
        return redis_facts(self.get_job_manager().client)

    def addresses(self) -> dict[str, str]:
        """Every address this appliance serves, for the banner and the dashboard."""
        out: dict[str, str] = {}
        if isinstance(self.redis, EmbeddedRedis):
            out["redis"] = self.redis.display_url
            out["redis socket"] = f"unix://{self.redis.socket_path}"
        elif isinstance(self.redis, ExternalRedis):
            out["redis"] = self.redis.display_url
        if self.redis is not None and self.config.redis.key_prefix:  # what workers and clients need too
            out["redis key prefix"] = self.config.redis.key_prefix
        if self.webdav is not None:
            out["webdav"] = self.webdav.url
        if self.ui is not None:
            out["dashboard"] = self.ui.url
        return out


def New(config: Config | None = None) -> HeroAgent:
    return HeroAgent(config)
