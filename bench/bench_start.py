"""A start's time against the history behind it (issue 31, item 12): the embedded Redis's append-only file.

    python bench/bench_start.py [-n 50000] [--rounds 3]

For each setting of the AOF rewrite minimum (8 MB, HeroAgent's now; 64 MB, Redis's default and
HeroAgent's before), in one run: a fresh data dir's start (median of `--rounds`), then `-n` jobs made the
real way (created in bulk, run by the server's workers, recorded in the history), a clean stop, and the
start after it (median of `--rounds` stop/start pairs). Printed: the AOF's size before the start, the
start times and their ratio to the empty start. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import heroagent  # noqa: E402
from bench._common import free_port  # noqa: E402
from heroagent.config import Config  # noqa: E402
from heroagent.jobs.model import JobStatus  # noqa: E402
from heroagent.redis_server import embedded  # noqa: E402


def make_config(data_dir: str) -> Config:
    config = Config(data_dir=data_dir)
    config.redis.tcp_port = free_port()
    config.ui.port = free_port()
    config.webdav.port = free_port()
    config.jobs.worker_count = 4
    return config


def timed_start(config: Config) -> tuple[heroagent.HeroAgent, float]:
    agent = heroagent.HeroAgent(config)
    started = time.perf_counter()
    agent.start()
    return agent, time.perf_counter() - started


def aof_mb(config: Config) -> float:
    path = config.redis_dir / "appendonly.aof"
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def fill(agent: heroagent.HeroAgent, count: int) -> None:
    jm = agent.get_job_manager()
    made: list[int] = []
    for start in range(0, count, 1000):
        batch = [{"topic": "fill", "params": "!!fake.return_success"}] * min(1000, count - start)
        made += [j.job_id for j in jm.create_jobs(batch)]
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and jm.store.status_of(made[-1]) is not JobStatus.DONE:
        time.sleep(0.5)


def one_setting(minimum_mb: int, count: int, rounds: int) -> dict[str, float]:
    embedded.AOF_REWRITE_MIN_MB = minimum_mb
    with tempfile.TemporaryDirectory() as tmp:
        empty = []
        for i in range(rounds):
            agent, took = timed_start(make_config(f"{tmp}/empty{i}"))
            empty.append(took)
            agent.stop()
        config = make_config(f"{tmp}/full")
        agent, _ = timed_start(config)
        fill(agent, count)
        agent.stop()
        before = aof_mb(config)
        full = []
        for _ in range(rounds):
            agent, took = timed_start(config)
            full.append(took)
            time.sleep(2)  # a rewrite asked for at the start finishes
            agent.stop()
        after = aof_mb(config)
    return {
        "empty": statistics.median(empty),
        "full": statistics.median(full),
        "aof_before": before,
        "aof_after": after,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'AOF rewrite minimum':20} {'AOF MB at stop':>15} {'after':>7} {'empty start s':>14} "
        f"{f'start after {args.n:,} jobs s':>24} {'ratio':>6}"
    )
    for minimum in (8, 64):
        row = one_setting(minimum, args.n, args.rounds)
        print(
            f"{minimum:>3} MB{'':15} {row['aof_before']:15.1f} {row['aof_after']:7.1f} {row['empty']:14.2f} "
            f"{row['full']:24.2f} {row['full'] / row['empty']:6.2f}x"
        )


if __name__ == "__main__":
    main()
