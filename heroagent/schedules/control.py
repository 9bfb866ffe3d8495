"""What users do with schedules (the Python API, the JSON API, the pages): add, replace, run now, pause, resume,
remove, list.

The schedules layer sits on the job system, not in it: a schedule's job is checked against the job
rules and the job contract (the job types the live pools serve) here, when the schedule is added, so a
bad one is refused at once instead of failing at each run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.keys import KeyLayout
from heroagent.jobs.live.contract import check_contract
from heroagent.jobs.live.jobtypes import Contract, PublishedTypes
from heroagent.jobs.live.submit import JobDefaults
from heroagent.jobs.model import check_job_spec_and_type
from heroagent.schedules.book import ScheduleBook, ScheduleInfo
from heroagent.schedules.runner import Submit
from heroagent.schema.schedule import Schedule, ScheduleError


class Schedules:
    def __init__(
        self,
        book: ScheduleBook,
        leader: Callable[[], str],
        contract: Callable[[], Contract] | None = None,
        submit: Submit | None = None,
    ) -> None:
        """`contract`: what a schedule's jobs are checked against (the job manager's view in the server,
        with its own registry's actors; else the published types). `submit`: how a run makes its job, the
        runner's own (None: `run_now` is not offered, as in the CLI, which has no job system of its own)."""
        self.book = book
        self._leader = leader
        self._contract = contract or PublishedTypes(book.client, book.layout).get
        self._submit = submit

    def add(
        self,
        name: str,
        topic: str,
        params: str | Mapping[str, Any],
        *,
        cron: str = "",
        every: float = 0.0,
        params_type: str | None = None,
        action: str | None = None,
        timeout: float = 0.0,
        max_retries: int = -1,
        priority: int = -1,
        no_overlap: bool = False,
        enabled: bool = True,
        misfire: str = "run_once",
    ) -> ScheduleInfo:
        """A recurring job made at run time: `cron` (five fields, UTC) or `every` seconds. Stored as JSON in
        Redis and `<data_dir>/schedules.json`; it survives restarts. Its jobs are checked now, like create_job
        (a dict as `params` makes json jobs, as for create_job)."""
        fields = dict(
            name=name,
            topic=topic,
            params=params,
            cron=cron,
            every=every,
            params_type=params_type,
            action=action,
            timeout=timeout,
            max_retries=max_retries,
            priority=priority,
            no_overlap=no_overlap,
            enabled=enabled,
            misfire=misfire,
        )
        return self.add_from(fields)

    def add_from(self, data: Mapping[str, Any]) -> ScheduleInfo:
        """`add` with the fields as a mapping (the JSON API's body): checked against `schema.schedule.SCHEDULE`."""
        schedule = self._checked(data)
        self.book.add(schedule)
        return self.book.info(schedule.name)

    def replace(self, name: str, data: Mapping[str, Any]) -> ScheduleInfo:
        """Edit: `data` is the run-time schedule `name`'s whole new description (a field left out takes its
        default, as in `add`), checked like `add`'s; its state (paused, runs, its jobs) stays. The name stays
        too: to rename, add the new one and remove the old. Config and upkeep schedules are refused."""
        if not isinstance(data, Mapping):
            raise ScheduleError("schedule: give an object with the fields of a schedule")
        self.book.get(name)  # ScheduleNotFoundError (404) first, not a field's problem
        if data.get("name", name) != name:
            raise ScheduleError(f"schedule {name!r}: name: cannot be changed; add a schedule of the new name instead")
        schedule = self._checked({**data, "name": name})
        self.book.replace(schedule)
        return self.book.info(name)

    def _checked(self, data: Mapping[str, Any]) -> Schedule:
        """A run-time schedule from its fields, its job checked against the job rules and the contract now."""
        if not isinstance(data, Mapping) or "source" in data:
            raise ScheduleError("schedule: give an object with the fields of a schedule (source is set by HeroAgent)")
        schedule = Schedule.from_dict(dict(data), source="runtime")
        try:
            clean, job_type = check_job_spec_and_type(schedule.job_spec())
            defaults = JobDefaults.read(self.book.client, self.book.layout) or JobDefaults()
            check_contract(clean, job_type, self._contract(), defaults.unknown_actors)
        except InvalidJobError as exc:
            raise ScheduleError(f"schedule {schedule.name!r}: {exc}") from None
        return schedule

    def run_now(self, name: str) -> int:
        """Make the job the schedule would make now, recorded as one of its runs (its jobs list, its run count);
        the next scheduled run is not moved. Works on a paused schedule too (a one-off by hand). Returns the
        job's id; the job's own errors (InvalidJobError, ...) come through as they are."""
        schedule = self.book.get(name)
        if schedule.source == "upkeep":
            raise ScheduleError(f"schedule {name!r} is the appliance's own upkeep; it runs by itself")
        if self._submit is None:
            raise ServiceError("scheduler", "run now needs a running HeroAgent server (its scheduler makes the job)")
        job_id = self._submit(schedule)
        self.book.record_extra_run(name, job_id)
        return job_id

    def pause(self, name: str) -> ScheduleInfo:
        self.book.set_paused(name, True)
        return self.book.info(name)

    def resume(self, name: str) -> ScheduleInfo:
        self.book.set_paused(name, False)
        return self.book.info(name)

    def remove(self, name: str) -> None:
        """Remove a run-time schedule (config and upkeep ones can only be paused)."""
        self.book.remove(name)

    def list(self) -> list[ScheduleInfo]:
        """Every schedule (config, run time and upkeep) with its next and last run and recent jobs."""
        return self.book.list()

    def get(self, name: str) -> ScheduleInfo:
        return self.book.info(name)

    def leader(self) -> str:
        """The process that fires schedules now, as host:pid:tag ('' = none)."""
        return self._leader()

    @classmethod
    def connect(cls, config: Config, client: redis.Redis, submit: Submit | None = None) -> Schedules:
        """The schedules of the appliance `config` describes, from another process on its Redis (the
        CLI): the same book the server reads; it notices changes through the schedules version. `submit`:
        how `run_now` makes a job from there (None: it is not offered)."""
        configured = [Schedule.from_dict(table, source="config") for table in config.schedules]
        book = ScheduleBook(client, KeyLayout.of(config.redis), config.schedules_path, configured)

        def leader() -> str:
            raw = client.get(book.layout.SCHEDULER_LEASE)
            return raw.decode() if isinstance(raw, bytes) else ""

        return cls(book, leader, submit=submit)
