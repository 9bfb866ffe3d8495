"""The API's submit path under 20 concurrent clients: POST /api/jobs against the same server's GET /api/health.

    python bench/bench_api.py [--clients 20] [--seconds 5] [--jobs-not-run] [--unrecorded] [--worker-processes N]

A server (dashboard + jobs, no WebDAV) runs in this process; the clients run in another process (so they
do not share this one's GIL), each a keep-alive session sending one request after another. Printed per
kind: requests/s, p50, p99 and max in ms, and POST's rate as a ratio of health's in the same run.
Figures are printed, never asserted. Upper bounds (bench_bounds.py runs them): `--jobs-not-run`, the
server's pool runs another topic (the jobs are created and recorded, never run); `--unrecorded`, the
recorder writes nothing (bench/_serve_unrecorded.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import free_port  # noqa: E402
from heroagent import HeroAgent  # noqa: E402
from heroagent.config import Config  # noqa: E402

LOAD = """
import json, sys, threading, time
import requests
url, kind, clients, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
samples, lock = [], threading.Lock()
stop = time.monotonic() + seconds
def client():
    session = requests.Session()
    while time.monotonic() < stop:
        started = time.perf_counter()
        if kind == "health":
            session.get(url + "/api/health")
        else:
            session.post(url + "/api/jobs", json={"topic": "bench", "params": "!!fake.return_success"})
        with lock:
            samples.append((time.perf_counter() - started) * 1000)
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(samples))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--jobs-not-run", action="store_true", help="bound: the server's pool runs another topic")
    parser.add_argument("--unrecorded", action="store_true", help="bound: the recorder writes nothing")
    parser.add_argument(
        "--worker-processes", type=int, default=0, help="[jobs] worker_processes: the pool in child processes"
    )
    args = parser.parse_args()
    if args.unrecorded:
        from bench._serve_unrecorded import leave_out_history_writes

        leave_out_history_writes()
    with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
        config = Config(data_dir=tmp)
        config.redis.tcp_port, config.ui.port = free_port(), free_port()
        config.webdav.enabled = config.scheduler.enabled = False
        config.jobs.worker_processes = args.worker_processes
        if args.jobs_not_run:
            config.jobs.topics = ["not-bench"]  # jobs are created and recorded, and wait in their queue
        with HeroAgent(config) as agent:
            assert agent.ui is not None
            url = agent.ui.url.rstrip("/")
            rates = {}
            for kind in ("health", "post", "health"):
                out = subprocess.run(
                    [sys.executable, "-c", LOAD, url, kind, str(args.clients), str(args.seconds)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                ms = sorted(json.loads(out.stdout))
                rate = len(ms) / args.seconds
                rates[kind] = rate
                print(
                    f"{kind:6} {args.clients} clients: {rate:7.0f} req/s, p50 {ms[len(ms) // 2]:.1f} ms, "
                    f"p99 {ms[int(len(ms) * 0.99)]:.1f} ms, max {ms[-1]:.1f} ms"
                )
            print(f"POST /api/jobs rate / GET /api/health rate: {rates['post'] / rates['health']:.2f}")


if __name__ == "__main__":
    main()
