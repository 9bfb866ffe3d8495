"""kill -9 of a Redis primary while jobs flow, as the Sentinel and the Cluster tests both do it.

The server (in this process) runs one topic, a `heroagent worker` another, and a submitter in a process of
its own creates jobs one by one on both, printing each id once create_job returned (a create that failed
in the failover is not acknowledged, and it goes on). The primary is killed after 150 acknowledged jobs;
then every acknowledged job must end `done` exactly once in the history, jobs acknowledged after the kill
included (the clients followed the new primary), and the remote worker must have run jobs after it too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from heroagent import HeroAgent
from tests.conftest import child_env, present, wait_until
from tests.jobs.live.test_submit_path import assert_recorded_once

SUBMITTER = """
import sys, time
from heroagent.client import JobClient
from heroagent.config import load_config
client = JobClient.from_config(load_config(sys.argv[1]), timeout=2.0)
end = time.time() + float(sys.argv[2])
n = 0
while time.time() < end:
    n += 1
    try:
        job = client.create_job(sys.argv[3] if n % 2 else sys.argv[4], "!!fake.sleep seconds:0.01")
    except Exception as exc:
        print("failed", type(exc).__name__, flush=True)
        time.sleep(0.2)
        continue
    print(job.job_id, flush=True)
"""
WORKER_ID = "remote-flow"


def kill_primary_while_jobs_flow(
    agent: HeroAgent,
    toml: Path,
    topics: tuple[str, str],
    kill: Callable[[], None],
    failed_over: Callable[[], bool],
    logs: Path,
) -> None:
    """The flow above; `topics`: the server's and the remote worker's; `kill` kills the primary and
    `failed_over` says when another one serves; `logs`: a folder for the worker's log."""
    local, far = topics
    log = logs / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "heroagent", "worker", "--topics", far, "--config", str(toml), "--id", WORKER_ID,
         "--log-level", "debug"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"), env=child_env(),
    )  # fmt: skip
    try:
        jm = agent.get_job_manager()
        assert wait_until(lambda: WORKER_ID in str(jm.list_workers()), timeout=30), "the worker did not start"
        submitter = subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, str(toml), "14", local, far],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        )  # fmt: skip
        assert submitter.stdout is not None
        seen = [submitter.stdout.readline() for _ in range(150)]  # jobs flow
        kill()
        assert wait_until(failed_over, timeout=30), "no failover"
        out, err = submitter.communicate(timeout=60)
        since = [int(line) for line in out.splitlines() if line.strip().isdigit()]
        assert since and wait_until(lambda: all(jm.get_job(i).status.terminal for i in since), timeout=60), (
            log.read_text()[-6000:]
        )
        ran_by = {present(jm.get_job(i)).worker.split(":")[0] for i in since}
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    ids = [int(line) for line in seen if line.strip().isdigit()] + since
    assert since, f"no create was acknowledged after the failover: {err[-2000:]}"  # the client followed it
    assert len(set(ids)) == len(ids)
    assert_recorded_once(agent, ids, runs_lost=True)
    assert len(ran_by) == 2 and any(pool.startswith(WORKER_ID) for pool in ran_by), ran_by  # after it too
    assert agent.health()["redis"] == "running"
