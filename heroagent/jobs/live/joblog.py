"""Per-job log files under `<data_dir>/logs/<jobid>.log`, for jobs submitted with `log = true`."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import redis

from heroagent.jobs import keys

log = logging.getLogger(__name__)

LOG_TTL = 7 * 24 * 3600


class LogSink(Protocol):
    """Where a worker writes a job's log lines."""

    def append(self, job_id: int, text: str) -> None: ...

    def append_first(self, job_id: int, text: str, at: float) -> None:
        """`text`, stamped `at`, as the log's first line; nothing when the log has lines already."""


def _stamped(text: str, at: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return "".join(f"{stamp} {line}\n" for line in text.rstrip("\n").split("\n"))


@dataclass(frozen=True)
class LogPart:
    """Whole lines of a job's log: the bytes from `start` to `end` as text, and the log's size when read (a
    reader that follows the log asks next from `end`)."""

    text: str
    start: int
    end: int
    size: int


class JobLogs:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self.failures = 0  # lines that could not be written since start (health notices)
        self._failed_jobs: set[int] = set()

    def path(self, job_id: int) -> Path:
        return self.directory / f"{job_id}.log"

    def append(self, job_id: int, text: str) -> None:
        self.append_raw(job_id, _stamped(text))

    def append_first(self, job_id: int, text: str, at: float) -> None:
        """`text`, stamped `at`, as the log's first line, unless the log has lines already: the worker (at
        a job's first start) and the recorder (at its first version) both write the `created` line, and
        whichever comes first does, so the log says what happened in the order it happened."""
        with self._lock:
            try:
                if self.path(job_id).stat().st_size > 0:
                    return
            except OSError:
                pass
        self.append_raw(job_id, _stamped(text, at))

    def append_raw(self, job_id: int, lines: str) -> None:
        """Append to the job's log. A log that cannot be written (disk full, a directory in the way) is
        logged and counted, never raised: a job's log is never worth the job, the worker or the recorder."""
        with self._lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with self.path(job_id).open("a", encoding="utf-8") as f:
                    f.write(lines)
            except OSError as exc:
                self.failures += 1
                if job_id not in self._failed_jobs:  # once per job, not once per line
                    if len(self._failed_jobs) > 10_000:
                        self._failed_jobs.clear()
                    self._failed_jobs.add(job_id)
                    log.warning("jobs: the log of job %d cannot be written (%s); its lines are dropped", job_id, exc)

    def read(self, job_id: int, offset: int = 0) -> str:
        """The log from byte `offset` on ("" at or past its end: an offset past the largest file the
        filesystem can hold is no error, only nothing to read)."""
        try:
            with self.path(job_id).open("rb") as f:
                if offset >= os.fstat(f.fileno()).st_size:
                    return ""
                f.seek(offset)
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def read_tail(self, job_id: int, max_bytes: int) -> tuple[str, bool]:
        """The last `max_bytes` of the log, and whether anything before them was left out."""
        try:
            with self.path(job_id).open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - max_bytes))
                return f.read().decode("utf-8", errors="replace"), size > max_bytes
        except FileNotFoundError:
            return "", False

    def last_lines(self, job_id: int, max_bytes: int) -> LogPart:
        """The log's last lines in at most `max_bytes`, from a line's start: where the cut falls inside a line,
        that line is left out (a first line cut in two reads as a different line). One line longer than
        `max_bytes` is the exception: its end is kept, so a page shows something."""
        try:
            with self.path(job_id).open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                start = max(0, size - max_bytes)
                f.seek(start)
                data = f.read(size - start)
        except FileNotFoundError:
            return LogPart("", 0, 0, 0)
        if start > 0:
            newline = data.find(b"\n")
            if 0 <= newline < len(data) - 1:
                data, start = data[newline + 1 :], start + newline + 1
        return LogPart(data.decode("utf-8", errors="replace"), start, start + len(data), size)

    def lines_from(self, job_id: int, offset: int, max_bytes: int, *, partial: bool = False) -> LogPart:
        """Up to `max_bytes` of the log from byte `offset`, ending at a line's end: a line still being written
        waits for its end (`partial`: take it as it is, when nothing more will be written)."""
        try:
            with self.path(job_id).open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                if offset >= size:
                    return LogPart("", offset, offset, size)
                f.seek(offset)
                data = f.read(min(max_bytes, size - offset))
        except FileNotFoundError:
            return LogPart("", offset, offset, 0)
        if not partial or offset + len(data) < size:
            whole = data.rfind(b"\n") + 1
            if whole or len(data) < max_bytes:  # a line longer than max_bytes comes in pieces, or never would
                data = data[:whole]
        return LogPart(data.decode("utf-8", errors="replace"), offset, offset + len(data), size)

    def remove(self, job_id: int) -> None:
        self.path(job_id).unlink(missing_ok=True)


class RedisLogSink:
    """For workers outside the server (`heroagent worker`): log lines go to Redis, the server files them."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def append_first(self, job_id: int, text: str, at: float) -> None:
        """Nothing: the server's recorder writes a job's first line, when it records the job."""

    def append(self, job_id: int, text: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(keys.joblog(job_id), _stamped(text))
        pipe.expire(keys.joblog(job_id), LOG_TTL)
        pipe.sadd(keys.JOBLOGS_PENDING, job_id)
        pipe.execute()


def collect_remote_logs(client: redis.Redis, logs: JobLogs, job_id: int | None = None) -> int:
    """Move log lines that other processes left in Redis into the log files; returns jobs handled."""
    ids: Any = [job_id] if job_id is not None else client.spop(keys.JOBLOGS_PENDING, 100)
    handled = 0
    for raw_id in ids or []:
        job = int(raw_id)
        pipe = client.pipeline(transaction=True)
        pipe.lrange(keys.joblog(job), 0, -1)
        pipe.delete(keys.joblog(job))
        chunks: Any = pipe.execute()[0]
        if chunks:
            logs.append_raw(job, "".join(c.decode(errors="replace") for c in chunks))
            handled += 1
    return handled
