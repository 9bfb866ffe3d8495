"""A schedule: what job to make, and when (a five-field cron expression or `every` N seconds, in UTC).

Plain data, so it is stored as JSON (never pickled) in Redis and in `<data_dir>/schedules.json`, and its
trigger is rebuilt from that data wherever it is needed. Errors name the schedule and the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from heroagent.errors import InvalidInputError, NotFoundError
from heroagent.heroscript import HeroScriptError, parse_job
from heroagent.schema.fields import Field, Schema
from heroagent.schema.job import MAX_PRIORITY, MAX_RETRIES, MAX_SECONDS, MAX_VALUE_BYTES, NEW_JOB, ParamsType
from heroagent.schema.json_params import json_object, looks_like_json

NAME_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
NAME_RE = re.compile(f"^{NAME_PATTERN}$")
MISFIRE_POLICIES = ("run_once", "skip")
SOURCES = ("config", "runtime", "upkeep")

# The fields a schedule is given (config, API, Python); `source` is set by whoever made it.
SCHEDULE = Schema(
    "schedule",
    (
        Field(
            "name",
            "string",
            "1-64 letters, digits, '_', '.' or '-'",
            required=True,
            pattern=NAME_PATTERN,
            pattern_hint="must be 1-64 letters, digits, '_', '.' or '-'",
        ),
        Field("topic", "string", "the topic of the jobs it makes", max_bytes=128),
        Field(
            "params",
            "string",
            "the params of the jobs it makes (an object: json jobs)",
            max_bytes=MAX_VALUE_BYTES,
            or_object=True,
        ),
        Field(
            "params_type",
            "string",
            "as a job's; default json for an object or text starting with '{', else heroscript",
            enum=tuple(p.value for p in ParamsType),
            default="heroscript",
        ),
        NEW_JOB.field("action"),
        Field("cron", "string", "five fields, UTC: minute hour day-of-month month day-of-week", max_bytes=256),
        Field("every", "number", "seconds (instead of cron)", minimum=0, maximum=MAX_SECONDS),
        Field("timeout", "number", "0 = [jobs] default_timeout", minimum=0, maximum=MAX_SECONDS),
        Field("max_retries", "integer", "-1 = [jobs] max_retries", minimum=-1, maximum=MAX_RETRIES),
        Field("priority", "integer", "0-9 (9 most urgent); -1 = the job type's or 0", minimum=-1, maximum=MAX_PRIORITY),
        Field(
            "no_overlap",
            "boolean",
            "a run does not start while the schedule's previous job still runs (no_overlap_key schedule:<name>)",
            default=False,
        ),
        Field("enabled", "boolean", default=True),
        Field("misfire", "string", "a run missed while down: run it once, or skip it", enum=MISFIRE_POLICIES),
    ),
)
FIRES_WITHIN = 30  # years: a cron with no fire time in them is refused (Feb 29 on a Monday: within 28)
ANCHOR = 946684800.0  # 2000-01-01T00:00:00Z: `every` schedules run at ANCHOR + k * every


RESERVED_NAMES = frozenset({"new"})  # /schedules/<name> pages that are the dashboard's own


class ScheduleError(InvalidInputError):
    """A bad schedule: the message names it and the field."""


class ScheduleNotFoundError(NotFoundError):
    """No schedule of that name."""


@dataclass
class Schedule:
    name: str
    topic: str = ""
    params: str = ""
    params_type: str = "heroscript"
    action: str = ""  # json jobs: the action they call (default: their topic's handler, at each run)
    cron: str = ""
    every: float = 0.0
    timeout: float = 0.0  # 0 = the job default
    max_retries: int = -1  # -1 = the job default
    priority: int = -1  # -1 = the job default
    no_overlap: bool = False  # its jobs share the no_overlap_key "schedule:<name>"
    enabled: bool = True
    misfire: str = "run_once"
    source: str = field(default="runtime", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Its fields, `action` only when it has one (the field's rule allows no empty action)."""
        out = asdict(self)
        if not self.action:
            del out["action"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> Schedule:
        """From config, API or storage; ScheduleError names the schedule and the bad field."""
        name = data.get("name", "")
        label = f"schedule {name!r}" if isinstance(name, str) and name else "schedule"
        if data.get("action") == "":  # "" is no action (a caller's empty field)
            data = {k: v for k, v in data.items() if k != "action"}
        given_type = data.get("params_type")
        if (given_type in (None, "") and looks_like_json(data.get("params"))) or given_type == ParamsType.JSON:
            try:  # kept as the text its jobs get (a TOML inline table or an API object becomes JSON text)
                data = {**data, "params_type": ParamsType.JSON.value, "params": json_object(data.get("params"))[0]}
            except InvalidInputError as exc:
                raise ScheduleError(f"{label}: {exc}") from None
        try:
            clean = SCHEDULE.check(data, ignore=("source",))
        except InvalidInputError as exc:
            raise ScheduleError(f"{label}: {exc}") from None
        values: dict[str, Any] = {k: (float(v) if k in ("every", "timeout") else v) for k, v in clean.items()}
        if data.get("source") in SOURCES:
            values["source"] = data["source"]
        schedule = cls(**values)
        if source is not None:
            schedule.source = source
        schedule.validate()
        return schedule

    def validate(self) -> None:
        label = f"schedule {self.name!r}"
        if not NAME_RE.match(self.name or ""):
            raise ScheduleError(
                f"schedule {self.name!r}: name: use 1-64 letters, digits, '_', '.' or '-'"
                if self.name
                else "schedule: name: every schedule needs a name"
            )
        if self.name in RESERVED_NAMES:
            raise ScheduleError(
                f"schedule {self.name!r}: name: {self.name!r} is the dashboard's page for making a schedule "
                "(/schedules/new), so that schedule would have no page of its own; use another name"
            )
        if bool(self.cron) == bool(self.every):
            raise ScheduleError(f"{label}: give either cron (five fields, UTC) or every (seconds), not both or neither")
        if self.every and self.every < 0.1:
            raise ScheduleError(f"{label}: every = {self.every:g}: must be at least 0.1 seconds")
        if self.cron:
            self._check_fires()
        if self.misfire not in MISFIRE_POLICIES:
            raise ScheduleError(f"{label}: misfire = {self.misfire!r}: must be one of {', '.join(MISFIRE_POLICIES)}")
        if self.source != "upkeep":
            if not self.topic:
                raise ScheduleError(f"{label}: topic: the topic of the jobs it makes must not be empty")
            if not self.params:
                raise ScheduleError(f"{label}: params: the params of the jobs it makes must not be empty")
            if self.params_type == "heroscript":
                try:
                    parse_job(self.params)
                except HeroScriptError as exc:
                    raise ScheduleError(f"{label}: params: {exc}") from None
        if self.timeout < 0:
            raise ScheduleError(f"{label}: timeout = {self.timeout:g}: must be greater than 0 (or 0 for the default)")

    def _check_fires(self) -> None:
        """ScheduleError unless the cron fires within FIRES_WITHIN years (`0 0 31 2,4,6,9,11 *` never does,
        and an unbounded search for its next time costs seconds of CPU at every listing)."""
        trigger = self.trigger()  # raises ScheduleError naming the schedule
        assert isinstance(trigger, CronTrigger)
        now = datetime.now(UTC)
        trigger.end_date = now + timedelta(days=366 * FIRES_WITHIN)
        if trigger.get_next_fire_time(None, now) is None:
            raise ScheduleError(
                f"schedule {self.name!r}: cron = {self.cron!r}: never fires (no time in the next {FIRES_WITHIN} "
                "years matches it); check the day of the month against the months (there is no 31 February)"
            )

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger for this schedule, in UTC."""
        if self.every:
            return IntervalTrigger(seconds=self.every, start_date=datetime.fromtimestamp(ANCHOR, UTC), timezone=UTC)
        try:
            return CronTrigger.from_crontab(self.cron, timezone=UTC)
        except ValueError as exc:
            raise ScheduleError(
                f"schedule {self.name!r}: cron = {self.cron!r}: {exc}; use five fields: "
                "minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'"
            ) from None

    def previous_run(self, now: float) -> float | None:
        """The newest run time at or before `now` (10 ms ahead counts too, for clocks read a hair early).

        Run times lie on a grid every process computes alike (cron times; `every` counted from ANCHOR),
        which is what lets several processes agree on "the 10:15 run" and fire it once.
        """
        now += 0.01
        if self.every:
            return ANCHOR + math.floor((now - ANCHOR) / self.every) * self.every
        trigger = self.trigger()
        for window in (180, 3600, 86400 + 60, 32 * 86400, 367 * 86400):  # widening: most answers are near
            found: float | None = None
            moment = datetime.fromtimestamp(now - window, UTC)
            while True:
                nxt = trigger.get_next_fire_time(None, moment)
                if nxt is None or nxt.timestamp() > now:
                    break
                found = float(nxt.timestamp())
                moment = nxt + timedelta(seconds=1)
            if found is not None:
                return found
        return None

    def next_run(self, after: float) -> float | None:
        """The first run time after `after` (unix seconds)."""
        if self.every:
            return ANCHOR + (math.floor((after - ANCHOR) / self.every) + 1) * self.every
        nxt = self.trigger().get_next_fire_time(None, datetime.fromtimestamp(after, UTC) + timedelta(microseconds=1))
        return nxt.timestamp() if nxt is not None else None

    def describe(self) -> str:
        return f"cron {self.cron} (UTC)" if self.cron else f"every {self.every:g}s"

    def job_spec(self) -> dict[str, Any]:
        """What `create_job` gets for one run."""
        spec: dict[str, Any] = {"topic": self.topic, "params": self.params, "params_type": self.params_type}
        if self.action:
            spec["action"] = self.action
        if self.timeout:
            spec["timeout"] = self.timeout
        if self.max_retries >= 0:
            spec["max_retries"] = self.max_retries
        if self.priority >= 0:
            spec["priority"] = self.priority
        if self.no_overlap:
            spec["no_overlap_key"] = f"schedule:{self.name}"
        return spec
