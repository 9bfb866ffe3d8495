"""How a Redis Cluster carries HeroAgent's jobs: Redis CPU per job on each primary, one HeroAgent and three.

    python bench/bench_cluster.py [-n 5000]

A cluster of three primaries (the bundled redis-server, `cluster-enabled yes`, no replicas) on 127.0.0.1.
Each HeroAgent (a process: `HeroAgent(config).start()` with `[redis] cluster = true`, its own key prefix,
its own history) creates `-n` jobs (`fake.return_success`, `create_jobs` by 1,000), runs them in its own
pool and waits until every one is done in its history. Rows: one HeroAgent alone, then three at once whose
prefixes hash to slots on three different primaries. Printed per row: the wall time, and each primary's
CPU µs per job (from /proc) with the ceiling it sets (1 / that CPU: jobs/s one primary's core could carry).
Every key of one HeroAgent is in one slot, so its jobs load one primary only; figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench._cpu import process_cpu  # noqa: E402
from heroagent.config import to_toml  # noqa: E402
from heroagent.redis_cluster import slot_of  # noqa: E402
from tests.conftest import make_config  # noqa: E402
from tests.redis_server.test_cluster import PASSWORD, ClusterSet, _start_cluster  # noqa: E402

AGENT = """
import sys, time
from heroagent import HeroAgent
from heroagent.config import load_config
n = int(sys.argv[2])
with HeroAgent(load_config(sys.argv[1])) as agent:
    jm = agent.get_job_manager()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    ids = []
    for first in range(0, n, 1000):
        made = jm.create_jobs([{"topic": "bench", "params": "!!fake.return_success"}] * min(1000, n - first))
        ids += [job.job_id for job in made]
    for job_id in ids:
        assert jm.wait_for_job(job_id, timeout=300).status.value == "done"
    print(f"took {time.perf_counter() - start:.3f}", flush=True)
"""


def prefixes_on(cluster: ClusterSet, count: int) -> list[str]:
    """`count` key prefixes whose hash tags are served by `count` different primaries."""
    chosen: dict[int, str] = {}
    for n in range(1000):
        prefix = f"b{n}:"
        owner = owner_of(cluster, f"{prefix}hero")
        if owner not in chosen:
            chosen[owner] = prefix
        if len(chosen) == count:
            break
    return list(chosen.values())


def owner_of(cluster: ClusterSet, tag: str) -> int:
    slot = slot_of(tag)
    for start, end, primary, *_ in cluster.slots():
        if int(start) <= slot <= int(end):
            return int(primary[1])
    raise RuntimeError(f"no primary serves {tag}")


def run_row(cluster: ClusterSet, root: Path, prefixes: list[str], n: int) -> None:
    agents = []
    for prefix in prefixes:
        config = make_config(
            root / prefix.rstrip(":"),
            redis={"url": cluster.url, "password": PASSWORD, "cluster": True, "key_prefix": prefix},
            webdav={"enabled": False},
            ui={"enabled": False},
            jobs={"topics": ["bench"]},
        )
        toml = root / prefix.rstrip(":") / "agent.toml"
        toml.parent.mkdir(parents=True, exist_ok=True)
        toml.write_text(to_toml(config))
        proc = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(toml), str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE.parent,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        agents.append(proc)
    primaries = {port: cluster.servers[port].pid for port in cluster.primaries()}
    before = {port: process_cpu(pid) for port, pid in primaries.items()}
    start = time.perf_counter()
    for proc in agents:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    took = [proc.communicate(timeout=900)[0].split()[-1] for proc in agents]
    wall = time.perf_counter() - start
    used = {port: process_cpu(pid) - before[port] for port, pid in primaries.items()}
    total = n * len(prefixes)
    print(f"\n{len(prefixes)} HeroAgent(s) x {n} jobs: {total / wall:,.0f} jobs/s in all ({wall:.1f} s; each {took})")
    print("| primary | serves a HeroAgent here | CPU µs per job (of the jobs it serves) | its ceiling jobs/s |")
    print("|---|---|---:|---:|")
    for port, cpu in used.items():
        served = sum(1 for prefix in prefixes if owner_of(cluster, f"{prefix}hero") == port) * n
        per_job = cpu * 1e6 / served if served else 0.0
        if served:
            print(f"| {port} | yes | {per_job:,.0f} | {1e6 / per_job:,.0f} |")
        else:
            print(f"| {port} | no | - ({cpu * 1e3:.0f} ms of CPU over the whole run) | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="jobs per HeroAgent (default 5000)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = _start_cluster(root / "nodes", replicas=0)
    try:
        prefixes = prefixes_on(cluster, 3)
        run_row(cluster, root / "one", prefixes[:1], args.n)
        run_row(cluster, root / "three", prefixes, args.n)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
