"""The worker registry in Redis: which pools report, and asking one to drain.

Every worker pool (in the server or a remote `heroagent worker`) reports itself under `hero:workers`
(a sorted set by last heartbeat) and `hero:worker:<pool id>` (a hash); a pool checks
`hero:workers:draining` at each heartbeat. These reads and writes are here, in the live wing, so a
client, the CLI and the server's manager drain and list pools without importing the pool itself.
"""

from __future__ import annotations

import time

import redis

from heroagent.jobs import keys
from heroagent.jobs.errors import WorkerNotFoundError
from heroagent.jobs.live.queue import JobQueue


def pool_of(worker_id: str) -> str:
    """The pool a worker thread's id belongs to (its ids are "<pool id>/<number>")."""
    return worker_id.rpartition("/")[0]


def served_topics(client: redis.Redis, layout: keys.KeyLayout) -> set[str]:
    """The topics live worker pools serve by name ("*" serves every topic, so it names none): such a topic is
    known before its first job (a topic action on it needs no create=true)."""
    return {t for pool in list_workers(client, layout) for t in pool.get("topics", "").split(",") if t not in ("", "*")}


def list_workers(client: redis.Redis, layout: keys.KeyLayout, stale_after: float = 30.0) -> list[dict[str, str]]:
    """Every pool that reported recently, here or on another machine."""
    cutoff = int((time.time() - stale_after) * 1000)
    client.zremrangebyscore(layout.WORKERS, "-inf", cutoff)
    ids = [i.decode() for i in client.zrange(layout.WORKERS, 0, -1)]  # type: ignore[union-attr]
    pipe = client.pipeline(transaction=False)
    for worker_id in ids:
        pipe.hgetall(layout.worker(worker_id))
    out = []
    for worker_id, data in zip(ids, pipe.execute(), strict=True):
        if data:
            out.append({"id": worker_id, **{k.decode(): v.decode() for k, v in data.items()}})
    return out


def set_draining(client: redis.Redis, layout: keys.KeyLayout, worker_id: str, draining: bool) -> dict[str, str]:
    """Ask a worker pool (here or on another machine) to drain: it claims nothing more, hands back what
    it claimed but did not start, finishes what runs (a `heroagent worker` process then exits); or to
    serve again. It sees this at its next heartbeat. WorkerNotFoundError if no such pool reports."""
    if client.zscore(layout.WORKERS, worker_id) is None:
        known = ", ".join(w["id"] for w in list_workers(client, layout)) or "none"
        raise WorkerNotFoundError(f"no worker pool {worker_id[:200]!r} reports to this Redis (known: {known})")
    if draining:
        client.sadd(layout.WORKERS_DRAINING, worker_id)
    else:
        client.srem(layout.WORKERS_DRAINING, worker_id)
    return {"id": worker_id, "draining": "1" if draining else "0"}


def set_draining_everywhere(queue: JobQueue, worker_id: str, draining: bool) -> dict[str, str]:
    """`set_draining` where the pool reads it (partition 0's registry) and where the scripts do (every
    partition's; the same key without [redis] partitions)."""
    home, *others = queue.partitions()
    answer = set_draining(home.client, home.layout, worker_id, draining)
    for part in others:
        if draining:
            part.client.sadd(part.layout.WORKERS_DRAINING, worker_id)
        else:
            part.client.srem(part.layout.WORKERS_DRAINING, worker_id)
    return answer
