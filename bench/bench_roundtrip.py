"""Submit-and-wait from another process, one job at a time: the run-and-await path a CLI or a web app takes.

    python bench/bench_roundtrip.py [-n 300] [--appendfsync always]

A server (jobs on, no HTTP) runs in this process; a second process creates a no-op job with JobClient and
waits until it ended (`wait_for_job`, woken by the message the finishing script publishes), N times in a row.
comparison the same process also times the waiting alone as the 0.2 s poll loop did before (the old
JobClient.wait_for_job), on the same jobs. Figures are printed, never asserted.
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
from heroagent.config import Config, to_toml  # noqa: E402

CLIENT = """
import json, sys, time
from heroagent import load_config
from heroagent.client import JobClient
client = JobClient.from_config(load_config(sys.argv[1]))
n, mode = int(sys.argv[2]), sys.argv[3]
samples = []
for _ in range(n):
    started = time.perf_counter()
    job = client.create_job("bench", "!!fake.return_success")
    if mode == "push":
        client.wait_for_job(job.job_id, timeout=30)
    else:  # the 0.2 s poll loop JobClient used before
        while not client.get_job(job.job_id).terminal or not client.get_history(job.job_id)[-1].terminal:
            time.sleep(0.2)
    samples.append((time.perf_counter() - started) * 1000)
print(json.dumps(samples))
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--appendfsync", choices=("everysec", "always"), default="everysec")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ha-bench-") as tmp:
        config = Config(data_dir=tmp)
        config.redis.tcp_port = free_port()
        config.redis.appendfsync = args.appendfsync
        config.webdav.enabled = config.ui.enabled = False
        config.scheduler.enabled = False
        config_file = Path(tmp) / "c.toml"
        config_file.write_text(to_toml(config))
        with HeroAgent(config):
            for mode, n in (("push", args.n), ("poll", max(20, args.n // 10))):
                out = subprocess.run(
                    [sys.executable, "-c", CLIENT, str(config_file), str(n), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={"PYTHONPATH": str(ROOT)},
                )
                ms = json.loads(out.stdout)
                print(
                    f"appendfsync {args.appendfsync}, {mode:4}: n={len(ms)} p50 {percentile(ms, 50):.2f} ms, "
                    f"p90 {percentile(ms, 90):.2f}, p99 {percentile(ms, 99):.2f}, max {max(ms):.2f}"
                )


if __name__ == "__main__":
    main()
