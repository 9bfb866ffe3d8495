"""The no-op task for the peers (huey, rq): count it done, and when given its enqueue time, its start latency."""

from __future__ import annotations

import os
import time

import redis

_client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))


def noop(name: str, enqueued_at: float | None = None) -> None:
    if enqueued_at is None:
        _client.incr(f"bench:{name}:done")
    else:
        pipe = _client.pipeline(transaction=False)
        pipe.rpush(f"bench:{name}:latency", time.time() - enqueued_at)
        pipe.incr(f"bench:{name}:done")
        pipe.execute()


try:
    from huey import RedisHuey

    huey = RedisHuey("bench", url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), results=False)
    huey_noop = huey.task()(noop)
except ImportError:  # pragma: no cover - huey is a bench extra
    pass
