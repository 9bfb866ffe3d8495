"""Priorities (issue 12, item 1): within a topic, a waiting job of a higher priority starts first;
FIFO (by id) within a priority; a job put back keeps its place; job types and schedules give defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import InvalidJobError, JobStatus, keys
from tests.conftest import make_config, redis_cli, wait_until

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def quiet_agent(data_dir: Path, **jobs: object) -> HeroAgent:
    """One worker thread serving the topic "p" only: starts come one at a time, in claim order."""
    config = make_config(
        data_dir,
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"topics": ["p"], "worker_count": 1, "lease_seconds": 2.0, **jobs},
    )
    return HeroAgent(config)


def test_higher_priorities_start_first_and_fifo_within_one(data_dir: Path) -> None:
    with quiet_agent(data_dir) as agent:
        jm = agent.get_job_manager()
        jm.pause_topic("p", create=True)
        priorities = [0, 5, 9, 5, 0, 9, 3, 0]
        jobs = [jm.create_job("p", "!!fake.sleep seconds:0.02", priority=p) for p in priorities]  # ms apart
        waiting = redis_cli(agent, "ZRANGE", KEYS.queue("p"), "0", "-1").split()
        expected = [j.job_id for j in sorted(jobs, key=lambda j: (-j.priority, j.job_id))]
        assert [int(x) for x in waiting] == expected  # what redis-cli shows as "next first"
        jm.resume_topic("p")
        finals = [jm.wait_for_job(j.job_id, timeout=20) for j in jobs]
        started = [j.job_id for j in sorted(finals, key=lambda j: (j.time_start, j.job_id))]
        assert started == expected
        assert {j.priority for j in finals} == set(priorities)


def test_a_job_put_back_keeps_its_place(data_dir: Path) -> None:
    """A job that goes back to waiting (its worker lost, handed back) is placed by its priority and id,
    so it is not pushed behind jobs made after it."""
    with quiet_agent(data_dir, topics=["elsewhere"]) as agent:
        jm = agent.get_job_manager()
        first = jm.create_job("p", "!!fake.return_success", priority=4)
        later = [jm.create_job("p", "!!fake.return_success", priority=4) for _ in range(3)]
        assert [j.job_id for j in jm.queue.claim(["p"], "gone:1:x/1", lease_ms=300)] == [first.job_id]
        assert wait_until(lambda: jm.get_job(first.job_id).status is JobStatus.NEW, timeout=10)  # reaped
        waiting = [int(x) for x in redis_cli(agent, "ZRANGE", KEYS.queue("p"), "0", "-1").split()]
        assert waiting == [first.job_id] + [j.job_id for j in later]


def test_priority_is_checked_at_every_edge(data_dir: Path) -> None:
    with quiet_agent(data_dir) as agent:
        jm = agent.get_job_manager()
        whole = "a whole number"
        for bad, why in [
            (10, "at most 9"),
            (-1, "at least 0"),
            (2.5, whole),
            (float("nan"), whole),
            (1e400, whole),
            ("9", whole),
            (True, whole),
        ]:
            with pytest.raises(InvalidJobError, match=f"priority: .*{why}"):
                jm.create_job("p", "!!fake.return_success", priority=bad)  # type: ignore[arg-type]
        assert jm.create_job("p", "!!fake.return_success", priority=9.0).priority == 9  # type: ignore[arg-type]


def test_job_types_and_schedules_give_a_default_priority(data_dir: Path) -> None:
    config = make_config(
        data_dir,
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"topics": ["nobody"]},
    )
    config.job_types = {"fake": {"priority": 6}}
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        assert jm.create_job("p", "!!fake.return_success").priority == 6
        assert jm.create_job("p", "!!fake.return_success", priority=1).priority == 1  # its own wins
        assert jm.create_job("p", "!!script.run path:scripts/x.sh").priority == 0  # another type: none
        agent.get_schedules().add("urgent", "sp", "!!fake.return_success", every=1, priority=8)
        assert wait_until(lambda: jm.list_jobs(topic="sp"), timeout=10)
        assert jm.list_jobs(topic="sp")[0].priority == 8


def test_queues_written_before_priorities_are_upgraded(data_dir: Path) -> None:
    """A Redis that holds a queue as a list (HeroAgent before priorities): reconcile turns it into the
    sorted set, each job at its place; nothing is lost and the jobs run."""
    with quiet_agent(data_dir, topics=["nobody"]) as agent:
        jm = agent.get_job_manager()
        jobs = [jm.create_job("p", "!!fake.return_success", priority=p) for p in (0, 7, 0)]
        redis_cli(agent, "DEL", KEYS.queue("p"))
        redis_cli(agent, "RPUSH", KEYS.queue("p"), *(str(j.job_id) for j in jobs))
        assert redis_cli(agent, "TYPE", KEYS.queue("p")) == "list"
        agent.jobs.reconciler.reconcile()  # type: ignore[union-attr]
        assert redis_cli(agent, "TYPE", KEYS.queue("p")) == "zset"
        waiting = [int(x) for x in redis_cli(agent, "ZRANGE", KEYS.queue("p"), "0", "-1").split()]
        assert waiting == [jobs[1].job_id, jobs[0].job_id, jobs[2].job_id]
