"""Webhooks: how fast the outbox empties, and what a hanging receiver costs the rest.

    python bench/bench_webhooks.py [-n 1000]

A server (jobs on, no HTTP, `webhook_allow_private = true`) runs in this process with two receivers on
127.0.0.1 (`http.server`, threaded, on two ports): `fast` answers 200 at once, `hang` never answers within
the attempt's timeout (5 s). Three runs of n jobs each, created in bulk:
- `plain`: no webhook (the job system alone);
- `fast`: every job has a `callback_url` to the fast receiver;
- `fast + hanging`: as `fast`, after n jobs whose callback_url hangs have ended (their deliveries wait).
For each: jobs/s until every job ended, and deliveries/s until the fast receiver had all n. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import free_port  # noqa: E402
from heroagent import HeroAgent  # noqa: E402
from heroagent.config import Config  # noqa: E402
from heroagent.jobs import keys  # noqa: E402


class Counting(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: set[str]
    lock: threading.Lock
    release: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/hang":
            self.release.wait(60)
        with self.lock:
            self.seen.add(self.headers.get("X-HeroAgent-Delivery", ""))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1000)
    n = parser.parse_args().n
    seen: set[str] = set()
    release = threading.Event()
    handler = type("H", (Counting,), {"seen": seen, "lock": threading.Lock(), "release": release})
    port, hang_port = free_port(), free_port()  # two receivers: one answers at once, one hangs
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", p), handler) for p in (port, hang_port)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="whb") as tmp:
        config = Config(data_dir=tmp)
        config.redis.tcp_port = free_port()
        config.webdav.enabled = config.ui.enabled = False
        config.scheduler.enabled = False
        config.jobs.webhook_allow_private = True
        config.jobs.webhook_timeout = 5.0
        with HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            hang_url = f"http://127.0.0.1:{hang_port}/hang"
            for name, url, hanging in [
                ("plain", None, False),
                ("fast", f"http://127.0.0.1:{port}/fast", False),
                ("fast + hanging", f"http://127.0.0.1:{port}/fast", True),
            ]:
                if hanging:  # their jobs end first: the outbox then holds n deliveries to a receiver that hangs
                    slow = {"topic": "slow", "params": "!!fake.return_success", "callback_url": hang_url}
                    for job in [
                        job for chunk in range(0, n, 500) for job in jm.create_jobs([slow] * min(500, n - chunk))
                    ]:
                        jm.wait_for_job(job.job_id, timeout=120)
                seen.clear()
                started = time.perf_counter()
                spec = {"topic": "bench", "params": "!!fake.return_success", **({"callback_url": url} if url else {})}
                made = [
                    job.job_id for chunk in range(0, n, 500) for job in jm.create_jobs([spec] * min(500, n - chunk))
                ]
                for job_id in made:
                    jm.wait_for_job(job_id, timeout=120)
                ended = time.perf_counter() - started
                wanted = {keys.webhook_member(i, jm.get_job(i).version) for i in made} if url else set()
                while url and not wanted <= seen:
                    time.sleep(0.01)
                delivered = time.perf_counter() - started
                line = f"{name:16} {n / ended:8.0f} jobs/s"
                if url:
                    after = delivered - ended
                    line += f"   {n / delivered:8.0f} deliveries/s (the last {after:.2f} s after the last job ended)"
                print(line, flush=True)
            release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
