"""`[jobs] worker_processes = N` (issue 27, item 1, the server's half): `serve` runs its pool as N supervised
`heroagent worker` children. Real processes: kill -9 of one child while jobs flow and kill -9 of the server
lose nothing; health names a dead child until it is back; a stop, or the server's death, leaves no child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.config import to_toml
from heroagent.errors import ServiceError
from heroagent.jobs.run.actors import ActorRegistry
from heroagent.jobs.run.builtin_actors import register_builtins
from heroagent.jobs.server.pool_processes import PoolProcesses, foreign_actors
from tests.conftest import child_env, make_config, pid_running, wait_until
from tests.jobs.live.test_submit_path import assert_recorded_once


def make_registry_without_globals() -> ActorRegistry:
    registry = ActorRegistry()
    register_builtins(registry)
    return registry


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is `pid`, and whose command is a `heroagent worker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == pid and b"worker" in command and pid_running(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_the_pool_runs_in_worker_processes_and_a_killed_one_loses_nothing(data_dir: Path) -> None:
    config = make_config(
        data_dir,
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"worker_processes": 2, "worker_count": 2, "lease_seconds": 2.0},
    )
    agent = HeroAgent(config)
    assert agent.jobs is not None
    # This test process's global registry holds the actors other test modules registered: a server with them
    # is refused (the last test); this one has the built-in actors only, as `heroagent serve` would.
    agent.jobs.registry = make_registry_without_globals()
    with agent:
        jobs = agent.jobs
        assert jobs is not None and jobs.processes is not None and jobs.pool is None
        processes = jobs.processes
        jm = agent.get_job_manager()
        assert wait_until(lambda: len(processes.pids()) == 2 and len(jm.list_workers()) == 2, timeout=30)
        first = processes.pids()
        made = jm.create_jobs([{"topic": "flow", "params": "!!fake.sleep seconds:0.02"}] * 300)
        assert wait_until(lambda: jm.get_job(made[40].job_id).status.terminal, timeout=30)
        os.kill(first[0], signal.SIGKILL)  # one worker process, in the middle of the flow
        assert wait_until(
            lambda: any("worker process 1" in problem for problem in jobs.problems()), timeout=10, interval=0.02
        ), "health did not name the dead worker process"
        ids = [job.job_id for job in made]
        assert_recorded_once(agent, ids, runs_lost=True)
        ran_in = {jm.get_job(i).worker.split(":")[0] for i in ids}
        assert ran_in <= {"serve-1", "serve-2"} and len(ran_in) == 2, ran_in  # in the children, never the server
        assert wait_until(lambda: len(processes.pids()) == 2, timeout=30)
        again = processes.pids()
        assert first[0] not in again and first[1] in again
        assert wait_until(lambda: not [p for p in jobs.problems() if "worker process" in p], timeout=10)
        assert (data_dir / "run" / "worker-processes.toml").stat().st_mode & 0o777 == 0o600
    assert wait_until(lambda: not any(pid_running(pid) for pid in again), timeout=30), "a worker process is left"


def test_kill_9_of_the_server_takes_its_worker_processes_along_and_loses_no_job(data_dir: Path) -> None:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_processes": 2, "lease_seconds": 2.0}
    )
    toml = data_dir / "serve.toml"
    toml.write_text(to_toml(config))
    serve = subprocess.Popen(
        [sys.executable, "-m", "heroagent", "serve", "--config", str(toml)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(),
    )  # fmt: skip
    try:
        assert wait_until(lambda: len(children_of(serve.pid)) == 2, timeout=60), "no worker processes"
        workers = children_of(serve.pid)
        client = JobClient.from_config(config)
        assert wait_until(lambda: _answers(client), timeout=30)
        ids = [client.create_job("flow", "!!fake.sleep seconds:0.05").job_id for _ in range(60)]
        client.close()
        serve.kill()
        serve.wait(timeout=10)
        assert wait_until(lambda: not any(pid_running(pid) for pid in workers), timeout=30), "orphan workers"
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    config.jobs.worker_processes = 0  # the next start, here (this process's registry has other tests' actors)
    with HeroAgent(config) as agent:  # every job the client was told of ends once
        assert_recorded_once(agent, ids, runs_lost=True)


def _answers(client: JobClient) -> bool:
    try:
        return bool(client.redis.ping())
    except Exception:
        return False


def module_actor(message: str = "") -> str:
    """An actor defined in this test module, which [jobs] modules does not list."""
    return message


def test_an_actor_the_worker_processes_would_lack_refuses_the_start_naming_it(data_dir: Path) -> None:
    registry = ActorRegistry()
    registry.register("local_only", module_actor)
    config = make_config(data_dir, jobs={"worker_processes": 2})
    assert foreign_actors(registry, []) == {"local_only": __name__}
    with pytest.raises(
        ServiceError, match=r"worker_processes = 2: .*local_only \(in tests\.jobs\.server.*\[jobs\] modules"
    ):
        PoolProcesses(config, registry)
    config.jobs.modules = ["tests.jobs"]  # its package listed: the children import it too
    assert foreign_actors(registry, config.jobs.modules) == {}
    PoolProcesses(config, registry)  # made, not started
