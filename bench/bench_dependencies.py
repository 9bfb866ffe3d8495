"""What a dependency costs on the create and finish paths (issue 29), as ratios in one run.

    python bench/bench_dependencies.py [-n 2000] [--rounds 3]

One embedded HeroAgent (its own Redis, 4 worker threads), job body `fake.return_success`. Rows, run in
alternation `--rounds` times each, every job waited for until the history has it done:

- create, one by one: `-n` jobs without depends_on, against `-n` jobs that each depend on one job done
  earlier (its parent has left Redis, so the create is refused once, the parent is read from the history,
  and the create goes again: the worst case of the check);
- finish: `-n` / 2 calls of two jobs each, independent, against a parent and a child that waits for it (the
  parent's end releases the child in the same script).

Printed per row: jobs/s end to end, and Redis's time in scripts per job (µs, INFO commandstats: evalsha),
with the ratio to its plain row. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from heroagent import HeroAgent  # noqa: E402
from heroagent.jobs.server.manager import JobManager  # noqa: E402
from tests.conftest import make_config  # noqa: E402

BODY = "!!fake.return_success"


def script_usec(agent: HeroAgent) -> float:
    assert agent.redis is not None
    stats: Any = agent.redis.client().info("commandstats")
    return sum(float(v.get("usec", 0)) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def wait_all(jm: JobManager, ids: list[int]) -> None:
    for job_id in ids:
        jm.wait_for_job(job_id, timeout=300)
    for job_id in ids:
        jm.wait_recorded(job_id, timeout=60)


def plain_one_by_one(jm: JobManager, n: int, parent: int) -> list[int]:
    return [jm.create_job("plain", BODY).job_id for _ in range(n)]


def child_one_by_one(jm: JobManager, n: int, parent: int) -> list[int]:
    return [jm.create_job("child", BODY, depends_on=[parent]).job_id for _ in range(n)]


def plain_pairs(jm: JobManager, n: int, parent: int) -> list[int]:
    ids: list[int] = []
    for _ in range(n // 2):
        ids += [j.job_id for j in jm.create_jobs([{"topic": "pair", "params": BODY}] * 2)]
    return ids


def dependent_pairs(jm: JobManager, n: int, parent: int) -> list[int]:
    ids: list[int] = []
    for _ in range(n // 2):
        pair = [{"topic": "dep", "params": BODY}, {"topic": "dep", "params": BODY, "depends_on": ["@0"]}]
        ids += [j.job_id for j in jm.create_jobs(pair)]
    return ids


ROWS: list[tuple[str, str, Callable[[JobManager, int, int], list[int]]]] = [
    ("create", "one by one, no depends_on", plain_one_by_one),
    ("create", "one by one, depends on a job done earlier", child_one_by_one),
    ("finish", "two independent jobs per call", plain_pairs),
    ("finish", "a parent and a child that waits for it, per call", dependent_pairs),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bd-"))
    config = make_config(root, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 4})
    rates: dict[str, list[float]] = {label: [] for _, label, _ in ROWS}
    usecs: dict[str, list[float]] = {label: [] for _, label, _ in ROWS}
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        parent = jm.create_job("parent", BODY).job_id
        wait_all(jm, [parent])
        for round_no in range(args.rounds):
            order = ROWS if round_no % 2 == 0 else list(reversed(ROWS))
            for _, label, run in order:
                before_usec = script_usec(agent)
                start = time.perf_counter()
                ids = run(jm, args.n, parent)
                wait_all(jm, ids)
                took = time.perf_counter() - start
                rates[label].append(len(ids) / took)
                usecs[label].append((script_usec(agent) - before_usec) / len(ids))
    print(f"dependencies, n={args.n}, {args.rounds} rounds (median); ratios against the row above each pair")
    print(f"{'path':7} {'row':52} {'jobs/s':>8} {'x':>6} {'script us/job':>14} {'x':>6}")
    base_rate = base_usec = 0.0
    for index, (path, label, _) in enumerate(ROWS):
        rate, usec = statistics.median(rates[label]), statistics.median(usecs[label])
        if index % 2 == 0:
            base_rate, base_usec = rate, usec
        print(f"{path:7} {label:52} {rate:8.0f} {rate / base_rate:6.2f} {usec:14.1f} {usec / base_usec:6.2f}")


if __name__ == "__main__":
    main()
