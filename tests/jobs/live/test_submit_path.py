"""The submit path (issue 14): a job exists after one Redis call, from any process, with nothing lost.

Every test kills a real part (the submitter, Redis, the server) with SIGKILL, or runs without the
server, and then checks that each acknowledged job ends in the history exactly once, with its
versions in order, and that no id is ever handed out twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.config import to_toml
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.errors import JobIdsNotSeededError
from heroagent.redis_connect import redis_url_for
from tests.conftest import child_env, external_redis, make_config, redis_cli, ui_url, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes

# A submitter in its own process: creates jobs one by one and prints each id once create_job returned.
SUBMITTER = """
import sys, time
from heroagent.client import JobClient
client = JobClient(sys.argv[1], timeout=2.0)
end = time.time() + float(sys.argv[3])
while time.time() < end:
    try:
        job = client.create_job(sys.argv[2], "!!fake.return_success")
    except Exception as exc:
        print("stopped", type(exc).__name__, flush=True)
        break
    print(job.job_id, flush=True)
"""


def submitter(url: str, topic: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SUBMITTER, url, topic, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def acknowledged(proc: subprocess.Popen[str]) -> list[int]:
    """The ids a submitter printed (each one's create call had returned)."""
    out, _ = proc.communicate(timeout=60)
    return [int(line) for line in out.split() if line.isdigit()]


def assert_recorded_once(agent: HeroAgent, job_ids: list[int], *, runs_lost: bool = False) -> None:
    """Each job ended done exactly once in its history: new, active, done (with `runs_lost`, a run the
    crash cut short may come before, as new, active, new with "attempt lost")."""
    jm = agent.get_job_manager()
    for job_id in job_ids:
        assert jm.wait_for_job(job_id, timeout=60).status is JobStatus.DONE, job_id
        statuses = [v.status.value for v in jm.get_history(job_id)]
        if runs_lost and statuses != ["new", "active", "done"]:
            assert statuses[0] == "new" and statuses[-2:] == ["active", "done"], (job_id, statuses)
            assert "done" not in statuses[:-1] and "error" not in statuses, (job_id, statuses)
        else:
            assert statuses == ["new", "active", "done"], (job_id, statuses)


def test_a_submitter_killed_mid_call_makes_no_job_twice(agent: HeroAgent) -> None:
    proc = submitter(agent.redis.url, "killed", 30)  # type: ignore[union-attr]
    assert proc.stdout is not None
    seen = [int(proc.stdout.readline()) for _ in range(100)]
    proc.send_signal(signal.SIGKILL)  # somewhere inside a create call
    # read the rest through the same reader: readline() may hold lines in its buffer, which
    # communicate() (reading the pipes' fds) would skip
    rest = proc.stdout.read()
    proc.communicate(timeout=10)
    ids = seen + [int(x) for x in rest.split() if x.isdigit()]
    assert len(set(ids)) == len(ids)
    assert_recorded_once(agent, ids)
    jm = agent.get_job_manager()
    assert wait_until(lambda: not jm.queue.stats().get("killed", {}).get("queued"), timeout=20)
    # At most the one call in flight when it died made a job the submitter never heard of; none twice.
    stored = {job.job_id for job in jm.list_jobs(topic="killed", limit=10_000)}
    assert set(ids) <= stored and len(stored - set(ids)) <= 1, (sorted(stored - set(ids)), max(ids), len(ids))


@pytest.mark.slow
def test_redis_killed_right_after_creates_returned_keeps_every_job(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    client = JobClient(agent.redis.url)  # type: ignore[union-attr]
    ids = [client.create_job("kept", "!!fake.sleep seconds:0.01").job_id for _ in range(200)]
    pid = agent.redis.pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the last create returned a moment ago
    assert wait_until(lambda: agent.redis.pid not in (None, pid), timeout=20)  # type: ignore[union-attr]
    # A job running at the kill may lose that run: its worker cannot report while Redis is down, and a
    # restart slower than the rest of its lease (2 s here) returns it to its queue. It then runs again
    # and still ends done once (at least once, never twice done).
    assert_recorded_once(agent, ids, runs_lost=True)
    after = jm.create_job("kept", "!!fake.return_success")
    assert after.job_id > max(ids)


@pytest.mark.slow
def test_the_server_killed_while_clients_submit_loses_no_acknowledged_job(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    config_file = data_dir / "heroagent.toml"
    config_file.write_text(to_toml(config))
    serve = subprocess.Popen(
        [sys.executable, "-m", "heroagent", "serve", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
    )
    try:
        assert serve.stdout is not None
        while "Press Ctrl-C" not in serve.stdout.readline():
            assert serve.poll() is None, "the server did not start"
        url = redis_url_for(config)
        clients = [submitter(url, "busy", 30) for _ in range(2)]
        time.sleep(1.5)
        serve.send_signal(signal.SIGKILL)  # its embedded Redis goes with it
        serve.wait(timeout=10)
        ids = [job_id for proc in clients for job_id in acknowledged(proc)]
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert len(ids) > 20 and len(set(ids)) == len(ids)
    with HeroAgent(config) as agent:
        assert_recorded_once(agent, ids, runs_lost=True)  # the jobs running when it died ran again
        assert agent.get_job_manager().create_job("busy", "!!fake.return_success").job_id > max(ids)


@pytest.mark.slow
def test_with_the_server_down_clients_create_and_remote_workers_run_jobs(data_dir: Path) -> None:
    external = external_redis(data_dir)
    worker = None
    try:
        config = make_config(data_dir, redis={"url": external.url}, webdav={"enabled": False}, ui={"enabled": False})
        with HeroAgent(config) as agent:  # the server seeds the id counter and publishes its defaults
            warm = agent.get_job_manager().create_job("fleet", "!!fake.return_success")
            agent.get_job_manager().wait_for_job(warm.job_id, timeout=15)
        # The server is down now. A client still creates jobs, and a `heroagent worker` runs them.
        worker = subprocess.Popen(
            [sys.executable, "-m", "heroagent", "worker", "--redis", external.url, "--topics", "fleet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(),
        )
        client = JobClient(external.url, timeout=1.0)
        jobs = [client.create_job("fleet", f"!!fake.return_success message:n{n}") for n in range(20)]
        assert wait_until(lambda: all(client.get_job(j.job_id).status is JobStatus.DONE for j in jobs), timeout=30)
        assert client.get_job(jobs[0].job_id).retry_delay == config.jobs.retry_delay  # the server's defaults
        with HeroAgent(config) as agent:  # the server returns: the history catches up, in order
            assert_recorded_once(agent, [j.job_id for j in jobs])
            assert sorted(j.job_id for j in jobs) == [j.job_id for j in jobs]  # ids handed out in order
            assert min(j.job_id for j in jobs) > warm.job_id
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
        external.stop()


def test_ids_never_reuse_an_id_the_history_holds(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    done = [jm.create_job("ids", "!!fake.return_success") for _ in range(5)]
    highest = max(jm.wait_for_job(j.job_id, timeout=15).job_id for j in done)
    redis_cli(agent, "FLUSHALL")  # Redis lost everything, the counter too
    client = JobClient(agent.redis.url, timeout=1.0)  # type: ignore[union-attr]
    try:
        fresh = client.create_job("ids", "!!fake.return_success")  # only if the server was quicker
        assert fresh.job_id > highest
    except JobIdsNotSeededError as exc:  # another process cannot seed: it says what to do
        assert "heroagent serve" in str(exc)
    assert jm.create_job("ids", "!!fake.return_success").job_id > highest  # the server reseeds at once
    # A counter set back (a Redis restored from an old copy) is raised again when Redis restarts.
    redis_cli(agent, "SET", KEYS.JOB_ID_COUNTER, "1")
    agent.redis.stop()  # type: ignore[union-attr]
    agent.redis.start()  # type: ignore[union-attr]
    assert wait_until(lambda: int(redis_cli(agent, "GET", KEYS.JOB_ID_COUNTER).strip() or 0) > highest, timeout=10)
    assert jm.create_job("ids", "!!fake.return_success").job_id > highest


def test_events_read_again_after_a_crash_are_not_recorded_twice(data_dir: Path) -> None:
    """The recorder wrote a batch (active, done) and died before acking it; the next start reads the
    same batch again. Found by the kill test above: the history showed new, active, done, active, done."""
    from heroagent.jobs.history.store import JobStore, RecordedEvent
    from heroagent.jobs.model import Job

    store = JobStore(data_dir / "jobsdb")
    try:
        job = Job(topic="t", params="!!fake.return_success", job_id=1, version=1)
        states = [job]
        for status, version in ((JobStatus.ACTIVE, 2), (JobStatus.DONE, 3)):
            state = Job.from_dict({**states[-1].to_dict(), "status": status.value, "version": version, "attempts": 1})
            states.append(state)
        events = [RecordedEvent.from_job(s) for s in states]
        assert len(store.record_events(events)) == 3
        assert store.record_events(events[1:]) == []  # the batch again
        assert [v.status.value for v in store.history(1)] == ["new", "active", "done"]
    finally:
        store.close()
    again = JobStore(data_dir / "jobsdb")  # and after a restart, from the stored versions alone
    try:
        assert again.record_events(events[1:]) == []
        assert len(again.history(1)) == 3
    finally:
        again.close()


def test_a_heroqueue_list_from_a_seed_style_producer_is_named_not_a_503(web_agent: Callable[..., HeroAgent]) -> None:
    """A producer doing what the HeroJobs README describes (`LPUSH heroqueue:<topic> <id>`) made the next
    create there a 503 "Redis is not reachable" (it was WRONGTYPE): now a 409 naming the key, the type
    found and the fix, a health notice, and nothing made; the other topics are untouched."""
    agent = web_agent()
    jm = agent.get_job_manager()
    jm.client.lpush("heroqueue:outbox", "5")
    r = requests.post(
        ui_url(agent, "/api/jobs"), json={"topic": "outbox", "params": "!!fake.return_success"}, timeout=5
    )
    assert r.status_code == 409, r.text
    assert "heroqueue:outbox holds a list, not HeroAgent's queue" in r.json()["error"]
    assert "RENAME heroqueue:outbox" in r.json()["error"]
    health = requests.get(ui_url(agent, "/api/health"), timeout=5).json()
    assert any("heroqueue:outbox holds a list" in n for n in health["notices"])
    other = jm.create_job("inbox", "!!fake.return_success")
    assert jm.wait_for_job(other.job_id, timeout=15).status is JobStatus.DONE
    jm.client.rename("heroqueue:outbox", "heroqueue:outbox.foreign")  # the fix the error names
    fixed = jm.create_job("outbox", "!!fake.return_success")
    assert jm.wait_for_job(fixed.job_id, timeout=15).status is JobStatus.DONE
    health = requests.get(ui_url(agent, "/api/health"), timeout=5).json()
    assert not any("heroqueue:outbox" in n for n in health["notices"])
