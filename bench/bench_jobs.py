"""Job throughput, enqueue rate and start latency: HeroAgent against huey and rq, same Redis, same run.

    pip install -e '.[bench]' && python bench/bench_jobs.py [-n 10000]

HeroAgent runs as `heroagent serve` would (embedded Redis, OurDB history with group-committed fsync,
at-least-once delivery, `worker_count` threads). huey runs RedisHuey with 2 process workers, rq 2
SimpleWorker processes; both on the embedded Redis, on their own keys. Each peer's task increments a
counter; HeroAgent's jobs are `!!fake.return_success` and count as done when their final state is in
the OurDB history. Figures are printed, never asserted; compare the ratios, not the absolute numbers
(the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench._common import free_port  # noqa: E402
from heroagent import HeroAgent  # noqa: E402
from heroagent.config import Config  # noqa: E402

NOOP = "!!fake.return_success message:x"


def wait_for(predicate: Callable[[], bool], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark run did not finish")
        time.sleep(0.005)


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return p50 * 1000, p99 * 1000


def bench_heroagent(agent: HeroAgent, n: int, latency_n: int) -> dict[str, float]:
    jm = agent.get_job_manager()
    out: dict[str, float] = {}
    # Enqueue rates, into a topic no worker serves (pure submission cost, history included).
    count = min(n, 2000)
    t = time.perf_counter()
    for _ in range(count):
        jm.create_job("bench-idle", NOOP)
    out["enqueue_single"] = count / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(0, n, 1000):
        jm.create_jobs([{"topic": "bench-idle", "params": NOOP}] * 1000)
    out["enqueue_bulk"] = (n // 1000 * 1000) / (time.perf_counter() - t)
    # End to end: enqueue n jobs in bulk with the workers running; done = final state in the history.
    done_before = jm.store.count_by_status()["done"]
    t = time.perf_counter()
    for start in range(0, n, 1000):
        jm.create_jobs([{"topic": "bench", "params": NOOP}] * min(1000, n - start))
    wait_for(lambda: jm.store.count_by_status()["done"] - done_before >= n)
    out["e2e"] = n / (time.perf_counter() - t)
    # Latency enqueue -> start, one job at a time at a steady pace.
    ids = []
    for _ in range(latency_n):
        ids.append(jm.create_job("bench", NOOP).job_id)
        time.sleep(0.002)
    jobs = [jm.wait_for_job(i, 60) for i in ids]
    out["p50_ms"], out["p99_ms"] = percentiles([j.time_start - j.time_created for j in jobs])
    return out


def run_peer(name: str, url: str, n: int, latency_n: int, start_workers: Callable[[], list[subprocess.Popen[bytes]]],
             enqueue: Callable[[float | None], None]) -> dict[str, float]:  # fmt: skip
    client = redis.Redis.from_url(url)
    client.delete(f"bench:{name}:done", f"bench:{name}:latency")
    workers = start_workers()
    try:
        time.sleep(1.5)  # let the worker processes start
        t = time.perf_counter()
        for _ in range(n):
            enqueue(None)
        enqueue_rate = n / (time.perf_counter() - t)
        wait_for(lambda: int(client.get(f"bench:{name}:done") or 0) >= n)
        e2e = n / (time.perf_counter() - t)
        for _ in range(latency_n):
            enqueue(time.time())
            time.sleep(0.002)
        wait_for(lambda: int(client.get(f"bench:{name}:done") or 0) >= n + latency_n)
        latencies = [float(x) for x in client.lrange(f"bench:{name}:latency", 0, -1)]  # type: ignore[union-attr]
        p50, p99 = percentiles(latencies)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"enqueue_single": enqueue_rate, "e2e": e2e, "p50_ms": p50, "p99_ms": p99}


def bench_huey(url: str, n: int, latency_n: int) -> dict[str, float]:
    env = dict(os.environ, BENCH_REDIS_URL=url, PYTHONPATH=str(HERE))
    os.environ["BENCH_REDIS_URL"] = url
    sys.path.insert(0, str(HERE))
    import _peer_tasks

    _peer_tasks.huey.flush()

    def start() -> list[subprocess.Popen[bytes]]:
        consumer = shutil.which("huey_consumer") or "huey_consumer"
        cmd = [consumer, "_peer_tasks.huey", "-w", "2", "-k", "process", "-q"]
        return [subprocess.Popen(cmd, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]

    return run_peer("huey", url, n, latency_n, start, lambda at: _peer_tasks.huey_noop("huey", at))


def bench_rq(url: str, n: int, latency_n: int) -> dict[str, float]:
    from rq import Queue

    env = dict(os.environ, BENCH_REDIS_URL=url, PYTHONPATH=str(HERE))
    sys.path.insert(0, str(HERE))
    import _peer_tasks

    queue = Queue("bench-rq", connection=redis.Redis.from_url(url))
    queue.empty()

    def start() -> list[subprocess.Popen[bytes]]:
        rq = shutil.which("rq") or "rq"
        cmd = [rq, "worker", "--url", url, "-w", "rq.worker.SimpleWorker", "-q", "bench-rq"]
        return [
            subprocess.Popen(cmd, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]

    return run_peer("rq", url, n, latency_n, start, lambda at: queue.enqueue(_peer_tasks.noop, "rq", at))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10_000, help="jobs per end-to-end run (default 10000)")
    parser.add_argument("--latency-n", type=int, default=500, help="jobs for the latency run (default 500)")
    parser.add_argument("--workers", type=int, default=5, help="HeroAgent worker threads (default 5)")
    parser.add_argument("--skip", default="", help="comma list of peers to skip: huey,rq")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="ha-bench-"))
    config = Config(data_dir=str(data))
    config.redis.tcp_port = free_port()
    config.webdav.enabled = config.ui.enabled = False
    config.jobs.worker_count = args.workers
    config.jobs.topics = ["bench"]
    results: dict[str, dict[str, float]] = {}
    try:
        with HeroAgent(config) as agent:
            print(f"HeroAgent: {args.workers} worker threads, OurDB history, embedded Redis", flush=True)
            results["heroagent"] = bench_heroagent(agent, args.n, args.latency_n)
            base = f"redis://127.0.0.1:{config.redis.tcp_port}"
            if "huey" not in args.skip:
                print("huey: RedisHuey, 2 process workers", flush=True)
                results["huey"] = bench_huey(f"{base}/1", args.n, args.latency_n)
            if "rq" not in args.skip:
                print("rq: 2 SimpleWorker processes", flush=True)
                results["rq"] = bench_rq(f"{base}/2", args.n, args.latency_n)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print()
    print(f"N = {args.n} no-op jobs end to end; latency over {args.latency_n} jobs enqueued one at a time")
    print(f"{'':10} {'e2e jobs/s':>11} {'enqueue/s':>10} {'bulk/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        bulk = f"{r['enqueue_bulk']:9.0f}" if "enqueue_bulk" in r else f"{'-':>9}"
        print(f"{name:10} {r['e2e']:11.0f} {r['enqueue_single']:10.0f} {bulk} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
    ours = results["heroagent"]["e2e"]
    for peer in ("huey", "rq"):
        if peer in results:
            print(f"HeroAgent / {peer} end-to-end throughput: {ours / results[peer]['e2e']:.2f}x")


if __name__ == "__main__":
    main()
