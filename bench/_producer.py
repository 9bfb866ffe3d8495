"""The producer every system in bench_jobs.py gets: one process, one documented call per job, in a loop.

    python bench/_producer.py SYSTEM NAME N MODE URL      (MODE: one | bulk | paced)

`one`: submit N jobs one by one as fast as the call returns; `bulk`: in batches of 1000 where the
system has a bulk call; `paced`: 100 jobs a second, each carrying its submit time (for start latency).
Prints the wall time it started at, so the parent measures end to end from the first submit.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 1000


def submitter(system: str, url: str) -> tuple[Callable[[str, float], Any], Callable[[str, int], Any] | None]:
    """(submit one job, submit a batch or None) for `system`, through its documented API."""
    if system == "floor":
        import redis

        client = redis.Redis.from_url(url)

        def floor_bulk(name: str, count: int) -> None:
            client.lpush("bench:floor:queue", *[f"{name}|0"] * count)

        return lambda name, at: client.lpush("bench:floor:queue", f"{name}|{at}"), floor_bulk
    from bench import _peer_tasks

    if system.startswith("huey"):
        return lambda name, at: _peer_tasks.huey_noop(name, at), None
    if system == "dramatiq":
        return lambda name, at: _peer_tasks.dramatiq_noop.send(name, at), None
    if system == "rq":
        import redis
        from rq import Queue

        queue = Queue("bench-rq", connection=redis.Redis.from_url(url))

        def rq_bulk(name: str, count: int) -> None:
            queue.enqueue_many([Queue.prepare_data(_peer_tasks.noop, (name, 0.0)) for _ in range(count)])

        return lambda name, at: queue.enqueue(_peer_tasks.noop, name, at), rq_bulk
    if system == "heroagent-embedded":
        return embedded_submitter()
    if system.startswith("heroagent"):
        from heroagent.client import JobClient

        client = JobClient(url)

        def hero_bulk(name: str, count: int) -> None:
            client.create_jobs([{"topic": "bench", "params": f"!!bench.noop name:{name}"}] * count)

        numbers = iter(range(1 << 62))

        def extra() -> dict[str, Any]:
            """The flow-control variants: the same job with a priority (0-9 in turn) or a no-overlap key."""
            if system == "heroagent+prio":
                return {"priority": next(numbers) % 10}
            if system == "heroagent+nooverlap":
                return {"no_overlap_key": f"k{next(numbers)}"}
            return {}

        def hero_one(name: str, at: float) -> Any:
            return client.create_job("bench", f"!!bench.noop name:{name} submitted_at:{at!r}", **extra())

        return hero_one, hero_bulk
    raise SystemExit(f"unknown system {system}")


EMBEDDED: list[Any] = []  # the HeroAgent of a `heroagent-embedded` run (started by its submitter)


def embedded_agent() -> Any:
    """A HeroAgent in this process, as `agent = HeroAgent(config); agent.start()` makes it: its own Redis
    and history, its worker threads running the bench's body (which counts in the bench's Redis)."""
    import tempfile

    from bench._common import free_port
    from heroagent import HeroAgent
    from heroagent.config import Config

    config = Config(data_dir=tempfile.mkdtemp(prefix="ha-embedded-"))
    config.redis.tcp_port = free_port()
    config.webdav.enabled = config.ui.enabled = config.scheduler.enabled = False
    config.jobs.topics = ["bench"]
    config.jobs.modules = ["bench._peer_tasks"]
    agent = HeroAgent(config)
    agent.start()
    EMBEDDED.append(agent)
    return agent


def embedded_submitter() -> tuple[Callable[[str, float], Any], Callable[[str, int], Any]]:
    jm = embedded_agent().get_job_manager()

    def embedded_bulk(name: str, count: int) -> None:
        jm.create_jobs([{"topic": "bench", "params": f"!!bench.noop name:{name}"}] * count)

    def embedded_one(name: str, at: float) -> Any:
        return jm.create_job("bench", f"!!bench.noop name:{name} submitted_at:{at!r}")

    return embedded_one, embedded_bulk


def embedded_done(count: int) -> None:
    """Wait until the embedded agent's history holds every job's end, print when, its Redis's CPU, stop."""
    from bench._cpu import child_named, process_cpu

    agent = EMBEDDED[0]
    client = agent.redis.client()
    while client.hlen("hero:jobtopic") or client.xlen("hero:events"):
        time.sleep(0.002)
    print(f"recorded {time.time()!r} {time.process_time()!r}", flush=True)  # its CPU: all its threads
    redis_pid = child_named(os.getpid(), "redis-server")
    print(f"redis-cpu {process_cpu(redis_pid) if redis_pid else 0.0!r}", flush=True)
    agent.stop()


def main() -> None:
    system, name, count, mode, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    one, bulk = submitter(system, url)
    print(f"start {time.time()!r} {time.process_time()!r}", flush=True)
    if mode == "bulk":
        assert bulk is not None, f"{system} has no bulk call"
        for start in range(0, count, BATCH):
            bulk(name, min(BATCH, count - start))
    elif mode == "paced":
        began = time.monotonic()
        for i in range(count):
            time.sleep(max(0.0, began + i / 100 - time.monotonic()))
            one(name, time.time())
    else:
        for _ in range(count):
            one(name, 0.0)
    print(f"end {time.time()!r} {time.process_time()!r}", flush=True)  # its CPU: the producer's role
    if EMBEDDED:
        embedded_done(count)


if __name__ == "__main__":
    main()
