"""Dependencies (depends_on): a job waits until the jobs it names have ended done, in Redis scripts."""

from __future__ import annotations

import pytest

from heroagent import HeroAgent
from heroagent.jobs import InvalidJobError, JobContext, JobStatus, keys
from tests.conftest import wait_until

OK = "!!fake.return_success message:'{}'"
FAIL = "!!fake.return_error"


def test_a_diamond_runs_in_order(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    a, b, c, d = jm.create_jobs(
        [
            {"topic": "dia", "params": "!!fake.sleep seconds:'0.3'"},
            {"topic": "dia", "params": OK.format("b"), "depends_on": ["@0"]},
            {"topic": "dia", "params": OK.format("c"), "depends_on": ["@0"]},
            {"topic": "dia", "params": OK.format("d"), "depends_on": ["@1", "@2"]},
        ]
    )
    assert a.status is JobStatus.NEW
    assert (b.status, c.status, d.status) == (JobStatus.WAITING,) * 3
    assert b.depends_on == (a.job_id,) and d.depends_on == (b.job_id, c.job_id)
    assert b.on_parent_failure == "cancel"
    done = {job.job_id: jm.wait_for_job(job.job_id, timeout=20) for job in (a, b, c, d)}
    assert all(job.status is JobStatus.DONE for job in done.values())
    assert done[b.job_id].time_start >= done[a.job_id].time_end
    assert done[c.job_id].time_start >= done[a.job_id].time_end
    assert done[d.job_id].time_start >= max(done[b.job_id].time_end, done[c.job_id].time_end)
    # The history keeps each job's parents and its waiting state.
    timeline = [v.status for v in jm.get_history(d.job_id)]
    assert timeline[0] is JobStatus.WAITING and JobStatus.NEW in timeline


def test_a_failed_parent_cancels_its_dependents_down_the_line(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    a, b, c = jm.create_jobs(
        [
            {"topic": "fail", "params": FAIL},
            {"topic": "fail", "params": OK.format("b"), "depends_on": ["@0"]},
            {"topic": "fail", "params": OK.format("c"), "depends_on": ["@1"]},
        ]
    )
    assert jm.wait_for_job(a.job_id, timeout=20).status is JobStatus.ERROR
    b_end = jm.wait_for_job(b.job_id, timeout=20)
    c_end = jm.wait_for_job(c.job_id, timeout=20)
    assert b_end.status is JobStatus.CANCELED and f"job {a.job_id} it depends on ended error" in b_end.error
    assert c_end.status is JobStatus.CANCELED and f"job {b.job_id} it depends on ended canceled" in c_end.error
    assert b_end.attempts == 0 and c_end.attempts == 0  # never ran


def test_skip_lets_the_line_go_on_and_run_runs_anyway(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    _, skipped, after, anyway = jm.create_jobs(
        [
            {"topic": "pol", "params": FAIL},
            {"topic": "pol", "params": OK.format("s"), "depends_on": ["@0"], "on_parent_failure": "skip"},
            {"topic": "pol", "params": OK.format("after"), "depends_on": ["@1"]},
            {"topic": "pol", "params": OK.format("anyway"), "depends_on": ["@0"], "on_parent_failure": "run"},
        ]
    )
    assert jm.wait_for_job(skipped.job_id, timeout=20).status is JobStatus.SKIPPED
    assert jm.wait_for_job(after.job_id, timeout=20).status is JobStatus.DONE
    assert jm.wait_for_job(anyway.job_id, timeout=20).status is JobStatus.DONE


def test_parents_created_earlier_and_already_ended(agent: HeroAgent) -> None:
    """A parent still running, one done and recorded (gone from Redis: read from the history), one failed."""
    jm = agent.get_job_manager()
    done = jm.wait_for_job(jm.create_job("old", OK.format("old")).job_id, timeout=20)
    assert agent.redis is not None
    client = agent.redis.client()
    assert wait_until(lambda: not client.exists(keys.job("old", done.job_id)))
    failed = jm.wait_for_job(jm.create_job("old", FAIL).job_id, timeout=20)
    running = jm.create_job("old", "!!fake.sleep seconds:'0.5'")
    child = jm.create_job("new", OK.format("child"), depends_on=[done.job_id, running.job_id])
    assert child.status is JobStatus.WAITING
    assert jm.wait_for_job(child.job_id, timeout=20).status is JobStatus.DONE
    refused = jm.create_job("new", OK.format("x"), depends_on=[failed.job_id])
    assert refused.status is JobStatus.CANCELED and "ended error" in refused.error


def test_unknown_parents_and_bad_references_create_nothing(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    before = jm.create_job("ref", OK.format("x")).job_id
    with pytest.raises(InvalidJobError, match="job 99999 does not exist"):
        jm.create_job("ref", OK.format("y"), depends_on=[99999])
    with pytest.raises(InvalidJobError, match="not an earlier job"):
        jm.create_jobs([{"topic": "ref", "params": OK.format("z"), "depends_on": ["@0"]}])
    with pytest.raises(InvalidJobError, match="depends_on"):
        jm.create_job("ref", OK.format("y"), depends_on=["nope"])  # type: ignore[list-item]
    with pytest.raises(InvalidJobError, match="on_parent_failure"):
        jm.create_job("ref", OK.format("y"), on_parent_failure="run")
    assert jm.create_job("ref", OK.format("after")).job_id == before + 1  # no id was spent


def test_canceling_a_waiting_job_and_its_parent(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    parent = jm.create_job("cx", "!!fake.sleep seconds:'30'")
    child, grandchild = jm.create_jobs(
        [
            {"topic": "cx", "params": OK.format("c"), "depends_on": [parent.job_id]},
            {"topic": "cx", "params": OK.format("g"), "depends_on": ["@0"]},
        ]
    )
    jm.cancel_job(child.job_id)
    assert jm.wait_for_job(child.job_id, timeout=10).status is JobStatus.CANCELED
    assert jm.wait_for_job(grandchild.job_id, timeout=10).status is JobStatus.CANCELED
    jm.cancel_job(parent.job_id)
    assert jm.wait_for_job(parent.job_id, timeout=20).status is JobStatus.CANCELED


def test_a_chain_runs_one_after_the_other_and_stops_at_a_failure(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    flow = jm.chain([{"topic": "ch", "params": OK.format(n)} for n in range(4)])
    assert flow.group.startswith("g-") and all(job.group == flow.group for job in flow.jobs)
    ended = [jm.wait_for_job(job.job_id, timeout=20) for job in flow.jobs]
    assert [job.status for job in ended] == [JobStatus.DONE] * 4
    assert all(ended[n].time_start >= ended[n - 1].time_end for n in range(1, 4))
    broken = jm.chain(
        [
            {"topic": "ch", "params": OK.format(0)},
            {"topic": "ch", "params": FAIL},
            {"topic": "ch", "params": OK.format(2)},
        ]
    )
    last = jm.wait_for_job(broken.jobs[2].job_id, timeout=20)
    assert last.status is JobStatus.CANCELED
    assert wait_until(lambda: jm.get_group(broken.group)["ended"] == 3)
    summary = jm.get_group(broken.group)
    assert (summary["total"], summary["done"], summary["error"], summary["canceled"]) == (3, 1, 1, 1)


def test_a_group_callback_runs_once_with_every_members_outcome(agent: HeroAgent) -> None:
    seen: list[dict[int, tuple[str, object]]] = []

    @agent.actor("collect")
    class Collect:
        def run(self, ctx: JobContext) -> int:
            seen.append({pid: (out.status, out.result) for pid, out in ctx.parent_results.items()})
            return len(ctx.parent_results)

    jm = agent.get_job_manager()
    members: list[dict[str, object]] = [{"topic": "grp", "params": OK.format(n)} for n in range(8)]
    members.append({"topic": "grp", "params": FAIL, "max_retries": 2, "retry_delay": 0.05})
    flow = jm.group(members, on_complete={"topic": "grp-done", "params": "!!collect.run"})
    assert flow.on_complete is not None and flow.on_complete.status is JobStatus.WAITING
    assert flow.on_complete.group == flow.group + ":on_complete"
    callback = jm.wait_for_job(flow.on_complete.job_id, timeout=30)
    assert callback.status is JobStatus.DONE and callback.result == [9]
    assert len(seen) == 1
    outcomes = seen[0]
    assert sorted(outcomes) == sorted(job.job_id for job in flow.jobs)
    assert outcomes[flow.jobs[0].job_id] == ("done", ["0"])
    assert outcomes[flow.jobs[-1].job_id][0] == "error"
    assert jm.get_job(flow.jobs[-1].job_id).retries == 2  # the callback waited for the retries
    assert wait_until(lambda: jm.get_group(flow.group)["ended"] == 9)
    summary = jm.get_group(flow.group)
    assert (summary["total"], summary["done"], summary["error"]) == (9, 8, 1)
    assert summary["on_complete"]["job_id"] == callback.job_id
