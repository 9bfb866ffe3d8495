"""The job history at scale: fill, start, memory, queries, retention and compaction, printed (never asserted).

    python bench/bench_history.py [-n 1000000] [--keep DIR]

`--keep DIR` keeps the filled history in DIR, and a later run with the same DIR starts from it (no
fill, no first start); retention and compaction change it, so such a run measures a smaller history.

Fills OurDB with N jobs of 3 versions each (new, active, done; every 100th ends in error; 7 topics,
5 circles, 3 tenants; the oldest 10% ended 40 days ago), straight through OurDB, then:
- the first server start on it builds the history's index (the one-off cost of a history written
  before the index existed, the same as `heroagent ourdb reindex`);
- a second start: the start time and the server's RSS, beside the same figures for an empty history;
- each query over HTTP (median of 5), beside the same server's static file as the in-run baseline;
- retention of the oldest 10% (`heroagent upkeep cleanup`), then a compaction, each while a client
  keeps reading the jobs list: how long each takes and the slowest list answer meanwhile.
The server runs in its own process, as `heroagent serve` does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._common import free_port, timed  # noqa: E402
from heroagent.client import JobClient  # noqa: E402
from heroagent.config import Config, load_config, to_toml  # noqa: E402
from heroagent.jobs.history.store import job_id_of  # noqa: E402
from heroagent.jobs.model import Job, JobStatus  # noqa: E402
from heroagent.ourdb import OurDB  # noqa: E402

SERVER = """
import os, sys, time
started = time.perf_counter()
from heroagent import HeroAgent, load_config
agent = HeroAgent(load_config(sys.argv[1]))
agent.start()
took = time.perf_counter() - started
rss = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print("ready", took, rss, flush=True)
sys.stdin.read()  # until the bench closes our stdin
agent.stop()
"""
BATCH = 10_000


def fill(path: Path, n: int) -> float:
    """N jobs, 3 versions each, written straight to OurDB (the index is built at the first start)."""
    started = time.perf_counter()
    now = time.time()
    with OurDB(path, fsync="batch", id_of=job_id_of) as db:  # type: ignore[arg-type]
        for start in range(0, n, BATCH):
            with db.batch():
                for i in range(start, min(n, start + BATCH)):
                    job_id = db.next_id
                    old = i < n // 10
                    ended = now - 40 * 86400 if old else now - 3600 + i / n * 3000
                    job = Job(
                        topic=f"topic{i % 7}",
                        params=f"!!fake.return_success message:m{job_id}",
                        job_id=job_id,
                        circle_id=f"c{i % 5}",
                        tenant_id=f"t{i % 3}",
                        time_created=ended - 2,
                        version=1,
                    )
                    db.insert_at(job.to_json(), job_id)
                    job.status, job.time_start, job.attempts, job.version = JobStatus.ACTIVE, ended - 1, 1, 2
                    db.set(job.to_json(), id=job_id)
                    if i % 100 == 0:
                        job.status, job.error = JobStatus.ERROR, f"failure number {job_id}"
                    else:
                        job.status, job.result = JobStatus.DONE, f"r{job_id}"
                    job.time_end, job.version = ended, 3
                    db.set(job.to_json(), id=job_id)
    return time.perf_counter() - started


class Server:
    def __init__(self, config_file: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEROAGENT_")}
        env["PYTHONPATH"] = str(HERE.parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(config_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"server did not start: {line}")
        self.start_seconds, self.rss_kib = float(line[1]), int(line[2])

    def rss_now(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def while_reading(url: str, work: Any) -> tuple[float, float, int]:
    """Run `work()` while a client reads `url` in a loop: (work seconds, slowest read, reads)."""
    stop = threading.Event()
    slowest = [0.0]
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            requests.get(url, timeout=600).raise_for_status()
            slowest[0] = max(slowest[0], time.perf_counter() - start)
            reads[0] += 1
            time.sleep(0.05)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.perf_counter()
    work()
    took = time.perf_counter() - started
    stop.set()
    thread.join(timeout=600)
    return took, slowest[0], reads[0]


def make_config(root: Path) -> Path:
    config = Config(data_dir=str(root))
    config.redis.tcp_port, config.ui.port = free_port(), free_port()
    config.webdav.enabled = False
    config.scheduler.compact_at = ""
    config_file = root / "heroagent.toml"
    config_file.write_text(to_toml(config))
    return config_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1_000_000, help="jobs in the history (default 1,000,000)")
    parser.add_argument("--keep", default="", help="keep (and reuse) the filled history in this folder")
    args = parser.parse_args()
    n = args.n
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ha-bench-history-"))
    root.mkdir(parents=True, exist_ok=True)
    reuse = bool(args.keep) and (root / "full" / "jobsdb").exists()
    try:
        empty_root = root / "empty"
        shutil.rmtree(empty_root, ignore_errors=True)
        empty_root.mkdir()
        empty = Server(make_config(empty_root))
        empty_figures = (empty.start_seconds, empty.rss_kib)
        empty.stop()

        full_root = root / "full"
        full_root.mkdir(exist_ok=True)
        config_file = make_config(full_root)
        if not reuse:
            took = fill(full_root / "jobsdb", n)
            size = sum(f.stat().st_size for f in (full_root / "jobsdb").glob("*.db"))
            print(
                f"filled {n:,} jobs x 3 versions in {took:.1f} s ({n / took:,.0f} jobs/s, {size / 1e9:.2f} GB of OurDB)"
            )
            first = Server(config_file)  # builds the index: a history from before it, or `ourdb reindex`
            print(
                f"first start (index built from the history): {first.start_seconds:.1f} s "
                f"({n / first.start_seconds:,.0f} jobs/s)"
            )
            first.stop()
        index = full_root / "jobsdb.index.sqlite"
        print(f"index size: {index.stat().st_size / 1e6:.0f} MB")

        server = Server(config_file)
        print(f"\nstart: {server.start_seconds:.2f} s with {n:,} jobs, {empty_figures[0]:.2f} s empty")
        print(
            f"RSS after start: {server.rss_kib / 1024:.0f} MiB with {n:,} jobs, {empty_figures[1] / 1024:.0f} MiB "
            f"empty ({server.rss_kib / empty_figures[1]:.2f}x)"
        )
        config = load_config(config_file)
        base = f"http://127.0.0.1:{config.ui.port}"
        mid = n // 2
        queries = [
            ("static file (baseline)", "/static/style.css"),
            ("newest page", "/api/jobs?limit=50"),
            ("status=error", "/api/jobs?status=error&limit=50"),
            ("topic=topic3", "/api/jobs?topic=topic3&limit=50"),
            ("circle_id=c2", "/api/jobs?circle_id=c2&limit=50"),
            ("tenant_id=t1", "/api/jobs?tenant_id=t1&limit=50"),
            ("status+topic", "/api/jobs?status=error&topic=topic3&limit=50"),
            (f"page at before={mid:,}", f"/api/jobs?before={mid}&limit=50"),
            ("counts by status and topic (/metrics)", "/metrics"),
            ("overview page (counts)", "/"),
            ("text: an id", f"/api/jobs?q={mid + 1}"),
            ("text: a word of the params", f"/api/jobs?q=m{mid + 7}"),
            ("text: a phrase", f'/api/jobs?q="failure number {(mid // 100) * 100 + 1}"'),
            ("text: a prefix with many hits", "/api/jobs?q=fail&limit=50"),
            ("text: no hit", "/api/jobs?q=no-such-text"),
            ("jobs page with a text filter", "/jobs?q=fail"),
        ]
        baseline = 0.0
        print("\n| query | median ms | x static file |\n|---|---:|---:|")
        for label, path in queries:
            seconds = timed(base + path)
            baseline = baseline or seconds
            print(f"| {label} | {seconds * 1000:.1f} | {seconds / baseline:.1f} |")

        client = JobClient.from_config(config, timeout=3600)
        reader = base + "/api/jobs?limit=50"
        result: dict[str, Any] = {}
        took, slowest, reads = while_reading(reader, lambda: result.update(client.cleanup_history(30)))
        print(
            f"\nretention of {result['jobs']:,} jobs (10%): {took:.1f} s; the jobs list meanwhile: "
            f"{reads} reads, slowest {slowest * 1000:.0f} ms"
        )
        summary: list[str] = []
        took, slowest, reads = while_reading(reader, lambda: summary.append(client.compact_history()))
        print(
            f"compaction: {took:.1f} s ({summary[0]}); the jobs list meanwhile: {reads} reads, "
            f"slowest {slowest * 1000:.0f} ms"
        )
        print(f"RSS at the end: {server.rss_now() / 1024:.0f} MiB")
        client.close()
        server.stop()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
