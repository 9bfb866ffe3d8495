"""The schedule book: every schedule's definition and state, shared through Redis, kept on disk as JSON.

Definitions come from three places: the config file (`[[schedules]]`), run time (`add_schedule`, the API),
and the appliance itself (upkeep). Run-time definitions and every schedule's state (paused, last run,
runs, last job) live in Redis, so every process on that Redis sees and changes the same schedules,
and in `<data_dir>/schedules.json` (written atomically), so they come back after a restart even if
Redis lost its data. Nothing here is pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from heroagent.jobs import keys
from heroagent.schema.schedule import Schedule, ScheduleError, ScheduleNotFoundError

log = logging.getLogger(__name__)

RECENT_JOBS = 50  # job ids kept per schedule for the dashboard
RUN_MARK_SECONDS = 2 * 24 * 3600  # how long "this run was fired" marks are kept

# Write a run-time definition only while it is there: an edit racing a remove must not bring it back.
_REPLACE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass
class ScheduleState:
    paused: bool | None = None  # None: as the definition's `enabled` says
    last_run: float = 0.0  # the run time (grid point) of the newest run fired
    runs: int = 0
    last_job: int = 0
    last_error: str = ""
    last_result: str = ""  # upkeep: what the last run did

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> ScheduleState:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class ScheduleInfo:
    """A schedule as the API and dashboard show it."""

    schedule: Schedule
    state: ScheduleState
    next_run: float | None
    recent_jobs: list[int] = field(default_factory=list)

    @property
    def paused(self) -> bool:
        return self.state.paused if self.state.paused is not None else not self.schedule.enabled

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.schedule.to_dict(),
            "paused": self.paused,
            "next_run": self.next_run,
            "last_run": self.state.last_run or None,
            "runs": self.state.runs,
            "last_job": self.state.last_job or None,
            "last_error": self.state.last_error,
            "last_result": self.state.last_result,
            "recent_jobs": self.recent_jobs,
            "trigger": self.schedule.describe(),
        }


class ScheduleBook:
    def __init__(self, client: redis.Redis, path: Path, configured: Iterable[Schedule] = ()) -> None:
        self.client = client
        self.path = path
        self.configured = {s.name: s for s in configured}
        self.upkeep: dict[str, Schedule] = {}
        self._file_lock = threading.Lock()
        self._replace = client.register_script(_REPLACE)

    # ------------------------------------------------------------ start: disk -> Redis

    def restore(self) -> None:
        """Put what the file holds back into Redis where Redis lacks it (a fresh or emptied Redis)."""
        saved = self._read_file()
        pipe = self.client.pipeline(transaction=False)
        for name, definition in saved.get("schedules", {}).items():
            pipe.hsetnx(keys.SCHEDULES, name, json.dumps(definition))
        for name, state in saved.get("state", {}).items():
            pipe.hsetnx(keys.SCHEDULES_STATE, name, json.dumps(state))
        pipe.incr(keys.SCHEDULES_VERSION)
        pipe.execute()

    # ------------------------------------------------------------ definitions

    def runtime(self) -> dict[str, Schedule]:
        raw: Any = self.client.hgetall(keys.SCHEDULES)
        out = {}
        for name, definition in raw.items():
            try:
                out[name.decode()] = Schedule.from_dict(json.loads(definition), source="runtime")
            except (ValueError, ScheduleError) as exc:
                log.error("schedules: stored schedule %s is unreadable and is ignored: %s", name.decode(), exc)
        return out

    def definitions(self) -> dict[str, Schedule]:
        """Every schedule by name: upkeep, config, then run-time ones."""
        return {**self.upkeep, **self.configured, **self.runtime()}

    def get(self, name: str) -> Schedule:
        schedule = self.definitions().get(name)
        if schedule is None:
            raise ScheduleNotFoundError(f"no schedule named {name!r}")
        return schedule

    def add(self, schedule: Schedule) -> Schedule:
        schedule.source = "runtime"
        schedule.validate()
        if schedule.name in self.configured or schedule.name in self.upkeep:
            raise ScheduleError(f"schedule {schedule.name!r}: name: a schedule of that name is in the config file")
        if not self.client.hsetnx(keys.SCHEDULES, schedule.name, json.dumps(schedule.to_dict())):
            raise ScheduleError(f"schedule {schedule.name!r}: name: already exists; remove it first or pick another")
        self.client.hdel(keys.SCHEDULES_STATE, schedule.name)  # a schedule of an old name starts afresh
        self._changed()
        return schedule

    def replace(self, schedule: Schedule) -> Schedule:
        """Put a new definition in place of a run-time schedule's; its state (paused, runs, its jobs) stays, so
        an edit is no new schedule. Config and upkeep schedules are not changed here (their source is)."""
        schedule.source = "runtime"
        schedule.validate()
        self._refuse_fixed(schedule.name, "edited")
        if not self._replace(keys=[keys.SCHEDULES], args=[schedule.name, json.dumps(schedule.to_dict())]):
            raise ScheduleNotFoundError(f"no schedule named {schedule.name!r}")
        self._changed()
        return schedule

    def _refuse_fixed(self, name: str, done: str) -> None:
        """ScheduleError for a schedule this book cannot change: the config file's or the appliance's upkeep."""
        if name in self.configured or name in self.upkeep:
            where = "the config file" if name in self.configured else "the appliance's upkeep"
            raise ScheduleError(f"schedule {name!r} comes from {where} and cannot be {done} here; pause it instead")

    def remove(self, name: str) -> None:
        self._refuse_fixed(name, "removed")
        if not self.client.hdel(keys.SCHEDULES, name):
            raise ScheduleNotFoundError(f"no schedule named {name!r}")
        self.client.hdel(keys.SCHEDULES_STATE, name)
        self.client.delete(keys.schedule_jobs(name))
        self._changed()

    def set_paused(self, name: str, paused: bool) -> None:
        self.get(name)
        self.update_state(name, paused=paused)
        self._changed()

    def _changed(self) -> None:
        self.client.incr(keys.SCHEDULES_VERSION)
        self.save()

    def version(self) -> int:
        return int(self.client.get(keys.SCHEDULES_VERSION) or 0)

    # ------------------------------------------------------------ state

    def state(self, name: str) -> ScheduleState:
        return ScheduleState.from_json(self.client.hget(keys.SCHEDULES_STATE, name))

    def update_state(self, name: str, **changes: Any) -> ScheduleState:
        state = self.state(name)
        for key, value in changes.items():
            setattr(state, key, value)
        self._write_state(name, state)
        return state

    def _write_state(self, name: str, state: ScheduleState) -> None:
        self.client.hset(keys.SCHEDULES_STATE, name, json.dumps(asdict(state)))

    def claim_run(self, name: str, due: float) -> bool:
        """True for exactly one caller per (schedule, run time), whichever process asks first."""
        mark = keys.schedule_run(name, round(due * 1000))
        return bool(self.client.set(mark, "1", nx=True, ex=RUN_MARK_SECONDS))

    def record_run(self, name: str, due: float, job_id: int = 0, error: str = "", result: str = "") -> None:
        state = self.state(name)
        state.last_run, state.runs = max(state.last_run, due), state.runs + 1
        state.last_error, state.last_result = error, result
        if job_id:
            state.last_job = job_id
            pipe = self.client.pipeline(transaction=False)
            pipe.lpush(keys.schedule_jobs(name), job_id)
            pipe.ltrim(keys.schedule_jobs(name), 0, RECENT_JOBS - 1)
            pipe.execute()
        self._write_state(name, state)
        self.save()

    def record_extra_run(self, name: str, job_id: int) -> None:
        """A run asked for by hand (Run now): counted and listed with the schedule's jobs, while `last_run`, the
        newest grid point fired, stays as it was, so the next run and the misfire catch-up are unchanged."""
        self.record_run(name, 0.0, job_id=job_id)

    def recent_jobs(self, name: str) -> list[int]:
        return [int(x) for x in self.client.lrange(keys.schedule_jobs(name), 0, -1)]

    def list(self, now: float | None = None) -> list[ScheduleInfo]:
        now = time.time() if now is None else now
        raw: Any = self.client.hgetall(keys.SCHEDULES_STATE)
        states = {k.decode(): ScheduleState.from_json(v) for k, v in raw.items()}
        return [
            self._info(schedule, states.get(name, ScheduleState()), now)
            for name, schedule in sorted(self.definitions().items())
        ]

    def info(self, name: str) -> ScheduleInfo:
        return self._info(self.get(name), self.state(name), time.time())

    def _info(self, schedule: Schedule, state: ScheduleState, now: float) -> ScheduleInfo:
        info = ScheduleInfo(schedule, state, None, self.recent_jobs(schedule.name))
        if not info.paused:
            info.next_run = schedule.next_run(now)
        return info

    # ------------------------------------------------------------ the file

    def save(self) -> None:
        """Write run-time definitions and every state to the JSON file (tmp + fsync + rename)."""
        try:
            defs: Any = self.client.hgetall(keys.SCHEDULES)
            states: Any = self.client.hgetall(keys.SCHEDULES_STATE)
        except redis.RedisError as exc:
            log.warning("schedules: could not save %s (%s)", self.path, exc)
            return
        document = {
            "schedules": {k.decode(): json.loads(v) for k, v in defs.items()},
            "state": {k.decode(): json.loads(v) for k, v in states.items()},
        }
        with self._file_lock:
            tmp = self.path.with_suffix(".tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(tmp, "w") as out:
                    json.dump(document, out, indent=1, sort_keys=True)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except OSError as exc:  # a full disk: Redis has the change; the next save writes it
                log.warning("schedules: could not save %s (%s); Redis holds the schedules", self.path, exc)
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def _read_file(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            broken = self.path.with_suffix(f".broken-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.rename(broken)
            log.error(
                "schedules: %s is unreadable (%s); moved to %s, starting from what Redis holds", self.path, exc, broken
            )
            return {}
        return data if isinstance(data, dict) else {}
