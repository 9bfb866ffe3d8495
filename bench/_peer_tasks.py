"""The one job body every system in bench_jobs.py runs: one Redis INCR of its run's counter (and, when
given the time the job was submitted, an RPUSH of its submit->start latency). Imported by the peers'
workers (huey, dramatiq, rq) and, as the `bench` actor, by HeroAgent's (`--module bench._peer_tasks`)."""

from __future__ import annotations

import os
import time
from typing import Any

import redis

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
_client = redis.Redis.from_url(URL)


def noop(name: str, submitted_at: float = 0.0) -> None:
    """The job body: count it done (and its start latency when `submitted_at` is given)."""
    if submitted_at:
        _client.rpush(f"bench:{name}:latency", time.time() - submitted_at)
    _client.incr(f"bench:{name}:done")


try:  # HeroAgent: `!!bench.noop name:x submitted_at:0`
    import heroagent

    @heroagent.actor("bench")
    class Bench:
        def noop(self, name: str, submitted_at: Any = 0) -> str:
            noop(str(name), float(submitted_at))
            return ""
except ImportError:  # pragma: no cover
    pass

try:
    from huey import RedisHuey

    huey = RedisHuey("bench", url=URL, results=False)
    huey_noop = huey.task()(noop)
except ImportError:  # pragma: no cover - a bench extra
    pass

try:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    dramatiq.set_broker(RedisBroker(url=URL, namespace="bench-dramatiq"))
    dramatiq_noop = dramatiq.actor(noop, actor_name="noop", queue_name="bench", max_retries=0)
except ImportError:  # pragma: no cover - a bench extra
    pass
