"""No-overlap keys and topic limits (issue 12, items 7 and 8): enforced across every worker process,
kept by leases so a killed worker frees what it held, and never failing a job for waiting."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from heroagent import HeroAgent
from heroagent.config import load_config, to_toml
from heroagent.errors import ConfigError
from heroagent.jobs import InvalidJobError, JobStatus, keys
from tests.conftest import child_env, make_config, most_at_once, redis_cli, start_worker, ui_url, wait_until


def two_pools(data_dir: Path, topic: str, server_workers: int = 4) -> tuple[HeroAgent, subprocess.Popen[str]]:
    """The server with `server_workers` worker threads and a `heroagent worker` process with 4, on one topic."""
    jobs = {"topics": [topic], "worker_count": server_workers, "lease_seconds": 2.0}
    config = make_config(data_dir, webdav={"enabled": False}, jobs=jobs)
    agent = HeroAgent(config).start()
    worker = start_worker(agent.redis.url, topic, "--concurrency", "4")  # type: ignore[union-attr]
    assert wait_until(lambda: len(agent.get_job_manager().list_workers()) == 2, timeout=30)
    return agent, worker


def test_no_overlap_key_runs_one_at_a_time_across_processes(data_dir: Path) -> None:
    agent, worker = two_pools(data_dir, "nov")
    try:
        jm = agent.get_job_manager()
        same = jm.create_jobs(
            [{"topic": "nov", "params": "!!fake.sleep seconds:0.2", "no_overlap_key": "db-backup"} for _ in range(6)]
        )
        free = jm.create_jobs([{"topic": "nov", "params": "!!fake.sleep seconds:0.6"} for _ in range(4)])
        finals = [jm.wait_for_job(j.job_id, timeout=60) for j in same]
        assert all(j.status is JobStatus.DONE for j in finals)
        assert most_at_once(finals) == 1
        assert len({j.worker.split("/")[0] for j in finals}) >= 1
        others = [jm.wait_for_job(j.job_id, timeout=60) for j in free]
        assert most_at_once(others) > 1  # jobs without the key are not held back by it
        assert redis_cli(agent, "EXISTS", keys.no_overlap_lock("db-backup")) == "0"  # let go at the end
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        agent.stop()


def test_overlap_delay_keeps_the_key_after_a_job_ends(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    spec = {"topic": "od", "params": "!!fake.return_success", "no_overlap_key": "k", "overlap_delay": 0.5}
    jobs = jm.create_jobs([spec, spec, spec])
    finals = sorted((jm.wait_for_job(j.job_id, timeout=30) for j in jobs), key=lambda j: j.time_start)
    for before, after in itertools.pairwise(finals):
        assert after.time_start >= before.time_end + 0.5 - 0.002  # times are kept to the millisecond


def test_a_killed_worker_lets_go_of_its_key_by_lease(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["local"]})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        worker = start_worker(agent.redis.url, "held", HEROAGENT_JOBS_LEASE_SECONDS="1")  # type: ignore[union-attr]
        try:
            holder = jm.create_job("held", "!!fake.sleep seconds:30", no_overlap_key="only-one", max_retries=0)
            assert wait_until(lambda: jm.get_job(holder.job_id).status is JobStatus.ACTIVE, timeout=30)
            assert redis_cli(agent, "GET", keys.no_overlap_lock("only-one")) == str(holder.job_id)
            worker.kill()
            worker.wait()
            waiting = jm.create_job("local", "!!fake.return_success", no_overlap_key="only-one")
            final = jm.wait_for_job(waiting.job_id, timeout=30)  # on the server's own pool, once the lease lapsed
            assert final.status is JobStatus.DONE
            assert final.time_start >= holder.time_created
            # the reaper returns the lost attempt; it waits for a worker of its topic
            assert wait_until(lambda: jm.get_job(holder.job_id).status is JobStatus.NEW, timeout=10)
        finally:
            worker.kill()
            worker.wait()


def test_max_running_holds_across_processes(data_dir: Path) -> None:
    jobs_section = {"topics": ["lim"], "worker_count": 1, "lease_seconds": 2.0}
    agent = HeroAgent(make_config(data_dir, webdav={"enabled": False}, jobs=jobs_section)).start()
    worker = None
    try:
        jm = agent.get_job_manager()
        state = jm.set_topic_limits("lim", max_running=2)
        assert state["max_running"] == 2 and state["rate"] is None
        long = jm.create_job("lim", "!!fake.sleep seconds:2")  # on the server's one worker thread
        assert wait_until(lambda: jm.get_job(long.job_id).status is JobStatus.ACTIVE, timeout=15)
        worker = start_worker(agent.redis.url, "lim", "--concurrency", "4")  # type: ignore[union-attr]
        assert wait_until(lambda: len(jm.list_workers()) == 2, timeout=30)
        jobs = jm.create_jobs([{"topic": "lim", "params": "!!fake.sleep seconds:0.3"} for _ in range(6)])
        finals = [jm.wait_for_job(j.job_id, timeout=60) for j in [long, *jobs]]
        assert all(j.status is JobStatus.DONE for j in finals)  # waited, never failed
        local = agent.local_pool_id()
        assert finals[0].worker.startswith(local) and not any(j.worker.startswith(local) for j in finals[1:3])
        # the other process has 4 threads and 6 jobs, but counted the server's running job: 2 at most
        assert most_at_once(finals) == 2
        jm.set_topic_limits("lim")  # no limits: all at once again
        jobs = jm.create_jobs([{"topic": "lim", "params": "!!fake.sleep seconds:0.5"} for _ in range(6)])
        assert most_at_once([jm.wait_for_job(j.job_id, timeout=60) for j in jobs]) > 2
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        agent.stop()


def test_rate_limit_lets_that_many_start_per_period(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    jm.set_topic_limits("rl", rate="3/2s", create=True)  # before its first job
    jobs = jm.create_jobs([{"topic": "rl", "params": "!!fake.return_success"} for _ in range(7)])
    assert wait_until(lambda: sum(jm.get_job(j.job_id).status is not JobStatus.NEW for j in jobs) == 3)
    started = [j.job_id for j in jobs if jm.get_job(j.job_id).status is not JobStatus.NEW]
    assert started == [j.job_id for j in jobs[:3]]  # the first three, in order; the rest wait their window
    finals = [jm.wait_for_job(j.job_id, timeout=30) for j in jobs]
    assert all(j.status is JobStatus.DONE for j in finals)
    starts = sorted(j.time_start for j in finals)
    assert starts[3] - starts[0] >= 2.0 - 0.06 and starts[6] - starts[0] >= 4.0 - 0.06


def test_limits_from_config_api_and_cli(web_agent: object, data_dir: Path) -> None:
    agent = web_agent(jobs={"topics": ["nobody"]}, topics={"mail": {"max_running": 3, "rate": "100/minute"}})  # type: ignore[operator]
    rows = {q["topic"]: q for q in requests.get(ui_url(agent, "/api/queues"), timeout=5).json()["queues"]}
    assert rows.get("mail") is None or rows["mail"]["max_running"] == 3
    jm = agent.get_job_manager()
    assert jm.topic_limits()["mail"] == {"max_running": 3, "rate": "100/minute"}
    put = requests.put(ui_url(agent, "/api/queues/mail/limits"), json={"max_running": 1}, timeout=5)
    assert put.status_code == 200 and put.json()["max_running"] == 1 and put.json()["rate"] is None
    for body, why in [
        ({"max_running": 0}, "at least 1"),
        ({"max_running": float("nan")}, "whole number"),
        ({"rate": "fast"}, "count per period"),
        ({"rate": "5/0s"}, "1 ms to a year"),
        ({"colour": 1}, "unknown field"),
        ([], "JSON object"),
    ]:
        bad = requests.put(
            ui_url(agent, "/api/queues/mail/limits"),
            data=json.dumps(body),
            timeout=5,
            headers={"Content-Type": "application/json"},
        )
        assert bad.status_code == 400 and why in bad.json()["error"], (body, bad.text)
    bad_topic = requests.put(ui_url(agent, "/api/queues/a b/limits"), json={}, timeout=5)
    assert bad_topic.status_code in (400, 404)
    config_file = data_dir / "cli.toml"
    config_file.write_text(to_toml(agent.config))
    cli = [sys.executable, "-m", "heroagent", "queue"]
    done = subprocess.run(
        [*cli, "limit", "mail", "--rate", "5/second", "--config", str(config_file)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "mail: limits rate 5/second" in done.stdout, done.stderr
    assert jm.topic_limits()["mail"] == {"max_running": None, "rate": "5/second"}
    jm.create_job("mail", "!!fake.return_success")
    listed = subprocess.run(
        [*cli, "list", "--config", str(config_file)], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "rate 5/second" in listed.stdout
    refused = subprocess.run(
        [*cli, "limit", "mail", "--rate", "lots", "--config", str(config_file)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "count per period" in refused.stderr and "Traceback" not in refused.stderr
    with pytest.raises(InvalidJobError, match="max_running: 0 must be at least 1"):
        jm.set_topic_limits("mail", max_running=0)


def test_bad_topic_limits_in_the_config_are_refused(data_dir: Path) -> None:
    for table, why in [
        ("[topics.mail]\nmax_running = -1\n", "max_running: -1 must be at least 1"),
        ('[topics.mail]\nrate = "1e400/second"\n', "count per period"),
        ("[topics.mail]\nspeed = 3\n", "unknown field"),
        ('[topics."a b"]\nmax_running = 1\n', "a topic may only use"),
    ]:
        path = data_dir / "c.toml"
        path.write_text(table)
        with pytest.raises(ConfigError, match=why):
            load_config(path)
