"""What `[redis] min_replicas = 1` costs, and what it saves (issue 28, item 3).

    python bench/bench_replicas.py [-n 2000] [--rounds 3]

Real parts: Debian's redis-server and redis-sentinel (scripts/test.sh installs them) on 127.0.0.1: a
primary, two replicas and three sentinels, as tests/redis_server/test_sentinel.py starts them. HeroAgent
runs through the sentinels with its workers in the server process.

1. Cost, min_replicas 0 against 1 in the same run, alternating (`--rounds` each): `-n` creates one by one
   from a JobClient (jobs/s, the create's p50/p99 in ms), the same in bulk (100 a call), and the time until
   every job is recorded done in the history (end to end, jobs/s).
2. The window: for 0 and 1, `--rounds` failovers: a client submits one by one while the primary is killed
   (kill -9); then each acknowledged job is looked for in the history: missing (lost), or ended more than
   once. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from heroagent import HeroAgent  # noqa: E402
from heroagent.client import JobClient  # noqa: E402
from tests.conftest import free_port, wait_until  # noqa: E402
from tests.redis_server.test_sentinel import (  # noqa: E402
    SentinelSet,
    _sentinels_agree,
    _start_sentinel,
    _start_server,
)


def sentinel_set(folder: Path) -> SentinelSet:
    group = SentinelSet(folder)
    folder.mkdir(parents=True)
    primary = free_port()
    _start_server(group, primary, None)
    for _ in range(2):
        _start_server(group, free_port(), primary)
    if not wait_until(lambda: group.replicas_of(primary) == 2, timeout=30):
        group.stop()
        raise SystemExit("the replicas did not attach")
    for _ in range(3):
        _start_sentinel(group, free_port(), primary)
    if not wait_until(lambda: _sentinels_agree(group), timeout=30):
        group.stop()
        raise SystemExit("the sentinels did not find each other")
    return group


def cost_round(group: SentinelSet, data_dir: Path, n: int, min_replicas: int) -> dict[str, float]:
    config = group.config(data_dir, min_replicas=min_replicas)
    config.jobs.worker_count = 8
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        client = JobClient.from_config(config)
        client.create_job("warm", "!!fake.return_success")
        latencies = []
        start = time.perf_counter()
        ids = []
        for _ in range(n):
            t = time.perf_counter()
            ids.append(client.create_job("one", "!!fake.return_success").job_id)
            latencies.append(time.perf_counter() - t)
        one_by_one = time.perf_counter() - start
        jm.wait_for_job(ids[-1], timeout=300)  # ~in order: the last one ends last
        end_to_end = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n // 100):
            client.create_jobs([{"topic": "bulk", "params": "!!fake.return_success"}] * 100)
        bulk = time.perf_counter() - start
        client.close()
        latencies.sort()
        return {
            "one by one jobs/s": n / one_by_one,
            "create p50 ms": 1000 * latencies[len(latencies) // 2],
            "create p99 ms": 1000 * latencies[int(len(latencies) * 0.99)],
            "end to end jobs/s": n / end_to_end,
            "bulk jobs/s": (n // 100) * 100 / bulk,
        }


def window_round(folder: Path, data_dir: Path, min_replicas: int) -> tuple[int, int, int]:
    """(acknowledged, lost, ended more than once) over one failover under load."""
    group = sentinel_set(folder)
    try:
        config = group.config(data_dir, min_replicas=min_replicas)
        with HeroAgent(config) as agent:
            client = JobClient.from_config(config, timeout=2.0)
            acked: list[int] = []
            stop = threading.Event()

            def submit() -> None:
                while not stop.is_set():
                    try:
                        acked.append(client.create_job("flow", "!!fake.return_success").job_id)
                    except Exception:
                        time.sleep(0.05)

            thread = threading.Thread(target=submit)
            thread.start()
            time.sleep(1.0)
            first = group.master_port()
            assert first is not None
            os.kill(group.servers[first].pid, signal.SIGKILL)
            wait_until(lambda: group.master_port() not in (None, first), timeout=60)
            time.sleep(2.0)
            stop.set()
            thread.join()
            client.close()
            jm = agent.get_job_manager()
            time.sleep(5.0)  # the leases of runs cut short run out; the reconcile's second pass
            lost = twice = 0
            for job_id in acked:
                try:
                    versions = jm.get_history(job_id)
                except Exception:
                    versions = []
                ends = [v for v in versions if v.status.terminal]
                lost += not versions
                twice += len(ends) > 1
            return len(acked), lost, twice
    finally:
        group.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    group = sentinel_set(root / "set")
    figures: dict[int, list[dict[str, float]]] = {0: [], 1: []}
    try:
        for round_no in range(args.rounds):
            for min_replicas in (0, 1) if round_no % 2 == 0 else (1, 0):
                figures[min_replicas].append(
                    cost_round(group, root / f"cost-{round_no}-{min_replicas}", args.n, min_replicas)
                )
    finally:
        group.stop()
    print(f"cost, n={args.n}, medians of {args.rounds} rounds (primary + 2 replicas + 3 sentinels, 127.0.0.1)")
    names = list(figures[0][0])
    print(f"{'':24}" + "".join(f"{name:>20}" for name in names))
    for min_replicas, rows in figures.items():
        medians = [statistics.median(r[name] for r in rows) for name in names]
        print(f"{'min_replicas = ' + str(min_replicas):24}" + "".join(f"{m:>20.1f}" for m in medians))
    print("\nfailover under load (kill -9 of the primary), per round: acknowledged / lost / ended twice")
    for min_replicas in (0, 1):
        windows = [
            window_round(root / f"win-{min_replicas}-{i}", root / f"win-data-{min_replicas}-{i}", min_replicas)
            for i in range(args.rounds)
        ]
        print(f"min_replicas = {min_replicas}: " + ", ".join(f"{a} / {lost} / {t}" for a, lost, t in windows))


if __name__ == "__main__":
    main()
