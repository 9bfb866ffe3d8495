"""What the web layer needs from the agent, and how every blueprint reaches it.

`Agent` is the web's own view of the appliance: the app factory is handed any object with these
members (the factory's `HeroAgent` is one), so nothing under `heroagent/web/` imports the factory
and the factory can import the web without a circle.
"""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from heroagent.config import Config
from heroagent.jobs.server.manager import JobManager
from heroagent.schedules.control import Schedules


class Agent(Protocol):
    config: Config

    def health(self) -> dict[str, str]:
        """Each service: 'running', 'stopped', 'disabled' or 'down' (what /api/health reports)."""
        ...

    def problems(self) -> list[str]:
        """Why health is not ok, one line each ([] = all is well)."""
        ...

    def notices(self) -> list[str]:
        """Things worth a look that do not make health fail."""
        ...

    def addresses(self) -> dict[str, str]:
        """Every address the appliance serves, by service."""
        ...

    def get_job_manager(self) -> JobManager:
        """ServiceError when the job system is off or not running."""
        ...

    def get_schedules(self) -> Schedules:
        """ServiceError when the scheduler is off or not running."""
        ...

    def local_pool_id(self) -> str:
        """This process's worker pool ('' = none), so the pages can mark it."""
        ...

    def redis_facts(self) -> dict[str, str]:
        """Redis's version, memory, clients and persistence (its INFO); redis.RedisError when it is down."""
        ...


def current_agent() -> Agent:
    agent: Agent = current_app.extensions["heroagent"]
    return agent


def current_manager() -> JobManager:
    """The job manager; ServiceError (a 503) when the job system is off or not running."""
    return current_agent().get_job_manager()


def current_schedules() -> Schedules:
    """The schedules; ServiceError (a 503) when the scheduler is off or not running."""
    return current_agent().get_schedules()
