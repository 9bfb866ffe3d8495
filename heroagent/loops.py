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

log = logging.getLogger(__name__)

BACKOFF_START = 0.1
BACKOFF_MAX = 5.0


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

    def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception as exc:
                self._failures += 1
                if not self._last_error:
                    self._failing_since = time.time()
                self._last_error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, self.expected):
                    log.warning(
                        "%s: %s (failure %d); retrying in %.1fs", self.name, self._last_error, self._failures, backoff
                    )
                else:
                    log.exception(
                        "%s: unexpected error (failure %d); retrying in %.1fs", self.name, self._failures, backoff
                    )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if self._last_error:
                log.warning("%s: recovered after %s", self.name, self._last_error)
                self._last_error, self._failing_since, backoff = "", 0.0, BACKOFF_START
            if self.interval:
                self._stopping.wait(self.interval)
