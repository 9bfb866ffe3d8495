"""One helper for every background loop: a thread that runs a step again and again and survives it.

A step that raises something unexpected is logged with its traceback and counted, the loop waits
(0.1 s doubling to 5 s) and goes on; until a step succeeds again the loop reports itself degraded with
the error, which is what health shows. A step that only waits for work (a blocking read) returns
normally, so the interval between steps can be zero.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from heroagent.threadnames import name_this_thread

log = logging.getLogger(__name__)

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
LOG_EVERY = 60.0  # seconds: a fault class logged again within them is counted, not logged


@dataclass(frozen=True)
class LoopState:
    """What health reports for one loop."""

    name: str
    running: bool
    failures: int  # unexpected exceptions since start
    last_error: str  # '' while the loop is healthy
    failing_since: float  # unix seconds of the first failure in the current run of failures; 0 = healthy

    @property
    def degraded(self) -> bool:
        return bool(self.last_error)


class SupervisedLoop:
    """`step()` every `interval` seconds in a daemon thread named `heroagent-<name>`, until `stop()`."""

    def __init__(
        self,
        name: str,
        step: Callable[[], object],
        interval: float = 0.0,
        *,
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.name = name
        self.step = step
        self.interval = interval
        # Errors that say something the loop needs is away (Redis, for the job system's loops): counted and
        # reported as any other, but logged as one line, not a traceback at every retry of an outage.
        self.expected = expected
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self._last_error = ""
        self._logged: dict[str, tuple[float, int]] = {}  # fault class -> (when last logged, repeats since)
        self._failing_since = 0.0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"heroagent-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to stop without waiting: a service stopping several loops asks them all first,
        so their last steps end together and the stop takes the longest of them, not their sum."""
        self._stopping.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to stop and wait for its current step to end (at most `timeout` seconds)."""
        self.request_stop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopping(self) -> threading.Event:
        """Set once `stop()` was called: a long step can check it."""
        return self._stopping

    def state(self) -> LoopState:
        running = self._thread is not None and self._thread.is_alive()
        return LoopState(self.name, running, self._failures, self._last_error, self._failing_since)

    def _log_failure(self, exc: Exception, backoff: float) -> None:
        """One log line per fault class a minute: the first of a kind with its traceback (unless it is an
        expected one, such as Redis away), its repeats within LOG_EVERY seconds counted, not logged (a
        full disk made 54 tracebacks in 20 s)."""
        kind = type(exc).__name__
        now = time.monotonic()
        last = self._logged.get(kind)
        if last is not None and now - last[0] < LOG_EVERY:
            self._logged[kind] = (last[0], last[1] + 1)
            return
        repeats = last[1] if last is not None else 0
        self._logged[kind] = (now, 0)
        also = f"; {repeats} more like it since the last line" if repeats else ""
        if isinstance(exc, self.expected) or last is not None:
            log.warning(
                "%s: %s (failure %d%s); retrying in %.1fs", self.name, self._last_error, self._failures, also, backoff
            )
        else:
            log.exception("%s: unexpected error (failure %d); retrying in %.1fs", self.name, self._failures, backoff)

    def _run(self) -> None:
        name_this_thread()
        backoff = BACKOFF_START
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception as exc:
                self._failures += 1
                if not self._last_error:
                    self._failing_since = time.time()
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._log_failure(exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if self._last_error:
                log.warning("%s: recovered after %s", self.name, self._last_error)
                self._last_error, self._failing_since, backoff = "", 0.0, BACKOFF_START
            if self.interval:
                self._stopping.wait(self.interval)
