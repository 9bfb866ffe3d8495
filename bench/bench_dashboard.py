"""The dashboard with a large history: start time and page times, printed (never asserted).

    python bench/bench_dashboard.py [-n 100000]

Fills OurDB with N finished jobs, starts HeroAgent on it (which builds the history index once), then
times each page and API call (median of 5) over HTTP on 127.0.0.1. The same server's static
stylesheet is timed alongside as the in-run baseline, so the ratios say what the pages cost beyond
serving a file on this (shared, noisy) machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._common import free_port, timed  # noqa: E402
from bench.history_fill import fill_history  # noqa: E402
from heroagent import HeroAgent  # noqa: E402
from heroagent.config import Config  # noqa: E402

PATHS = [
    ("static file (baseline)", "/static/style.css"),
    ("overview", "/"),
    ("jobs, newest page", "/jobs"),
    ("jobs, status=error", "/jobs?status=error"),
    ("jobs, status+topic", "/jobs?status=error&topic=topic3"),
    ("jobs, page 100 (before=)", "/jobs?before=95000"),
    ("jobs, text hit (newest)", "/jobs?q=m99990"),
    ("jobs, text hit (oldest)", "/jobs?q=failure+number+100"),
    ("jobs, text miss", "/jobs?q=no-such-text"),
    ("API list", "/api/jobs?limit=100"),
    ("metrics", "/metrics"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100_000, help="jobs in the history")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ha-bench-"))
    try:
        config = Config(data_dir=str(root))
        config.redis.tcp_port, config.ui.port = free_port(), free_port()
        config.webdav.enabled = False
        start = time.perf_counter()
        fill_history(config.jobs_db_path, args.n)
        print(f"filled {args.n:,} jobs in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        with HeroAgent(config) as agent:
            print(f"agent started (history index built) in {time.perf_counter() - start:.2f} s")
            base = agent.ui.url.rstrip("/") if agent.ui else ""
            baseline = 0.0
            print("\n| request | median ms | x static file |\n|---|---:|---:|")
            for label, path in PATHS:
                seconds = timed(base + path, timeout=120)
                baseline = baseline or seconds
                print(f"| {label} | {seconds * 1000:.1f} | {seconds / baseline:.1f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
