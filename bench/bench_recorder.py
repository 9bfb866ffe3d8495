"""How fast the recorder drains a backlog of finished jobs, against the floor's end-to-end rate (issue 27,
item 3: "a backlog of 100,000 finished jobs drains at least 2x faster than the floor's end-to-end rate in
the same run").

    python bench/bench_recorder.py [-n 100000]

One embedded HeroAgent (its Redis, 4 worker threads). Its recorder loop is stopped; `-n` jobs
(`fake.return_success`) are created in bulk and run, so their three states each (created, active, done)
wait in `hero:events`: the backlog. Then the recorder's own `drain()` is timed in this process until the
stream is empty and every job is in the history (OurDB and its index), with the CPU it used. The floor in
the same run: `-n` items LPUSHed one by one from this process to the bench's bare BRPOP workers (two
processes, bench/_floor_worker.py, each item one INCR), timed until all ran. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from heroagent import HeroAgent  # noqa: E402
from tests.conftest import make_config  # noqa: E402


def backlog(agent: HeroAgent, n: int) -> float:
    """Stop the recorder loop, make and run `n` jobs; returns the seconds that took."""
    jobs = agent.jobs
    assert jobs is not None and agent.redis is not None
    for loop in jobs.loops:
        if loop.name == "recorder":
            loop.stop()
    client = agent.redis.client()
    jm = agent.get_job_manager()
    start = time.perf_counter()
    for first in range(0, n, 1000):
        jm.create_jobs([{"topic": "backlog", "params": "!!fake.return_success"}] * min(1000, n - first))
    while int(client.xlen("hero:events")) < 3 * n:
        time.sleep(0.05)
    return time.perf_counter() - start


def drain(agent: HeroAgent, n: int) -> tuple[float, float]:
    """(seconds, CPU seconds of this process) the recorder took to record the whole backlog."""
    jobs = agent.jobs
    assert jobs is not None and jobs.recorder is not None and agent.redis is not None
    client = agent.redis.client()
    cpu, start = time.process_time(), time.perf_counter()
    jobs.recorder.drain()
    took = time.perf_counter() - start
    used = time.process_time() - cpu
    left = int(client.xlen("hero:events"))
    if left:
        raise SystemExit(f"{left} events were left in the stream")
    return took, used


def floor(url: str, n: int) -> float:
    """The floor's end-to-end jobs/s: LPUSH one by one, two BRPOP processes run an INCR each."""
    import redis

    client: Any = redis.Redis.from_url(url)
    client.delete("bench:floor-drain:done")
    env = {**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": str(HERE.parent)}
    workers = [subprocess.Popen([sys.executable, str(HERE / "_floor_worker.py")], env=env) for _ in range(2)]
    try:
        time.sleep(1.5)
        start = time.perf_counter()
        for _ in range(n):
            client.lpush("bench:floor:queue", "floor-drain|0")
        while int(client.get("bench:floor-drain:done") or 0) < n:
            time.sleep(0.002)
        return n / (time.perf_counter() - start)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--floor-n", type=int, default=20_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="br-"))
    config = make_config(root, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 4})
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        made = backlog(agent, args.n)
        took, cpu = drain(agent, args.n)
        floor_rate = floor(agent.redis.url, args.floor_n)
    rate = args.n / took
    print(f"backlog of {args.n} finished jobs ({3 * args.n} events), made and run in {made:.1f} s")
    print(
        f"drained in {took:.1f} s: {rate:,.0f} jobs/s ({3 * rate:,.0f} events/s), CPU {cpu * 1e6 / args.n:.0f} us/job"
    )
    print(f"floor end to end ({args.floor_n} one by one, same run): {floor_rate:,.0f} jobs/s")
    print(f"drain / floor: {rate / floor_rate:.2f}x (the issue asks for >= 2x)")


if __name__ == "__main__":
    main()
