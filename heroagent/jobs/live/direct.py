"""The hot path's Redis calls, sent on a connection the calling thread keeps, past redis-py's per-call work.

Why: a job costs up to four calls of ours (create, the wake BLPOP, claim, finish). Through `redis.Redis`
each call takes a connection from the pool and gives it back (a lock, a `poll` for stray data, the
observability counters of redis-py 8), goes through the retry wrapper and packs its arguments twice.
On this project's 2-core VMs that is about 40 us of CPU per call on top of the ~35 us the socket
itself costs: a fifth of the producer's CPU per job and a similar share of a worker's.

Each thread takes one connection from the client's own pool the first time and keeps it checked
out, so `client.close()` (which disconnects every connection of the pool, checked out or not) still
closes it, and a later call reconnects. A thread that ended gives its connection back when another
thread takes one. After a fork the child takes a connection of its own (the pool resets itself).

Errors keep redis-py's behaviour. Before each call the connection is checked as the pool checks one
it hands out (a connection Redis closed, after a restart, or with stray data is made anew). An error
reply (other than NOSCRIPT) is raised as is. A script Redis does not know yet is loaded and called by
the client's `Script`. A lost connection or a timeout is dropped and, if the client retries (redis-py's
default), the call is made again through the client, with its retry policy; a client made to give up
at once (`request_options`: retries 0) gets the error, as it would have.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from hiredis import pack_command
from redis.commands.core import Script
from redis.connection import Connection
from redis.exceptions import NoScriptError

from heroagent.config import Config, RedisConfig
from heroagent.jobs.errors import ReplicasBehindError

Arg = str | bytes | int | float
_CONNECTION_LOST = (redis.ConnectionError, redis.TimeoutError, OSError)


_BUILT_IN = RedisConfig()  # the defaults of [redis] min_replicas and replica_timeout


@dataclass(frozen=True)
class Durability:
    """How many replicas must have a write before it counts (`[redis] min_replicas`), and how long a write
    waits for them (`replica_timeout`, seconds). Replication is asynchronous: a write the primary
    answered can be lost with it, unless the answer waited (WAIT) until replicas had it."""

    min_replicas: int = _BUILT_IN.min_replicas
    replica_timeout: float = _BUILT_IN.replica_timeout

    @classmethod
    def of(cls, config: Config) -> Durability:
        return cls(config.redis.min_replicas, config.redis.replica_timeout)

    def at_least(self, other: Durability) -> Durability:
        """The stricter of the two (a client's own setting and the one its server published)."""
        return self if self.min_replicas >= other.min_replicas else other

    @property
    def wait_args(self) -> tuple[str, int, int]:
        return ("WAIT", self.min_replicas, max(1, round(self.replica_timeout * 1000)))

    def check(self, acked: Any, what: str, reply: Any = None) -> None:
        """Raise ReplicasBehindError unless WAIT's answer `acked` reached min_replicas."""
        count = int(acked)
        if count < self.min_replicas:
            raise ReplicasBehindError(
                f"{what} is on the Redis primary but only {count} of the {self.min_replicas} replicas "
                f"[redis] min_replicas asks for had it within {self.replica_timeout:g} s: it may be lost if the "
                "primary fails now; check the replicas (INFO replication), or lower [redis] min_replicas",
                reply,
            )


class DirectCalls:
    """Scripts and commands of one `redis.Redis` client, each thread on a connection of its own."""

    def __init__(self, client: redis.Redis, durability: Durability | None = None) -> None:
        self.client = client
        self.durability = durability or Durability()
        self._pool = client.connection_pool
        self._held: dict[int, tuple[int, Connection]] = {}  # thread ident -> (pid, connection)
        self._lock = threading.Lock()
        self._retries = _retries_of(client)  # what the client does on a lost connection
        self._loaded: set[str] = set()  # scripts loaded by `script_then_blpop`, which cannot load them after

    def script(self, script: Script, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        """`script(keys=keys, args=args)` in one round trip (EVALSHA) on this thread's connection."""
        try:
            return self._call(("EVALSHA", script.sha, len(keys), *keys, *args))
        except NoScriptError:
            pass  # never ran: the client's Script loads it and calls it
        except _CONNECTION_LOST:
            if not self._retries:
                raise
        return script(keys=list(keys), args=list(args))  # type: ignore[arg-type]

    def replicated(self, script: Script, what: str, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        """`script` as `script` does, and then, with `[redis] min_replicas`, WAIT for the replicas on the
        same connection (sent together: one round trip): ReplicasBehindError (carrying the script's reply)
        when too few had it in time. `what` names the write for that error."""
        durability = self.durability
        if not durability.min_replicas:
            return self.script(script, keys, args)
        evalsha = ("EVALSHA", script.sha, len(keys), *keys, *args)
        conn: Connection | None = None
        try:
            conn = self._checked_connection()
            conn.send_packed_command(_pack(evalsha) + _pack(durability.wait_args))  # type: ignore[no-untyped-call]
            first: redis.ResponseError | None = None
            reply: Any = None
            try:
                reply = conn.read_response()
            except redis.ResponseError as exc:
                first = exc  # WAIT's answer follows it all the same
            acked = conn.read_response()
        except redis.ResponseError:
            raise
        except BaseException as exc:
            if conn is not None:
                conn.disconnect()  # type: ignore[no-untyped-call]  # a reply may be left unread on it
            if not isinstance(exc, _CONNECTION_LOST) or not self._retries:
                raise
            reply, acked = self._replicated_again(script, keys, args)
        else:
            if isinstance(first, NoScriptError):
                reply, acked = self._replicated_again(script, keys, args)
            elif first is not None:
                raise first
        durability.check(acked, what, reply)
        return reply

    def _replicated_again(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> tuple[Any, Any]:
        """The script and its WAIT through the client (its retries; the script loaded if Redis lacks it),
        in one pipeline: both on one connection, as WAIT needs."""
        pipe = self.client.pipeline(transaction=False)
        script(keys=list(keys), args=list(args), client=pipe)  # type: ignore[arg-type]
        pipe.execute_command(*self.durability.wait_args)  # type: ignore[no-untyped-call]
        reply, acked = pipe.execute()
        return reply, acked

    def blpop(self, keys: Sequence[str], timeout: float) -> Any:
        """BLPOP on this thread's connection; None when `timeout` passed (as `redis.Redis.blpop`)."""
        try:
            reply = self._call(("BLPOP", *keys, timeout))
        except _CONNECTION_LOST:
            if not self._retries:
                raise
            return self.client.blpop(list(keys), timeout=timeout)
        return tuple(reply) if reply else None

    def script_then_blpop(self, script: Script, args: Sequence[Arg], keys: Sequence[str], timeout: float) -> Any:
        """`script(args=args)`, then BLPOP `keys` (as `blpop`), sent together: one round trip for both.
        The script's reply is not returned. It is loaded first, the first time; should Redis have
        forgotten it since (a restart, SCRIPT FLUSH), the NOSCRIPT is no error: the BLPOP ran without
        it, and the script is loaded again for the next call."""
        if script.sha not in self._loaded:
            self.client.script_load(script.script)
            self._loaded.add(script.sha)
        conn = self._checked_connection()
        try:
            conn.send_packed_command(_pack(("EVALSHA", script.sha, 0, *args)) + _pack(("BLPOP", *keys, timeout)))  # type: ignore[no-untyped-call]
            first: redis.ResponseError | None = None
            try:
                conn.read_response()
            except redis.ResponseError as exc:
                first = exc  # the BLPOP's reply follows it all the same
            reply = conn.read_response()
        except redis.ResponseError:
            raise  # the replies were read whole: the connection is fine
        except BaseException as exc:
            conn.disconnect()  # type: ignore[no-untyped-call]  # a reply may be left unread on it
            if not isinstance(exc, _CONNECTION_LOST) or not self._retries:
                raise
            script(args=list(args))
            return self.client.blpop(list(keys), timeout=timeout)
        if isinstance(first, NoScriptError):
            self.client.script_load(script.script)
        elif first is not None:
            raise first
        return tuple(reply) if reply else None

    def command(self, *command: Arg) -> Any:
        """One command on this thread's connection, its reply as Redis gave it (no redis-py callback),
        and never sent twice: a lost connection is raised, not retried. For a read whose effect must
        not be repeated unseen (XREADGROUP delivers entries as it reads them)."""
        return self._call(command)

    def _call(self, command: tuple[Arg, ...]) -> Any:
        conn = self._checked_connection()
        try:
            conn.send_packed_command(_pack(command))  # type: ignore[no-untyped-call]
            return conn.read_response()
        except redis.ResponseError:
            raise  # the reply was read whole: the connection is fine
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]  # a reply may be left unread on it; the next call reconnects
            raise

    def _checked_connection(self) -> Connection:
        """This thread's connection, checked as the pool checks one it hands out."""
        conn = self._connection()
        try:
            stale = conn.can_read()
        except _CONNECTION_LOST:
            stale = True
        if stale:
            conn.disconnect()  # type: ignore[no-untyped-call]  # closed by Redis, or a reply left on it: anew
        if getattr(conn, "_sock", None) is None:
            # connected here, not by the send: a Sentinel's connection then asks where the master is now
            # (the send would reconnect to the address it had, a primary that may be gone)
            conn.connect()  # type: ignore[no-untyped-call]
        return conn

    def _connection(self) -> Connection:
        me, pid = threading.get_ident(), os.getpid()
        held = self._held.get(me)
        if held is not None and held[0] == pid:
            return held[1]
        with self._lock:
            if any(p != pid for p, _ in self._held.values()):
                self._held.clear()  # a forked child: the parent's connections are not ours to use or free
            alive = {t.ident for t in threading.enumerate()}
            for ident in [i for i in self._held if i not in alive]:
                self._pool.release(self._held.pop(ident)[1])  # an ended thread's, for the next one
        conn = self._pool.get_connection()
        with self._lock:
            self._held[me] = (pid, conn)
        return conn


def _pack(command: tuple[Arg, ...]) -> list[bytes]:
    """The command in RESP, packed by hiredis as redis-py packs it (a float as its repr)."""
    try:
        return [pack_command(command)]  # type: ignore[arg-type]
    except TypeError as exc:  # as redis-py says it: a bool, None, ...
        raise redis.DataError(str(exc)) from None


def _retries_of(client: redis.Redis) -> int:
    """How many times the client retries a call on a lost connection (redis-py 6 says so with
    `get_retries()`; 5.x keeps it in `_retries`)."""
    get_retry = getattr(client, "get_retry", None)
    retry = get_retry() if get_retry is not None else client.connection_pool.connection_kwargs.get("retry")
    if retry is None:
        return 0
    count = getattr(retry, "get_retries", None)
    return int(count()) if count is not None else int(getattr(retry, "_retries", 0))
