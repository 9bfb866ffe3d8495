"""Nothing lost: a server killed with kill -9, a worker process killed mid-job, Redis killed under load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from tests.conftest import child_env, make_config, most_at_once, pid_running, redis_cli, redis_server_pids, wait_until

SERVER = """
import sys, time
from heroagent import HeroAgent, load_config
agent = HeroAgent(load_config(sys.argv[1]))
agent.start()
jm = agent.get_job_manager()
jobs = jm.create_jobs([{"topic": "crash", "params": "!!fake.sleep seconds:0.05"} for _ in range(200)])
print("created", jobs[0].job_id, jobs[-1].job_id, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_server_killed_with_sigkill_loses_no_job(data_dir: Path) -> None:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 3, "lease_seconds": 2.0}
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
    first, last = int(line[1]), int(line[2])
    assert last - first + 1 == 200
    time.sleep(0.7)  # some done, some running, most queued
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert wait_until(lambda: not (redis_server_pids() - before), timeout=10)

    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        finals = [jm.wait_for_job(job_id, timeout=60) for job_id in range(first, last + 1)]
        assert [j.status for j in finals] == [JobStatus.DONE] * 200
        assert len(jm.store) == 200


SERVER_WITH_FLOW_CONTROL = """
import sys, time
from heroagent import HeroAgent, load_config
agent = HeroAgent(load_config(sys.argv[1]))
agent.start()
jm = agent.get_job_manager()
jm.set_topic_limits("crash", max_running=2, rate="1000/second", create=True)
jm.pause_topic("held", create=True)
specs = [{"topic": "crash", "params": "!!fake.sleep seconds:0.05", "priority": i % 10} for i in range(120)]
specs += [{"topic": "crash", "params": "!!fake.sleep seconds:0.05", "no_overlap_key": "k" + str(i % 2)}
          for i in range(40)]
specs += [{"topic": "held", "params": "!!fake.return_success"} for _ in range(40)]
jobs = jm.create_jobs(specs)
print("created", jobs[0].job_id, jobs[-1].job_id, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_server_killed_with_flow_control_in_play_loses_no_job(data_dir: Path) -> None:
    """The kill -9 above with priorities, a topic limit, no-overlap locks held and a paused topic: every
    job still ends once; the limits, locks and pause hold across the crash."""
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 4, "lease_seconds": 2.0}
    )
    config_file = data_dir / "heroagent.toml"
    config_file.write_text(to_toml(config))
    before = redis_server_pids()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_WITH_FLOW_CONTROL, str(config_file)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    assert line[0] == "created", line
    first, last = int(line[1]), int(line[2])
    time.sleep(1.0)  # some done, two running (max_running), locks held, the rest waiting
    server.send_signal(signal.SIGKILL)
    server.wait()
    assert wait_until(lambda: not (redis_server_pids() - before), timeout=10)

    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        ids = range(first, last + 1)
        crash = [i for i in ids if jm.get_job(i).topic == "crash"]
        held = [i for i in ids if jm.get_job(i).topic == "held"]
        assert len(crash) == 160 and len(held) == 40
        assert jm.topic_state("held")["paused"] and jm.topic_limits()["crash"]["max_running"] == 2
        finals = [jm.wait_for_job(job_id, timeout=120) for job_id in crash]
        assert [j.status for j in finals] == [JobStatus.DONE] * 160
        for job in finals:  # each ran to its end once: its history has exactly one "done"
            assert [v.status for v in jm.get_history(job.job_id)].count(JobStatus.DONE) == 1
        assert most_at_once(finals) <= 2  # the limit held before, across and after the crash
        for key in ("k0", "k1"):
            assert most_at_once([j for j in finals if j.no_overlap_key == key]) == 1
        assert all(jm.get_job(i).status is JobStatus.NEW for i in held)  # still paused
        jm.resume_topic("held")
        assert all(jm.wait_for_job(i, timeout=60).status is JobStatus.DONE for i in held)


WORKER_ENV = {"HEROAGENT_JOBS_LEASE_SECONDS": "1"}


def start_worker(agent: HeroAgent, topics: str) -> subprocess.Popen[str]:
    url = agent.redis.url  # type: ignore[union-attr]
    return subprocess.Popen(
        [sys.executable, "-m", "heroagent", "worker", "--redis", url, "--topics", topics, "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(**WORKER_ENV),
    )


@pytest.mark.slow
def test_worker_process_killed_mid_job_its_job_still_ends_done(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["local"]})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        first = start_worker(agent, "remote")
        try:
            job = jm.create_job("remote", "!!fake.sleep seconds:2", log=True)
            assert wait_until(lambda: jm.get_job(job.job_id).status is JobStatus.ACTIVE, timeout=15)
            assert f":{first.pid}:" in jm.get_job(job.job_id).worker
            # Killed once its first log line is out (a worker killed between its claim and that line
            # leaves no line: the line is not what this test is about).
            assert wait_until(lambda: f":{first.pid}:" in jm.get_log(job.job_id), timeout=15)
            first.kill()
            first.wait()
            second = start_worker(agent, "remote")
            try:
                final = jm.wait_for_job(job.job_id, timeout=30)
                assert final.status is JobStatus.DONE
                assert final.attempts == 2
                assert f":{second.pid}:" in final.worker
                timeline = jm.get_history(job.job_id)
                assert [v.status.value for v in timeline] == ["new", "active", "new", "active", "done"]
                assert "attempt 1 lost" in timeline[2].error
                log_text = jm.get_log(job.job_id)  # written by the worker processes, filed by the server
                assert f":{first.pid}:" in log_text and f":{second.pid}:" in log_text and "done" in log_text
            finally:
                second.terminate()
                second.wait(timeout=20)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()


@pytest.mark.slow
def test_a_second_worker_process_shares_the_work(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 1})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        remote = start_worker(agent, "*")
        try:
            jobs = jm.create_jobs([{"topic": "shared", "params": "!!fake.sleep seconds:0.2"} for _ in range(20)])
            finals = [jm.wait_for_job(j.job_id, timeout=30) for j in jobs]
            assert all(f.status is JobStatus.DONE for f in finals)
            workers = {f.worker.rsplit("/", 1)[0] for f in finals}
            assert any(f":{remote.pid}:" in w for w in workers), workers
            assert any(f":{os.getpid()}:" in w for w in workers), workers
        finally:
            remote.send_signal(signal.SIGTERM)
            remote.wait(timeout=20)
        assert remote.returncode == 0


def reconciles(agent: HeroAgent) -> int:
    """How often the running job system reconciled Redis with the history."""
    assert agent.jobs is not None and agent.jobs.reconciler is not None
    return agent.jobs.reconciler.reconciles


@pytest.mark.slow
def test_redis_killed_under_load_loses_no_job(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "load", "params": "!!fake.sleep seconds:0.01"} for _ in range(300)])
    time.sleep(0.3)
    old_pid = agent.redis.pid  # type: ignore[union-attr]
    agent.redis.kill()  # type: ignore[union-attr]
    assert wait_until(lambda: agent.redis.pid != old_pid and agent.redis.restarts == 1, timeout=10)  # type: ignore[union-attr]
    assert old_pid is not None and not pid_running(old_pid)
    finals = [jm.wait_for_job(j.job_id, timeout=60) for j in jobs]
    assert [f.status for f in finals] == [JobStatus.DONE] * 300
    assert wait_until(lambda: reconciles(agent) >= 2, timeout=5), "a Redis restart triggers a reconcile"


@pytest.mark.slow
def test_redis_that_lost_its_data_gets_the_queue_back(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["nobody"]})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        jobs = jm.create_jobs([{"topic": "waiting", "params": "!!fake.return_success"} for _ in range(5)])
        assert redis_cli(agent, "ZCARD", "heroqueue:waiting") == "5"
        # The contract (README, Durability): what the recorder has read survives Redis losing its data.
        assert wait_until(
            lambda: (
                redis_cli(agent, "XLEN", "hero:events") == "0"  # recorded
                or redis_cli(agent, "XPENDING", "hero:events", "recorder").startswith("5\n")
            )  # read, lingering
        )
        redis_cli(agent, "FLUSHALL")
        assert wait_until(lambda: redis_cli(agent, "ZCARD", "heroqueue:waiting") == "5", timeout=10)
        assert redis_cli(agent, "HGET", f"herojobs:waiting:{jobs[0].job_id}", "status") == "new"


def test_graceful_stop_returns_unfinished_jobs_to_their_queue(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"stop_grace": 1.0})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        quick = jm.create_job("g", "!!fake.sleep seconds:0.3")
        slow = jm.create_job("g", "!!fake.sleep seconds:30")
        assert wait_until(lambda: jm.get_job(slow.job_id).status is JobStatus.ACTIVE)
        started = time.monotonic()
    assert time.monotonic() - started < 10
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        assert jm.get_job(quick.job_id).status is JobStatus.DONE, "a job that ends within the grace finishes"
        timeline = [v.status.value for v in jm.get_history(slow.job_id)]
        assert timeline[:3] == ["new", "active", "new"], timeline
        assert wait_until(lambda: jm.get_job(slow.job_id).status is JobStatus.ACTIVE, timeout=5), "it runs again"
        jm.cancel_job(slow.job_id)
        assert jm.wait_for_job(slow.job_id, 10).status is JobStatus.CANCELED


def test_a_create_while_redis_is_down_is_refused_and_stores_nothing(agent: HeroAgent) -> None:
    """Redis is the write-ahead log of job creation: without it nothing is accepted (and nothing half made)."""
    jm = agent.get_job_manager()
    agent.redis.stop()  # type: ignore[union-attr]
    with pytest.raises(redis.ConnectionError):
        jm.create_job("later", "!!fake.return_success message:'made it'")
    assert len(jm.store) == 0
    agent.redis.start()  # type: ignore[union-attr]
    job = jm.create_job("later", "!!fake.return_success message:'made it'")
    final = jm.wait_for_job(job.job_id, timeout=20)
    assert final.status is JobStatus.DONE and "made it" in final.result_text
    assert [v.status.value for v in jm.get_history(job.job_id)] == ["new", "active", "done"]
