"""Slowing down password guessing: per client address, consecutive failures and when the next try may come.

Shared by the dashboard's login, the API's bearer token and the WebDAV share's logins: after
`FREE_FAILURES` wrong tries in a row, each further try must wait 1, 2, 4 ... up to 60 seconds; a right
one clears the address.
"""

from __future__ import annotations

import math
import threading
import time

FREE_FAILURES = 3  # wrong tries allowed before the waits start
MAX_WAIT = 60.0
MAX_ADDRESSES = 10_000
FORGET_AFTER = 600.0  # seconds without a failure after which a key's count starts again


class FailureThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def wait_needed(self, client: str, now: float | None = None) -> float:
        """Seconds before `client` may try again (0 = now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            _, allowed_at = self._failures.get(client, (0, 0.0))
        return max(0.0, allowed_at - now)

    def failed(self, client: str, free: int = FREE_FAILURES) -> float:
        """Record a failure; return how long the next attempt must wait. After FORGET_AFTER seconds with
        no failure the count starts again (a key nobody clears, such as all addresses together)."""
        now = time.monotonic()
        with self._lock:
            count, allowed_at = self._failures.get(client, (0, 0.0))
            if now - allowed_at > FORGET_AFTER:
                count = 0
            count += 1
            wait = 0.0 if count < free else min(MAX_WAIT, 2.0 ** (count - free))
            self._failures[client] = (count, now + wait)
            if len(self._failures) > MAX_ADDRESSES:  # many addresses: forget the oldest rather than grow
                self._failures.pop(next(iter(self._failures)))
        return wait

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def seconds_text(wait: float) -> str:
    """ "1 second", "5 seconds": how long to wait, as a person reads it (whole seconds, rounded up)."""
    whole = max(1, math.ceil(wait))
    return f"{whole} second" if whole == 1 else f"{whole} seconds"
