"""Fault injection against the real server (issue 10, items 3, 4 and "no poison event"): a full disk under
the history, a job log that cannot be opened, an event the history cannot take. Each fault is reported
(503 at the door, `degraded` in health, naming the part and the error), loses no accepted job, and the
server resumes by itself when the fault goes away. The figures go to the closing note via stdout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import requests

from heroagent import HeroAgent
from heroagent.jobs import JobStatus, keys
from tests.conftest import fill_disk, make_config, stream_entries, ui_url, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes

StartAgent = Callable[..., HeroAgent]


def health(agent: HeroAgent) -> tuple[int, dict[str, object]]:
    r = requests.get(ui_url(agent, "/api/health"), timeout=10)
    return r.status_code, r.json()


def test_a_full_disk_under_the_history_loses_no_accepted_job(data_dir: Path, small_disk: Path) -> None:
    config = make_config(
        data_dir,
        jobs={"db_path": str(small_disk / "jobsdb"), "worker_count": 2},
        webdav={"enabled": False},
        scheduler={"enabled": False},
    )
    agent = HeroAgent(config).start()
    try:
        jm = agent.get_job_manager()
        warm = jm.create_job("warm", "!!fake.return_success")
        jm.wait_for_job(warm.job_id, timeout=15)
        filler = fill_disk(small_disk, leave=24 * 1024)
        accepted: list[int] = []
        body = {"topic": "fill", "params": "!!fake.return_success message:'" + "x" * 1500 + "'"}
        # Redis is the write-ahead log: creating a job does not wait for the history's disk, so every
        # create is accepted, and the recorder, which cannot write, keeps the events until it can.
        for _ in range(40):
            r = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=10)
            assert r.status_code == 201, r.text
            accepted.append(r.json()["job_id"])
        # The recorder cannot write them: health says so, naming the loop and why.
        assert wait_until(lambda: health(agent)[0] == 503, timeout=20)
        _, report = health(agent)
        assert report["services"]["jobs"] == "degraded"  # type: ignore[index]
        assert any("recorder" in p and "disk is full" in p for p in report["problems"]), report  # type: ignore[attr-defined]
        fault_at = time.monotonic()
        filler.unlink()  # space returns: everything resumes by itself
        assert wait_until(lambda: health(agent)[0] == 200, timeout=30), health(agent)
        recovered_in = time.monotonic() - fault_at
        finals = [jm.wait_for_job(job_id, timeout=60) for job_id in accepted]
        assert [f.status for f in finals] == [JobStatus.DONE] * len(accepted)
        for job_id in accepted:
            statuses = [v.status.value for v in jm.get_history(job_id)]
            assert statuses == ["new", "active", "done"], (job_id, statuses)
        after = jm.create_job("after", "!!fake.return_success")
        assert jm.wait_for_job(after.job_id, timeout=15).status is JobStatus.DONE
        print(f"\nfull disk: {len(accepted)} accepted, 0 lost, recovered {recovered_in:.1f}s after space returned")
    finally:
        agent.stop()
    with HeroAgent(config) as again:  # and the server starts again with every job in its history
        jm = again.get_job_manager()
        assert all(jm.store.status_of(job_id) is JobStatus.DONE for job_id in accepted)


def test_a_job_log_that_cannot_be_opened_costs_only_the_log(web_agent: StartAgent) -> None:
    """Item 4: `mkdir logs/2.log`, then job 2 with log: true answered 500 and killed the worker thread,
    the pool supervisor and the recorder. Now the job runs and health has a notice."""
    agent = web_agent()
    jm = agent.get_job_manager()
    first = jm.create_job("t", "!!fake.return_success")
    blocked = agent.config.logs_dir / f"{first.job_id + 1}.log"
    blocked.mkdir(parents=True)
    r = requests.post(
        ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!fake.sleep seconds:0.1", "log": True}
    )
    assert r.status_code == 201 and r.json()["job_id"] == first.job_id + 1
    assert jm.wait_for_job(first.job_id + 1, timeout=15).status is JobStatus.DONE
    later = [jm.create_job("t", "!!fake.return_success", log=True) for _ in range(5)]
    assert all(jm.wait_for_job(j.job_id, timeout=15).status is JobStatus.DONE for j in later)
    status, report = health(agent)
    assert status == 200 and any("job logs" in n for n in report["notices"]), report  # type: ignore[attr-defined]


def test_an_event_the_history_cannot_take_is_set_aside_not_blocking(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    client = jm.client
    client.xadd(KEYS.EVENTS, {"jobid": "not-a-number", "topic": "t", "status": "done"})
    client.xadd(
        KEYS.EVENTS,
        {"json": "{}", "jobid": "1", "topic": "t", "status": "exploded", "attempts": "0", "time_end": "0", "log": "0"},
    )
    after = jm.create_job("t", "!!fake.return_success")
    assert jm.wait_for_job(after.job_id, timeout=15).status is JobStatus.DONE
    assert wait_until(lambda: client.xlen(KEYS.EVENTS_SET_ASIDE) == 2, timeout=10)
    kept = stream_entries(client, KEYS.EVENTS_SET_ASIDE)
    assert b"unreadable event" in kept[0][1][b"why"] and kept[0][1][b"jobid"] == b"not-a-number"
    status, report = health(agent)
    assert status == 200 and any("2 event(s)" in n for n in report["notices"]), report  # type: ignore[attr-defined]
    agent.stop()
    agent.start()  # a restart is not blocked by them either
    assert agent.get_job_manager().get_job(after.job_id).status is JobStatus.DONE


def test_a_stalled_redis_gives_503s_not_hung_pages_and_loses_nothing(web_agent: StartAgent) -> None:
    """Item 9: SIGSTOP of Redis for 20 s hung every endpoint (health 25 s, a job 58 s)."""
    import os
    import signal

    agent = web_agent(scheduler={"lease_seconds": 1.0})
    jm = agent.get_job_manager()
    done = jm.create_job("t", "!!fake.return_success")
    jm.wait_for_job(done.job_id, timeout=15)
    pid = agent.redis.pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        # Each answer comes well within the client's 8 s patience (a hang would raise ReadTimeout).
        for path in (
            "/api/health",
            f"/api/jobs/{done.job_id}",
            "/api/queues",
            "/",
            "/api/schedules",
            "/schedules",
            "/api/jobs",
            "/jobs",
        ):
            r = requests.get(ui_url(agent, path), timeout=8)
            assert r.status_code in (503, 200), (path, r.status_code)
            if path == "/api/jobs":  # the list comes from the history: Redis is not needed for it
                assert r.status_code == 200 and [j["jobid"] for j in r.json()["jobs"]] == [done.job_id], r.text
            if path == "/api/health":
                assert r.status_code == 503 and r.json()["services"]["redis"] == "down"
        # Redis is where a job is created: with it stalled the create is refused (nothing made), in time.
        r = requests.post(ui_url(agent, "/api/jobs"), json={"topic": "t", "params": "!!fake.return_success"}, timeout=8)
        assert r.status_code == 503 and "Redis" in r.json()["error"], r.text
    finally:
        os.kill(pid, signal.SIGCONT)
    again = jm.create_job("t", "!!fake.return_success")
    assert jm.wait_for_job(again.job_id, timeout=30).status is JobStatus.DONE
    assert wait_until(lambda: health(agent)[0] == 200, timeout=15)


def test_a_stop_while_redis_is_stalled_ends_and_loses_no_job(data_dir: Path) -> None:
    """SIGTERM to `serve` (here `agent.stop()`) while Redis was stopped with SIGSTOP never returned: the
    stop's calls to Redis (the pool's releases, heartbeat, the request server's wake) have no timeout.
    A stop now asks Redis once whether it answers; if not, it stops without it, and every job it held
    comes back by its lease at the next start: the running one, the queued ones and a delayed one."""
    import contextlib
    import os
    import signal
    import threading

    from heroagent.procs import pid_alive

    config = make_config(
        data_dir,
        jobs={"lease_seconds": 2.0, "worker_count": 2, "stop_grace": 5.0},
        webdav={"enabled": False},
        ui={"enabled": False},
    )
    agent = HeroAgent(config).start()
    jm = agent.get_job_manager()
    running = jm.create_job("stall", "!!fake.sleep seconds:1")
    assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE)
    delayed = [jm.create_job("stall-later", "!!fake.return_success", delay=0.5) for _ in range(3)]
    pid = agent.redis.pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    stopper = threading.Thread(target=agent.stop, name="stopper", daemon=True)
    try:
        stopper.start()
        stopper.join(60)  # a liveness bound, not a speed figure: it hung for good before
        assert not stopper.is_alive(), "stop did not return while Redis was stalled"
    finally:
        with contextlib.suppress(ProcessLookupError):  # the stop continued it (to save) and ended it
            os.kill(pid, signal.SIGCONT)
        stopper.join(30)
    assert not pid_alive(pid), "the embedded Redis outlived the stop"
    with HeroAgent(config) as again:
        jm = again.get_job_manager()
        for job in (running, *delayed):
            assert jm.wait_for_job(job.job_id, timeout=30).status is JobStatus.DONE, job.job_id


def test_a_full_disk_under_redis_is_named_a_full_disk_not_an_unreachable_redis(
    data_dir: Path, small_disk: Path
) -> None:
    """Issue 31, item 9: a full disk was reported as "Redis is not reachable"."""
    import requests

    from heroagent.config import Config
    from heroagent.redis_server import EmbeddedRedis
    from tests.conftest import free_port, ui_url

    redis_config = Config(data_dir=str(small_disk / "external"))
    redis_config.redis.tcp_port = free_port()
    redis_server = EmbeddedRedis(redis_config)
    redis_server.start()
    filler = None
    try:
        config = make_config(data_dir, redis={"url": redis_server.url}, webdav={"enabled": False})
        with HeroAgent(config) as agent:
            filler = fill_disk(small_disk)
            body = {"topic": "t", "params": "!!fake.return_success message:" + "x" * 2000}
            answers = [requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=10) for _ in range(400)]
            refused = [a for a in answers if a.status_code == 503]
            assert refused, [a.status_code for a in answers][-5:]
            assert "the disk is full" in refused[-1].json()["error"], refused[-1].text
            assert "not reachable" not in refused[-1].json()["error"]
            filler.unlink()
    finally:
        if filler is not None:
            filler.unlink(missing_ok=True)
        redis_server.stop()
