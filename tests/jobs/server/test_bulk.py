"""Bulk changes (issue 30, item 2; jobs/server/bulk.py): retry, cancel, delete by id or by a filter, in bounded
batches, skipping (and counting) a job whose state does not allow the change."""

from __future__ import annotations

import time
from typing import Any

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import InvalidJobError, JobNotFoundError
from heroagent.jobs.server.bulk import BULK_BATCH, run_bulk
from heroagent.jobs.server.manager import JobManager
from tests.conftest import wait_until


def recorded(jm: JobManager, count: int, status: str, topic: str) -> bool:
    """Wait until the history's index has `count` jobs of this status and topic (bulk filters read it)."""
    return wait_until(lambda: jm.store.count(status, topic) == count, timeout=30)


def waiting_jobs(jm: JobManager, topic: str, count: int) -> list[int]:
    """`count` jobs queued on a paused topic: they wait (new) until resumed."""
    jm.pause_topic(topic, create=True)
    ids = [j.job_id for j in jm.create_jobs([{"topic": topic, "params": "!!fake.return_success"}] * count)]
    assert recorded(jm, count, "new", topic)
    return ids


def until_done(jm: JobManager, action: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Call bulk_jobs with the filter, following next_before, until nothing is left; every answer."""
    answers = []
    while True:
        answers.append(jm.bulk_jobs(action, filters=filters))
        if answers[-1]["next_before"] is None:
            return answers
        filters = {**filters, "before": answers[-1]["next_before"]}


def test_retry_by_ids_queues_the_finished_and_skips_the_rest(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    failed = [jm.create_job("flaky", "!!fake.return_error") for _ in range(3)]
    for job in failed:
        assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.ERROR
    (waiting,) = waiting_jobs(jm, "held", 1)
    ids = [j.job_id for j in failed]
    answer = jm.bulk_jobs("retry", [*ids, waiting, 999_999, ids[0]])  # a duplicate counts once
    assert answer == {
        "action": "retry",
        "done": 3,
        "skipped": 2,
        "skipped_ids": [waiting, 999_999],
        "left": [],
        "next_before": None,
    }
    assert all(jm.get_job(i).retries == 1 for i in ids)


def test_cancel_and_delete_by_filter_go_in_batches_and_keep_the_other_jobs(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    ids = waiting_jobs(jm, "many", 7)
    others = waiting_jobs(jm, "few", 2)
    answers = until_done(jm, "cancel", {"topic": "many", "status": "new", "limit": 3})
    assert [(a["done"], a["skipped"]) for a in answers] == [(3, 0), (3, 0), (1, 0)]
    assert answers[0]["next_before"] == sorted(ids)[-3]  # newest first: the next batch is below the third
    assert all(jm.get_job(i).status is JobStatus.CANCELED for i in ids)
    assert recorded(jm, 7, "canceled", "many")
    answers = until_done(jm, "delete", {"topic": "many", "limit": 5})
    assert sum(a["done"] for a in answers) == 7 and len(answers) == 2
    for job_id in ids:
        with pytest.raises(JobNotFoundError):
            jm.get_job(job_id)
    assert all(jm.get_job(i).status is JobStatus.NEW for i in others)


def test_a_selection_that_changed_meanwhile_is_skipped_not_an_error(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    ids = waiting_jobs(jm, "moving", 4)
    jm.cancel_job(ids[0])  # canceled by someone else after the user selected it
    jm.delete_job(ids[1])  # and one deleted
    answer = jm.bulk_jobs("cancel", ids)
    assert (answer["done"], answer["skipped_ids"]) == (2, ids[:2])
    assert [jm.get_job(i).status for i in ids[2:]] == [JobStatus.CANCELED] * 2


def test_a_running_job_is_skipped_by_delete_and_retry(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    running = jm.create_job("slow", "!!fake.sleep seconds:5")
    assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE, timeout=15)
    for action in ("delete", "retry"):
        answer = jm.bulk_jobs(action, [running.job_id])
        assert (answer["done"], answer["skipped_ids"]) == (0, [running.job_id]), action
    jm.cancel_job(running.job_id)


def test_a_call_stops_at_its_time_and_says_where_to_go_on(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    ids = waiting_jobs(jm, "late", 3)
    answer = run_bulk(jm, "cancel", None, {"topic": "late"}, seconds=0.0)  # one job, then out of time
    assert (answer["done"], answer["next_before"]) == (1, max(ids))
    answer = run_bulk(jm, "cancel", sorted(ids), None, seconds=0.0)
    assert (answer["done"], answer["left"]) == (1, sorted(ids)[1:])


def test_a_filter_before_any_job_changes_nothing(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    ids = waiting_jobs(jm, "kept", 2)
    for before in (0, -5, 1):
        assert jm.bulk_jobs("cancel", filters={"topic": "kept", "before": before})["done"] == 0
    answer = jm.bulk_jobs("cancel", filters={"topic": "kept", "before": 2**63 - 1})  # past any id: from the newest
    assert answer["done"] == 2 and all(jm.get_job(i).status is JobStatus.CANCELED for i in ids)


@pytest.mark.parametrize(
    ("action", "ids", "filters", "message"),
    [
        ("explode", [1], None, "action: 'explode' must be one of retry, cancel, delete"),
        ("retry", None, None, "either as ids or as a filter"),
        ("retry", [1], {}, "either as ids or as a filter"),
        ("retry", [], None, "at least one"),
        ("retry", "1,2", None, "must be a list"),
        ("retry", [1, "2"], None, "'2' is not a job id"),
        ("retry", [1, True], None, "'True' is not a job id"),
        ("retry", [0], None, "'0' is not a job id"),
        ("retry", [2**63], None, "is not a job id"),
        ("retry", [1.5], None, "'1.5' is not a job id"),
        ("retry", list(range(1, BULK_BATCH + 2)), None, f"at most {BULK_BATCH} per call"),
        ("delete", None, {"colour": "red"}, "colour: unknown field"),
        ("delete", None, {"limit": 501}, "limit"),
        ("delete", None, {"limit": "5"}, "limit"),
        ("delete", None, {"status": "sleepy"}, "sleepy"),
        ("delete", None, [], "filter: must be an object"),
    ],
)
def test_hostile_input_is_refused_naming_the_field(
    agent: HeroAgent, action: str, ids: Any, filters: Any, message: str
) -> None:
    with pytest.raises(InvalidJobError, match=message.replace("(", r"\(")):
        agent.get_job_manager().bulk_jobs(action, ids, filters)


@pytest.mark.slow
def test_ten_thousand_jobs_go_in_batches_of_bounded_time(agent: HeroAgent) -> None:
    """10,000 matching jobs: 20 calls of 500, each well under the call's time limit; measured (-s shows it)."""
    jm = agent.get_job_manager()
    jm.pause_topic("flood", create=True)
    for _ in range(10):
        jm.create_jobs([{"topic": "flood", "params": "!!fake.return_success"}] * 1000)
    assert recorded(jm, 10_000, "new", "flood")
    for action, status, after in (("cancel", "new", "canceled"), ("retry", "canceled", "new"), ("delete", "", "")):
        started = time.monotonic()
        answers, longest = [], 0.0
        filters = {"topic": "flood", **({"status": status} if status else {})}
        while True:
            began = time.monotonic()
            answers.append(jm.bulk_jobs(action, filters=filters))
            longest = max(longest, time.monotonic() - began)
            if answers[-1]["next_before"] is None:
                break
            filters["before"] = answers[-1]["next_before"]
        total = time.monotonic() - started
        print(f"bulk {action} of 10,000: {len(answers)} calls, {total:.1f} s, longest call {longest:.2f} s")
        assert sum(a["done"] for a in answers) == 10_000 and not any(a["skipped"] for a in answers)
        assert len(answers) == 20 and longest < 10.0
        assert recorded(jm, 10_000, after, "flood") if after else recorded(jm, 0, "canceled", "flood")
