"""What every benchmark script shares."""

from __future__ import annotations

import socket
import statistics
import time

import requests


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(url: str, runs: int = 5, timeout: float = 300) -> float:
    """The median seconds of `runs` GETs of `url` (each must succeed)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        requests.get(url, timeout=timeout).raise_for_status()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
