"""Upkeep: the stray-entry sweep repairs Redis, retention removes old finished jobs, compaction shrinks the
history while the server keeps running."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.history.upkeep import Upkeep
from tests.conftest import make_config, run_python, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


@pytest.fixture
def quiet_agent(data_dir: Path) -> Iterator[HeroAgent]:
    """Workers serve only topic "run"; jobs of other topics stay where the test puts them."""
    config = make_config(
        data_dir,
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"topics": ["run"], "lease_seconds": 2.0},
        scheduler={"sweep_every": 3600.0},
    )
    with HeroAgent(config) as agent:
        yield agent


def upkeep(agent: HeroAgent) -> Upkeep:
    assert agent.jobs is not None and agent.jobs.upkeep is not None
    return agent.jobs.upkeep


def test_sweep_repairs_each_kind_of_stray_entry(quiet_agent: HeroAgent) -> None:
    jm = quiet_agent.get_job_manager()
    client = jm.client

    # A finished job whose hash was left behind (the recorder died between recording and deleting it).
    done = jm.create_job("run", "!!fake.return_success")
    assert jm.wait_for_job(done.job_id, timeout=10).status is JobStatus.DONE
    # the recorder deletes the hash just after recording the final state: plant the stray after that
    assert wait_until(lambda: client.exists(KEYS.job("run", done.job_id)) == 0, timeout=10)
    stray = jm.store.get(done.job_id).to_hash()
    stray["time_end"] = str(time.time() - 3600)
    client.hset(KEYS.job("run", done.job_id), mapping=stray)  # type: ignore[arg-type]

    # A new job in no queue (its queue entry was lost).
    lost_queue = jm.create_job("parked", "!!fake.return_success")
    client.zrem(KEYS.queue("parked"), lost_queue.job_id)
    client.hset(KEYS.job("parked", lost_queue.job_id), "time_created", str(time.time() - 3600))

    # An active job with no lease (nothing would ever reap it).
    unleased = jm.create_job("held", "!!fake.return_success")
    assert jm.queue.claim(["held"], "gone-host:1:x/1", lease_ms=60_000)
    client.zrem(KEYS.INFLIGHT, keys.inflight_member("held", unleased.job_id))

    # A lease entry for a job that is not in flight.
    client.zadd(KEYS.INFLIGHT, {keys.inflight_member("run", 999999): 1})

    # A worker killed while it waited to be handed a job, in a topic nobody creates jobs in any more.
    client.sadd(KEYS.takers("parked"), "killed-host:1:x/1")

    summary = upkeep(quiet_agent).sweep_strays()
    assert "finished hashes removed 1" in summary and "queued 1" in summary
    assert "dead takers dropped 1" in summary and not client.sismember(KEYS.takers("parked"), "killed-host:1:x/1")
    assert "leased 1" in summary and "unleased 1" in summary
    assert client.exists(KEYS.job("run", done.job_id)) == 0
    assert client.zrange(KEYS.queue("parked"), 0, -1) == [str(lost_queue.job_id).encode()]
    # the reaper now sees the lost attempt and returns the job to its queue
    assert wait_until(lambda: jm.get_job(unleased.job_id).status is JobStatus.NEW, timeout=10)
    assert "attempt 1 lost" in jm.get_job(unleased.job_id).error
    assert client.zscore(KEYS.INFLIGHT, keys.inflight_member("run", 999999)) is None
    assert upkeep(quiet_agent).sweep_strays().endswith("nothing stray")  # and a second sweep finds nothing


def test_retention_removes_finished_jobs_older_than_the_cutoff(quiet_agent: HeroAgent) -> None:
    jm = quiet_agent.get_job_manager()
    old = jm.create_jobs([{"topic": "run", "params": "!!fake.return_success", "log": True} for _ in range(5)])
    for job in old:
        jm.wait_for_job(job.job_id, timeout=10)
    waiting = jm.create_job("parked", "!!fake.return_success")  # not finished: never removed
    time.sleep(0.05)
    cutoff = time.time()
    time.sleep(0.05)
    newer = jm.create_job("run", "!!fake.return_success")
    jm.wait_for_job(newer.job_id, timeout=10)
    assert upkeep(quiet_agent).remove_history_before(cutoff) == "removed 5 finished job(s)"
    remaining = {j.job_id for j in jm.list_jobs(limit=100)}
    assert remaining == {waiting.job_id, newer.job_id}
    assert not any((jm.logs.path(j.job_id)).exists() for j in old)


def test_compaction_while_serving_keeps_every_live_history(quiet_agent: HeroAgent, data_dir: Path) -> None:
    jm = quiet_agent.get_job_manager()
    jobs = jm.create_jobs([{"topic": "run", "params": "!!fake.return_success"} for _ in range(30)])
    for job in jobs:
        jm.wait_for_job(job.job_id, timeout=10)
    for job in jobs[::2]:
        jm.delete_job(job.job_id)
    histories = {j.job_id: [v.to_dict() for v in jm.get_history(j.job_id)] for j in jobs[1::2]}
    summary = upkeep(quiet_agent).compact_history()
    assert summary.startswith("kept 45 record(s) of 15 id(s)")  # 3 versions each: new, active, done
    assert {i: [v.to_dict() for v in jm.get_history(i)] for i in histories} == histories
    after = jm.create_job("run", "!!fake.return_success")  # the server goes on as before
    assert after.job_id == jobs[-1].job_id + 1
    assert jm.wait_for_job(after.job_id, timeout=10).status is JobStatus.DONE


def test_cli_compacts_a_stopped_servers_history_and_refuses_a_running_one(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    config_file = data_dir / "heroagent.toml"
    from heroagent.config import to_toml

    config_file.write_text(to_toml(config))
    cli = "import sys; from heroagent.cli import cli; cli(sys.argv[1:])"
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        job = jm.create_job("run", "!!fake.return_success")
        jm.wait_for_job(job.job_id, timeout=10)
        jm.delete_job(job.job_id)
        busy = run_python(cli, "ourdb", "compact", "--config", str(config_file))
        assert busy.returncode == 2 and "stop the server first" in busy.stderr and "Traceback" not in busy.stderr
    done = run_python(cli, "ourdb", "compact", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    assert "kept 0 record(s) of 0 id(s)" in done.stdout
    check = run_python(cli, "ourdb", "check", "--config", str(config_file))
    assert check.returncode == 0 and ": ok" in check.stdout


def test_cli_compact_and_check_refuse_a_path_with_no_database(data_dir: Path) -> None:
    """Issue 10, item 12: `heroagent ourdb compact <typo>` created an empty database and exited 0."""
    cli = "import sys; from heroagent.cli import cli; cli(sys.argv[1:])"
    typo = data_dir / "jobsbd"
    for command in ("compact", "check"):
        result = run_python(cli, "ourdb", command, str(typo))
        assert result.returncode == 2 and "no OurDB database" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not typo.exists()
    typo.mkdir()
    result = run_python(cli, "ourdb", "compact", str(typo))
    assert result.returncode == 2 and list(typo.iterdir()) == []
