"""Requests from other processes (JobClient, `heroagent job ...`) to the server's JobManager, over Redis.

The server is the only writer of the job history, so a client on another machine or in a shell
sends its request to the list `hero:rpc:requests` and waits on its own reply key. Only the
JobManager operations declared in jobs/live/operations.py (OPERATIONS here) can be called; arguments
and answers are JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from typing import Any

import redis

from heroagent.jobs.errors import JobError, error_name
from heroagent.jobs.live.operations import server_operations
from heroagent.jobs.model import Job
from heroagent.jobs.server.manager import JobManager
from heroagent.loops import SupervisedLoop
from heroagent.redis_connect import NO_ANSWER_JOIN

log = logging.getLogger(__name__)

REPLY_TTL = 60
WAKE_TTL = 10  # a wake its server never read (it had stopped already) goes by itself
OPERATIONS = server_operations()  # declared once, in jobs/live/operations.py


def encode_result(value: Any) -> Any:
    if isinstance(value, Job):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [encode_result(v) for v in value]
    return value


class RequestServer:
    """One thread answering client requests with the manager (each request is quick; none blocks)."""

    def __init__(self, manager: JobManager, client: redis.Redis, poll_interval: float = 0.5) -> None:
        self.manager = manager
        self.client = client
        self.poll_interval = poll_interval
        self.loop = SupervisedLoop("request-server", self._step)
        self._wake = self.manager.layout.rpc_wake(uuid.uuid4().hex)  # its own: another server's stop never wakes it

    def start(self) -> None:
        self.loop.start()

    def stop(self, *, redis_answers: bool = True) -> None:
        """Stop at once: the BLPOP in progress is woken through this server's wake key. With Redis not
        answering (the caller asked it) nothing is sent: the thread, waiting on Redis, is left after a
        short wait (a daemon; it ends when its BLPOP does)."""
        self.loop.request_stop()
        if not redis_answers:
            self.loop.stop(timeout=NO_ANSWER_JOIN)
            return
        with contextlib.suppress(redis.RedisError):
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(self._wake, 1)
            pipe.expire(self._wake, WAKE_TTL)
            pipe.execute()
        self.loop.stop(timeout=5)
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self._wake)

    def _step(self) -> None:
        """Wait up to poll_interval for one request and answer it (Redis away: wait, not an error)."""
        try:
            item: Any = self.client.blpop([self.manager.layout.RPC_REQUESTS, self._wake], timeout=self.poll_interval)
        except redis.RedisError:
            self.loop.stopping.wait(0.5)
            return
        if item is None or item[0] in (self._wake, self._wake.encode()):  # timed out, or woken to stop
            return
        try:
            self.handle(item[1])
        except redis.RedisError as exc:
            log.warning("jobs: could not answer a client request (%s)", exc)

    def handle(self, raw: bytes) -> None:
        try:
            request = json.loads(raw)
            request_id = str(request["id"])
        except (ValueError, KeyError, TypeError):
            log.warning("jobs: ignored a malformed client request: %r", raw[:200])
            return
        deadline = request.get("deadline")
        if isinstance(deadline, int | float) and (late := self._redis_now() - deadline) > 0:
            op = request.get("op")
            log.info("jobs: dropped a %s request its client gave up on (%.1fs past its deadline)", op, late)
            return
        answer = self.answer(request)
        reply_key = self.manager.layout.rpc_reply(request_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(reply_key, json.dumps(answer))
        pipe.expire(reply_key, REPLY_TTL)
        pipe.execute()

    def _redis_now(self) -> float:
        """Redis's clock, the one the client's deadline is in (machines' clocks may differ)."""
        seconds, micros = self.client.time()
        return float(seconds) + micros / 1e6

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        args = request.get("args") or []
        kwargs = request.get("kwargs") or {}
        if op not in OPERATIONS or not isinstance(args, list) or not isinstance(kwargs, dict):
            return {"ok": False, "kind": "JobError", "error": f"unknown operation {op!r}"}
        try:
            result = getattr(self.manager, op)(*args, **kwargs)
        except JobError as exc:
            return {"ok": False, "kind": error_name(exc), "error": str(exc)}
        except TypeError as exc:
            return {"ok": False, "kind": "InvalidJobError", "error": f"{op}: {exc}"}
        except Exception as exc:
            log.exception("jobs: client request %s failed", op)
            return {"ok": False, "kind": "JobError", "error": f"{op} failed on the server: {exc}"}
        return {"ok": True, "result": encode_result(result)}
