"""Several HeroAgent processes with the same schedules on one Redis: each run fires once, and when the
process holding the lease is killed with kill -9 another takes over."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import keys
from tests.conftest import REPO, make_config, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes

TICK = {"name": "tick", "every": 0.5, "topic": "ticks", "params": "!!fake.return_success"}


def scheduler_process(data_dir: Path, redis_url: str, name: str) -> subprocess.Popen[str]:
    """`heroagent serve` with only a scheduler: its jobs are made on the server through Redis."""
    config = make_config(
        data_dir / name,
        redis={"url": redis_url},
        jobs={"enabled": False},
        webdav={"enabled": False},
        ui={"enabled": False},
        scheduler={"lease_seconds": 1.0},
    )
    config.schedules = [dict(TICK)]
    (data_dir / f"{name}.toml").write_text(to_toml(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEROAGENT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "heroagent", "serve", "--config", str(data_dir / f"{name}.toml")],
        env=dict(env, PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_job_per_run(created: list[float]) -> None:
    gaps = [b - a for a, b in itertools.pairwise(sorted(created))]
    assert all(gap > 0.25 for gap in gaps), gaps  # runs are 0.5 s apart: a doubled run would be ~0 apart


@pytest.mark.slow
def test_two_processes_on_one_redis_fire_each_run_once_and_fail_over(data_dir: Path) -> None:
    server_config = make_config(
        data_dir / "server", webdav={"enabled": False}, ui={"enabled": False}, scheduler={"enabled": False}
    )
    with HeroAgent(server_config) as server:
        jm = server.get_job_manager()
        url = server.redis.url  # type: ignore[union-attr]
        procs = {name: scheduler_process(data_dir, url, name) for name in ("first", "second")}
        try:

            def ticks() -> list[float]:
                return [j.time_created for j in jm.list_jobs(topic="ticks", limit=500)]

            assert wait_until(lambda: len(ticks()) >= 1, timeout=30)
            started = time.time()
            time.sleep(4)
            made = ticks()
            elapsed = time.time() - started
            assert_one_job_per_run(made)
            assert len(made) <= elapsed / 0.5 + 2  # one per run, not one per run per process

            holder = jm.client.get(KEYS.SCHEDULER_LEASE).decode()  # type: ignore[union-attr]
            leader_pid = int(holder.split(":")[1])
            leader = next(name for name, p in procs.items() if p.pid == leader_pid)
            procs[leader].send_signal(signal.SIGKILL)
            procs[leader].wait()
            before = len(ticks())
            assert wait_until(lambda: len(ticks()) >= before + 4, timeout=15)  # the other one took over
            new_holder = jm.client.get(KEYS.SCHEDULER_LEASE).decode()  # type: ignore[union-attr]
            assert int(new_holder.split(":")[1]) != leader_pid
            made = ticks()  # a run missed during the hand-over is caught up once (misfire = run_once)
            assert len(made) <= (max(made) - min(made)) / 0.5 + 2
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        for name, proc in procs.items():
            if name != leader:
                assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
