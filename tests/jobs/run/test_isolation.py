"""Killable actors (issue 10, item 14): with isolation="process", timeout and cancel stop any code.

In a thread, an actor that ignores ctx.cancel kept running after cancel and after its timeout (its
thread was left behind), and a hung C call could never be stopped. In a child process both are killed.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.run.actors import ActorRegistry
from tests.conftest import make_config, pid_running, wait_until


def pid_file(tmp: Path, name: str) -> Path:
    return tmp / f"{name}.pid"


@pytest.fixture
def isolated_agent(data_dir: Path) -> Iterator[HeroAgent]:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 2, "process_topics": ["box"]}
    )
    agent = HeroAgent(config)
    marks = data_dir

    @agent.actor("stubborn", isolation="process")
    class Stubborn:
        def spin(self, name: str) -> str:
            pid_file(marks, name).write_text(str(os.getpid()))
            while True:  # ignores ctx.cancel on purpose
                time.sleep(0.05)

        def c_call(self, name: str) -> str:
            pid_file(marks, name).write_text(str(os.getpid()))
            ctypes.CDLL(None).sleep(3600)  # blocks in C: no Python code runs to notice anything
            return "never"

        def work(self, ctx: object, what: str) -> str:
            ctx.log(f"working on {what} in {os.getpid()}")  # type: ignore[attr-defined]
            return f"{what} done"

        def fail(self) -> str:
            raise RuntimeError("broke inside the child")

        def crash(self) -> str:
            os._exit(3)

    @agent.actor("plain")
    class Plain:
        def pid(self) -> int:
            return os.getpid()

    agent.start()
    yield agent
    agent.stop()


def test_cancel_kills_an_actor_that_ignores_it(isolated_agent: HeroAgent, data_dir: Path) -> None:
    jm = isolated_agent.get_job_manager()
    job = jm.create_job("t", "!!stubborn.spin name:spin", timeout=60)
    spin = pid_file(data_dir, "spin")
    assert wait_until(lambda: spin.exists() and spin.read_text().strip(), timeout=10)  # made, then written
    child = int(spin.read_text())
    assert child != os.getpid() and pid_running(child)
    jm.cancel_job(job.job_id)
    assert jm.wait_for_job(job.job_id, timeout=10).status is JobStatus.CANCELED
    assert wait_until(lambda: not pid_running(child), timeout=5), "the child still runs after cancel"


def test_a_timeout_kills_a_hung_c_call_and_frees_the_worker(isolated_agent: HeroAgent, data_dir: Path) -> None:
    jm = isolated_agent.get_job_manager()
    job = jm.create_job("t", "!!stubborn.c_call name:hung", timeout=1)
    final = jm.wait_for_job(job.job_id, timeout=15)
    assert final.status is JobStatus.TIMEOUT and "timed out" in final.error
    child = int(pid_file(data_dir, "hung").read_text())
    assert wait_until(lambda: not pid_running(child), timeout=5), "the hung child was not killed"
    # The worker thread came back: both workers take the next jobs at once.
    jobs = jm.create_jobs([{"topic": "t", "params": "!!fake.return_success"} for _ in range(4)])
    assert all(jm.wait_for_job(j.job_id, timeout=10).status is JobStatus.DONE for j in jobs)


def test_results_logs_and_errors_come_back_from_the_child(isolated_agent: HeroAgent) -> None:
    jm = isolated_agent.get_job_manager()
    ok = jm.create_job("t", "!!stubborn.work what:report", log=True)
    done = jm.wait_for_job(ok.job_id, timeout=15)
    assert done.status is JobStatus.DONE and done.result == ["report done"]
    log = jm.get_log(ok.job_id)
    assert "working on report in" in log and f"in {os.getpid()}\n" not in log
    failed = jm.wait_for_job(jm.create_job("t", "!!stubborn.fail", log=True).job_id, timeout=15)
    assert failed.status is JobStatus.ERROR and failed.error == "RuntimeError: broke inside the child"
    assert "Traceback" in jm.get_log(failed.job_id)
    crashed = jm.wait_for_job(jm.create_job("t", "!!stubborn.crash").job_id, timeout=15)
    assert crashed.status is JobStatus.ERROR and "ended without an answer (exit code 3)" in crashed.error


def test_process_topics_isolate_any_actor_and_threads_stay_the_default(isolated_agent: HeroAgent) -> None:
    jm = isolated_agent.get_job_manager()
    boxed = jm.wait_for_job(jm.create_job("box", "!!plain.pid").job_id, timeout=15)
    inline = jm.wait_for_job(jm.create_job("t", "!!plain.pid").job_id, timeout=15)
    assert inline.result == [os.getpid()]  # a thread of this process
    assert boxed.status is JobStatus.DONE and boxed.result != inline.result


def test_an_unknown_isolation_is_refused() -> None:
    with pytest.raises(ValueError, match="isolation = 'fork': must be one of thread, process"):
        ActorRegistry().register("x", object(), isolation="fork")
