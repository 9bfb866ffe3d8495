"""The scheduler service: builds the book and runner from the config and connects them to the job system.

In a server (jobs enabled) a run makes its job through the JobManager, and the upkeep of that server's
history is scheduled too. A HeroAgent without the job system but pointed at a server's Redis makes its
jobs through that server (JobClient); with the same config on several machines, the lease in Redis
makes sure each run fires once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from heroagent.config import Config
from heroagent.errors import ConfigError
from heroagent.jobs.keys import KeyLayout
from heroagent.redis_server import EmbeddedRedis, ExternalRedis, request_options
from heroagent.schedules.book import ScheduleBook
from heroagent.schedules.control import Schedules
from heroagent.schedules.runner import ScheduleRunner, Submit, UpkeepTask
from heroagent.schema.schedule import Schedule

if TYPE_CHECKING:
    from heroagent.client import JobClient
    from heroagent.jobs.history.upkeep import Upkeep
    from heroagent.jobs.server.service import JobsService


def upkeep_tasks(config: Config, upkeep: Upkeep) -> dict[str, tuple[Schedule, UpkeepTask]]:
    """The appliance's own upkeep, as schedules (shown in the dashboard like any other)."""
    sched = config.scheduler
    tasks: dict[str, tuple[Schedule, UpkeepTask]] = {
        "upkeep.sweep": (
            Schedule("upkeep.sweep", every=sched.sweep_every, source="upkeep"),
            upkeep.sweep_strays,
        )
    }
    if config.jobs.history_days > 0:
        days = config.jobs.history_days
        tasks["upkeep.retention"] = (
            Schedule("upkeep.retention", cron="7 * * * *", source="upkeep"),
            lambda: upkeep.remove_history_before(time.time() - days * 86400),
        )
    if sched.compact_at:
        hour, minute = sched.compact_at.split(":")
        tasks["upkeep.compact"] = (
            Schedule("upkeep.compact", cron=f"{int(minute)} {int(hour)} * * *", source="upkeep"),
            upkeep.compact_history,
        )
    return tasks


class SchedulerService:
    def __init__(self, config: Config, redis_service: EmbeddedRedis | ExternalRedis, jobs: JobsService | None) -> None:
        if jobs is None and not config.redis.external and config.schedules:
            raise ConfigError(
                f"{config.source}: [[schedules]] need the job system: set [jobs] enabled = true, or [redis] url "
                "to a HeroAgent server's Redis so the jobs are made there"
            )
        self.config = config
        self.redis_service = redis_service
        self.jobs = jobs
        self.book: ScheduleBook | None = None
        self.runner: ScheduleRunner | None = None
        self.schedules: Schedules | None = None  # what the API, CLI and pages use, while running
        self._client: JobClient | None = None

    def preflight(self) -> None:
        """Nothing beyond the config's own checks."""

    def start(self) -> None:
        config = self.config
        configured = [Schedule.from_dict(table, source="config") for table in config.schedules]
        book_client = self.redis_service.client(**request_options())  # a stalled Redis: 503s, not hung pages
        self.book = ScheduleBook(book_client, KeyLayout.of(config.redis), config.schedules_path, configured)
        upkeep: dict[str, tuple[Schedule, UpkeepTask]] = {}
        submit: Submit
        if self.jobs is not None and self.jobs.manager is not None and self.jobs.upkeep is not None:
            manager = self.jobs.manager
            upkeep = upkeep_tasks(config, self.jobs.upkeep)

            def submit(schedule: Schedule) -> int:
                return manager.create_job(**schedule.job_spec()).job_id

        else:
            from heroagent.client import JobClient

            client = JobClient.from_config(config)
            self._client = client

            def submit(schedule: Schedule) -> int:
                return client.create_job(**schedule.job_spec()).job_id

        self.runner = ScheduleRunner(self.book, submit, lease_seconds=config.scheduler.lease_seconds, upkeep=upkeep)
        self.runner.start()
        own = self.jobs.manager if self.jobs is not None else None
        self.schedules = Schedules(
            self.book, self.runner.leader, own.types.get if own is not None else None, submit=submit
        )

    def problems(self) -> list[str]:
        """The scheduler's loops that are failing, for health ([] = healthy)."""
        states = self.runner.loop_states() if self.runner is not None else []
        return [f"{s.name}: {s.last_error} ({s.failures} failure(s))" for s in states if s.degraded]

    def stop(self) -> None:
        self.schedules = None
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.book is not None:
            self.book.client.close()
            self.book = None
