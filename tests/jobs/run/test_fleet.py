"""`heroagent worker --processes N` (issue 27, item 1, for remote workers): N supervised worker processes,
each its own pool; a child that dies is started again and loses nothing; the supervisor's stop, or its
death by kill -9, leaves no child behind; a drained child stays stopped."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import make_config, pid_running, start_worker, wait_until


def fleet_pools(agent: HeroAgent) -> list[dict[str, str]]:
    return [w for w in agent.get_job_manager().list_workers() if w["id"].startswith("fleet-")]


def test_worker_processes_share_the_work_come_back_after_kill_9_and_stop_with_no_orphan(data_dir: Path) -> None:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["local"], "lease_seconds": 2.0}
    )
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        jm = agent.get_job_manager()
        proc = start_worker(agent.redis.url, "fleet", "--processes", "2", "--concurrency", "1", "--id", "fleet")
        try:
            assert wait_until(lambda: len(fleet_pools(agent)) == 2, timeout=30)
            pools = fleet_pools(agent)
            assert sorted(w["id"].split(":")[0] for w in pools) == ["fleet-1", "fleet-2"]  # "<name>:<host>:<pid>"
            pids = {int(w["pid"]) for w in pools}
            assert len(pids) == 2 and proc.pid not in pids  # two processes, neither the supervisor
            jobs = jm.create_jobs([{"topic": "fleet", "params": "!!fake.sleep seconds:0.3"}] * 6)
            ended = [jm.wait_for_job(job.job_id, timeout=30) for job in jobs]
            assert all(job.status is JobStatus.DONE for job in ended)
            ran = {w["id"] for w in pools if any(job.worker.startswith(w["id"]) for job in ended)}
            assert len(ran) == 2, (ran, [job.worker for job in ended])  # both processes ran some

            # kill -9 of a child while it runs a job: the supervisor starts it again, the job ends done once.
            long = jm.create_job("fleet", "!!fake.sleep seconds:1.5")
            assert wait_until(lambda: jm.get_job(long.job_id).status is JobStatus.ACTIVE, timeout=15)
            runner = jm.get_job(long.job_id).worker
            holder = next(w for w in fleet_pools(agent) if runner.startswith(w["id"]))
            os.kill(int(holder["pid"]), signal.SIGKILL)
            assert jm.wait_for_job(long.job_id, timeout=60).status is JobStatus.DONE
            timeline = [v.status for v in jm.get_history(long.job_id)]
            assert timeline.count(JobStatus.DONE) == 1
            assert wait_until(
                lambda: any(
                    w["id"].split(":")[0] == holder["id"].split(":")[0] and int(w["pid"]) != int(holder["pid"])
                    for w in fleet_pools(agent)
                ),
                timeout=30,
            )  # the same pool name, a new process
            children = [int(w["pid"]) for w in fleet_pools(agent)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        assert proc.returncode == 0
        assert wait_until(lambda: not any(pid_running(pid) for pid in children), timeout=30)


def test_kill_9_of_the_supervisor_stops_its_children(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["local"]})
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        proc = start_worker(agent.redis.url, "fleet", "--processes", "2", "--id", "fleet")
        try:
            assert wait_until(lambda: len(fleet_pools(agent)) == 2, timeout=30)
            children = [int(w["pid"]) for w in fleet_pools(agent)]
            proc.kill()
            proc.wait(timeout=10)
            assert wait_until(lambda: not any(pid_running(pid) for pid in children), timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_drained_children_stay_stopped_and_the_supervisor_exits(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"topics": ["local"]})
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        jm = agent.get_job_manager()
        proc = start_worker(agent.redis.url, "fleet", "--processes", "2", "--id", "fleet")
        try:
            assert wait_until(lambda: len(fleet_pools(agent)) == 2, timeout=30)
            for pool in fleet_pools(agent):
                jm.drain_worker(pool["id"])
            assert proc.wait(timeout=60) == 0
            assert proc.stderr is not None and "every worker process drained" in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert isinstance(proc, subprocess.Popen)
