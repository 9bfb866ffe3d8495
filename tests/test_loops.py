"""The supervised-loop helper every background loop runs on: it survives its step's exceptions."""

from __future__ import annotations

import logging
import threading

import pytest

from heroagent.loops import SupervisedLoop
from tests.conftest import wait_until


def test_a_failing_step_is_retried_reported_and_recovers() -> None:
    calls: list[int] = []
    healthy = threading.Event()

    def step() -> None:
        calls.append(1)
        if not healthy.is_set():
            raise OSError(28, "No space left on device")

    loop = SupervisedLoop("demo", step, interval=0.01)
    loop.start()
    try:
        assert wait_until(lambda: loop.state().failures >= 2, timeout=5)  # retried after a backoff
        state = loop.state()
        assert state.running and state.degraded and "No space left" in state.last_error and state.failing_since
        healthy.set()
        assert wait_until(lambda: not loop.state().degraded, timeout=5)
        before = len(calls)
        assert wait_until(lambda: len(calls) > before + 3, timeout=5)  # and it goes on stepping
    finally:
        loop.stop()
    assert not loop.state().running
    assert not any(t.name == "heroagent-demo" for t in threading.enumerate())


def test_request_stop_asks_without_waiting_and_stop_waits_for_the_step() -> None:
    """A service asks all its loops first, then waits for each: their last steps end together."""
    entered, release = threading.Event(), threading.Event()

    def step() -> None:
        entered.set()
        release.wait(10)

    loop = SupervisedLoop("slow", step)
    loop.start()
    assert entered.wait(5)
    loop.request_stop()
    assert loop.stopping.is_set() and loop.state().running  # returned while the step still runs
    release.set()
    loop.stop()
    assert not loop.state().running
    assert not any(t.name == "heroagent-slow" for t in threading.enumerate())


def test_an_expected_error_is_one_line_and_still_degrades(caplog: pytest.LogCaptureFixture) -> None:
    """An outage of what the loop needs (Redis, for the job system) is logged without a traceback at
    each retry; it is counted and shown as degraded as any other error. Others keep their traceback."""
    errors: list[BaseException] = [ConnectionError("Redis is away"), ConnectionError("still away"), KeyError("bug")]

    def step() -> None:
        if errors:
            raise errors.pop(0)

    loop = SupervisedLoop("away", step, interval=0.01, expected=(ConnectionError,))
    with caplog.at_level(logging.WARNING, logger="heroagent.loops"):
        loop.start()
        try:
            assert wait_until(lambda: not errors and not loop.state().degraded, timeout=10)
        finally:
            loop.stop()
    failed = [r for r in caplog.records if "failure" in r.getMessage()]
    assert [r.exc_info is None for r in failed] == [True, False]  # the second outage line: counted, not logged
    assert "away: ConnectionError: Redis is away (failure 1)" in failed[0].getMessage()
    assert loop.state().failures == 3


def test_a_fault_repeated_is_one_log_line_a_minute_not_one_per_retry(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 31, item 9: a full disk logged 54 tracebacks in 20 s."""
    import heroagent.loops as loops

    def step() -> None:
        raise OSError(28, "No space left on device")

    loop = SupervisedLoop("full", step, interval=0.01)
    original = loops.BACKOFF_MAX
    loops.BACKOFF_MAX = 0.01  # retry at once: many failures in a moment
    with caplog.at_level(logging.WARNING, logger="heroagent.loops"):
        loop.start()
        try:
            assert wait_until(lambda: loop.state().failures >= 30, timeout=10)
        finally:
            loop.stop()
            loops.BACKOFF_MAX = original
    lines = [r for r in caplog.records if r.name == "heroagent.loops" and "full" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is not None, [r.getMessage() for r in lines]
    assert loop.state().failures >= 30 and "No space left" in loop.state().last_error
