"""Workflows across crashes: the waiting is state in Redis, written by the scripts that end jobs, so a
kill -9 of the server and of a worker, or Redis losing its data, changes nothing a group or chain sees."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from tests.conftest import child_env, make_config, redis_cli, redis_server_pids, wait_until

SERVER = """
import sys, time
from heroagent import HeroAgent, load_config
agent = HeroAgent(load_config(sys.argv[1]))
agent.start()
jm = agent.get_job_manager()
members = [{"topic": "grp", "params": "!!fake.sleep seconds:0.1"} for _ in range(90)]
members += [{"topic": "grp", "params": "!!fake.return_error", "max_retries": 2, "retry_delay": 0.2} for _ in range(10)]
flow = jm.group(members, on_complete={"topic": "grp-done", "params": "!!fake.return_success message:'all'"})
print("created", flow.group, flow.jobs[0].job_id, flow.jobs[-1].job_id, flow.on_complete.job_id, agent.redis.url,
      flush=True)
time.sleep(600)
"""


def start_worker(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "heroagent", "worker", "--redis", url, "--topics", "grp", "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(HEROAGENT_JOBS_LEASE_SECONDS="1"),
    )


@pytest.mark.slow
def test_a_group_of_100_with_retries_fires_its_callback_once_across_kill_9(data_dir: Path) -> None:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 2, "lease_seconds": 2.0}
    )
    config_file = data_dir / "heroagent.toml"
    config_file.write_text(to_toml(config))
    before = redis_server_pids()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(config_file)], stdout=subprocess.PIPE, text=True, env=child_env()
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    assert line[0] == "created", line
    group, first, last, callback, url = line[1], int(line[2]), int(line[3]), int(line[4]), line[5]
    worker = start_worker(url)
    try:
        time.sleep(1.0)  # some members done, some running on both, some retrying, most waiting
        worker.send_signal(signal.SIGKILL)
        server.send_signal(signal.SIGKILL)
    finally:
        worker.wait()
        server.wait()
    assert wait_until(lambda: not (redis_server_pids() - before), timeout=10)

    with HeroAgent(config) as agent:
        worker = start_worker(url)
        try:
            jm = agent.get_job_manager()
            final = jm.wait_for_job(callback, timeout=120)
            assert final.status is JobStatus.DONE
            members = [jm.get_job(i) for i in range(first, last + 1)]
            assert sum(m.status is JobStatus.DONE for m in members) == 90
            assert sum(m.status is JobStatus.ERROR for m in members) == 10
            assert all(m.retries == 2 for m in members if m.status is JobStatus.ERROR)  # retries ran before it
            assert final.time_start >= max(m.time_end for m in members)
            for member in members:  # each ended once
                assert sum(v.status.terminal for v in jm.get_history(member.job_id)) == 1
            timeline = [v.status for v in jm.get_history(callback)]
            assert timeline.count(JobStatus.NEW) == 1 and timeline.count(JobStatus.DONE) == 1  # released once
            assert wait_until(lambda: jm.get_group(group)["ended"] == 100)
            summary = jm.get_group(group)
            assert (summary["total"], summary["done"], summary["error"]) == (100, 90, 10)
            assert summary["on_complete"] == {"job_id": callback, "status": JobStatus.DONE}
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def test_waiting_jobs_come_back_when_redis_lost_its_data(data_dir: Path) -> None:
    """Redis emptied (FLUSHALL stands for a Redis that lost its data): a waiting child of a running parent,
    and one whose parent ended before, are put back from the history, still waiting or released."""
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"lease_seconds": 2.0})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        done = jm.create_job("rl", "!!fake.return_success")
        assert jm.wait_for_job(done.job_id, timeout=20).status is JobStatus.DONE
        slow = jm.create_job("rl", "!!fake.sleep seconds:2")
        flow = jm.chain(
            [
                {"topic": "rl", "params": "!!fake.return_success message:'a'", "depends_on": [slow.job_id]},
                {"topic": "rl", "params": "!!fake.return_success message:'b'"},
            ]
        )
        late = jm.create_job("rl", "!!fake.return_success message:'late'", depends_on=[slow.job_id, done.job_id])
        assert jm.wait_recorded(late.job_id) and jm.wait_recorded(flow.jobs[1].job_id)
        redis_cli(agent, "FLUSHALL")
        ends = [
            jm.wait_for_job(i, timeout=60) for i in (slow.job_id, flow.jobs[0].job_id, flow.jobs[1].job_id, late.job_id)
        ]
        assert [j.status for j in ends] == [JobStatus.DONE] * 4
        assert ends[1].time_start >= ends[0].time_end and ends[2].time_start >= ends[1].time_end
        assert ends[3].time_start >= ends[0].time_end
