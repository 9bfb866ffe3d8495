"""One history writer per Redis: the server that records a Redis's jobs holds a lease on it.

Two servers with the job system on one Redis would split its events stream between their recorders, so
each history would miss jobs and each would re-run what the other finished. The server takes
`hero:history:lease` (SET NX PX) before it records anything and renews it from its recorder loop; a
second server on the same Redis refuses to start, naming the first (host, pid, data dir). A server
that finds its own earlier run's lease (same host and data dir: the data dir's lock proves that run is
gone, e.g. after a kill -9) takes it over at once. Every `recorded` call carries the lease's value and
the script refuses it (FENCED) unless the lease still holds that value, so a server that stalled past
its lease and lost it to another cannot ack or drop what the other now records.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from heroagent.errors import ServiceError
from heroagent.jobs import keys

log = logging.getLogger("heroagent.jobs")

LEASE_SECONDS = 15.0

# Renew only while the lease is ours: 1 renewed, 0 someone else's, -1 nobody's (Redis lost it).
_RENEW = """
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if held then return 0 end
return -1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLostError(Exception):
    """Another server holds the history lease now: this one must not record."""


class HistoryLease:
    def __init__(
        self, client: redis.Redis, layout: keys.KeyLayout, data_dir: Path, lease_seconds: float = LEASE_SECONDS
    ) -> None:
        """`layout`: the lease is one per key layout: servers with other [redis] key_prefix values share a
        Redis without sharing a history (or this lease)."""
        self.client = client
        self.layout = layout
        self.data_dir = str(data_dir.resolve())
        self.host = socket.gethostname()
        self.lease_ms = int(lease_seconds * 1000)
        self.value = json.dumps(
            {
                "token": uuid.uuid4().hex,
                "host": self.host,
                "pid": os.getpid(),
                "data_dir": self.data_dir,
                "since": round(time.time(), 3),
            }
        )
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._renewed_at = 0.0

    def acquire(self) -> None:
        """Take the lease, or ServiceError naming the server that holds it."""
        if self.client.set(self.layout.HISTORY_LEASE, self.value, nx=True, px=self.lease_ms):
            self._renewed_at = time.monotonic()
            return
        holder = self.holder()
        if holder.get("host") == self.host and holder.get("data_dir") == self.data_dir:
            log.warning(
                "jobs: taking over the history lease from pid %s, an earlier run with this data dir", holder.get("pid")
            )
            self.client.set(self.layout.HISTORY_LEASE, self.value, px=self.lease_ms)
            self._renewed_at = time.monotonic()
            return
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(holder.get("since", 0) or 0)))
        raise ServiceError(
            "jobs",
            f"another HeroAgent server records this Redis's jobs ({self.layout.described}): pid "
            f"{holder.get('pid', '?')} on host {holder.get('host', '?')} (data dir {holder.get('data_dir', '?')}), "
            f"since {since}. Two servers on one layout would split its history. Stop that one (if it is gone, its "
            f"lease lapses within {self.lease_ms // 1000} s), give this one its own Redis or its own [redis] "
            "key_prefix, or add workers to that one with `heroagent worker` instead",
        )

    def holder(self) -> dict[str, Any]:
        """Who holds the lease ({} = nobody, or a value no HeroAgent wrote)."""
        raw: Any = self.client.get(self.layout.HISTORY_LEASE)
        try:
            found = json.loads(raw) if raw else {}
        except ValueError:
            return {"host": "?", "pid": "?", "data_dir": f"(a value no HeroAgent wrote: {raw[:60]!r})"}
        return found if isinstance(found, dict) else {}

    def keep(self) -> None:
        """Renew the lease when a third of it has passed (called at every recorder step, idle or not);
        LeaseLostError when another server holds it. A lease Redis lost (it lost its data) is taken again."""
        if time.monotonic() - self._renewed_at >= self.lease_ms / 3000:
            self.hold()

    def hold(self) -> None:
        """Renew the lease now, or LeaseLostError: called before every batch is written to the history, so
        a server that lost its lease writes nothing more (one round trip per batch)."""
        outcome = self._renew(keys=[self.layout.HISTORY_LEASE], args=[self.value, self.lease_ms])
        if outcome == 0:
            raise self.lost()
        if outcome == -1 and not self.client.set(self.layout.HISTORY_LEASE, self.value, nx=True, px=self.lease_ms):
            raise LeaseLostError("the history lease was taken by another server while Redis had lost it")
        self._renewed_at = time.monotonic()

    def lost(self) -> LeaseLostError:
        """The error saying who holds the lease now."""
        holder = self.holder()
        return LeaseLostError(
            f"the history lease went to another server (pid {holder.get('pid')} on {holder.get('host')}, "
            f"data dir {holder.get('data_dir')}): this one records nothing until it is restarted"
        )

    def release(self) -> None:
        """Give the lease up (at a stop), so another server may start at once."""
        try:
            self._release(keys=[self.layout.HISTORY_LEASE], args=[self.value])
        except redis.RedisError as exc:
            log.warning("jobs: could not release the history lease (%s); it lapses in %d s", exc, self.lease_ms // 1000)
