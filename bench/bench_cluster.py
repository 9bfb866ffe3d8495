"""How a Redis Cluster carries HeroAgent's jobs: Redis CPU per job on each primary, one HeroAgent and three.

    python bench/bench_cluster.py [-n 5000]

A cluster of three primaries (the bundled redis-server, `cluster-enabled yes`, no replicas) on 127.0.0.1.
Each HeroAgent (a process: `HeroAgent(config).start()` with `[redis] cluster = true`, its own key prefix,
its own history) creates `-n` jobs (`fake.return_success`, `create_jobs` by 1,000), runs them in its own
pool and waits until every one is done in its history. Rows: one HeroAgent alone, then three at once whose
prefixes hash to slots on three different primaries, then one HeroAgent with `[redis] partitions = 3` (a
prefix whose three partition slots are on three primaries; its jobs on a topic of each partition, round
robin). Printed per row: the wall time, and each primary's
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
topics = sys.argv[3].split(",")
with HeroAgent(load_config(sys.argv[1])) as agent:
    jm = agent.get_job_manager()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    ids = []
    for first in range(0, n, 1000):
        count = min(1000, n - first)
        specs = [{"topic": topics[k % len(topics)], "params": "!!fake.return_success"} for k in range(count)]
        made = jm.create_jobs(specs)
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


# A topic of each of three partitions (keys.topic_partition): "flow" 0, "local" 1, "gamma" 2.
PARTITION_TOPICS = ["flow", "local", "gamma"]


def run_row(cluster: ClusterSet, root: Path, prefixes: list[str], n: int, partitions: int = 1) -> None:
    agents = []
    topics = PARTITION_TOPICS[:partitions] if partitions > 1 else ["bench"]
    for prefix in prefixes:
        redis = {"url": cluster.url, "password": PASSWORD, "cluster": True, "key_prefix": prefix}
        config = make_config(
            root / prefix.rstrip(":"),
            redis={**redis, "partitions": partitions},
            webdav={"enabled": False},
            ui={"enabled": False},
            jobs={"topics": topics},
        )
        toml = root / prefix.rstrip(":") / "agent.toml"
        toml.parent.mkdir(parents=True, exist_ok=True)
        toml.write_text(to_toml(config))
        proc = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(toml), str(n), ",".join(topics)],
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
    shape = f", partitions = {partitions} (topics {', '.join(topics)})" if partitions > 1 else ""
    print(
        f"\n{len(prefixes)} HeroAgent(s) x {n} jobs{shape}: {total / wall:,.0f} jobs/s in all "
        f"({wall:.1f} s; each {took})"
    )
    print("| primary | serves a HeroAgent here | CPU µs per job (of the jobs it serves) | its ceiling jobs/s |")
    print("|---|---|---:|---:|")
    tags = [f"{prefix}hero{k or ''}" for prefix in prefixes for k in range(partitions)]
    for port, cpu in used.items():
        served = round(sum(1 for tag in tags if owner_of(cluster, tag) == port) * n / partitions)
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
        spread = next(
            p
            for p in (f"s{n}:" for n in range(1000))
            if len({owner_of(cluster, f"{p}hero{k or ''}") for k in range(3)}) == 3
        )
        run_row(cluster, root / "partitioned", [spread], args.n, partitions=3)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
