"""Where Redis's time per job goes, script by script (issue 27, item 2: "measure each script's cost").

    python bench/bench_scripts.py [-n 2000] [--bulk]

One embedded HeroAgent (its Redis, its pool of 4 threads, its recorder). SLOWLOG is set to log every
command (`slowlog-log-slower-than 0`) with room for all of them; `-n` jobs (`fake.return_success`) are
created one by one from a JobClient in this process (or by 1,000 with `--bulk`) and waited for until every
one is recorded. Then each logged command is named (an EVALSHA by the script whose SHA it called) and
summed: calls per job, µs per call and µs per job of Redis's own execution time (SLOWLOG's figure: the
command alone, not the reading and writing of its socket). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from hashlib import sha1
from importlib import resources
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from heroagent import HeroAgent  # noqa: E402
from heroagent.client import JobClient  # noqa: E402
from heroagent.jobs import keys  # noqa: E402
from heroagent.jobs.live import scripts  # noqa: E402
from tests.conftest import make_config  # noqa: E402

SLOWLOG_ROOM = 1_000_000


def script_names(layout: keys.KeyLayout) -> dict[str, str]:
    """SHA -> script name, for every script of the live wing in `layout`."""
    folder = resources.files("heroagent.jobs.live").joinpath("lua")
    names = [p.name.removesuffix(".lua") for p in folder.iterdir() if p.name.endswith(".lua")]
    found = {}
    for name in names:
        if name == "common":
            continue
        found[sha1(scripts.source(name, layout).encode()).hexdigest()] = name
    return found


def command_name(args: list[Any], shas: dict[str, str]) -> str:
    words = [a.decode(errors="replace") if isinstance(a, bytes) else str(a) for a in args[:2]]
    head = words[0].upper()
    if head in ("EVALSHA", "EVALSHA_RO") and len(words) > 1:
        return f"script {shas.get(words[1], words[1][:8])}"
    return head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--bulk", action="store_true", help="create by 1,000 (create_jobs)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bs-"))
    config = make_config(root, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 4})
    with HeroAgent(config) as agent:
        assert agent.redis is not None
        admin: Any = agent.redis.client()
        client = JobClient(agent.redis.url)
        jm = agent.get_job_manager()
        client.create_job("warm", "!!fake.return_success")  # the scripts loaded, the pool idle
        time.sleep(1.0)
        admin.config_set("slowlog-max-len", SLOWLOG_ROOM)
        admin.config_set("slowlog-log-slower-than", 0)
        admin.slowlog_reset()
        if args.bulk:
            ids = []
            for first in range(0, args.n, 1000):
                specs = [{"topic": "bench", "params": "!!fake.return_success"}] * min(1000, args.n - first)
                ids += [job.job_id for job in client.create_jobs(specs)]
        else:
            ids = [client.create_job("bench", "!!fake.return_success").job_id for _ in range(args.n)]
        for job_id in ids:
            jm.wait_for_job(job_id, timeout=120)
        while int(admin.xlen(jm.layout.EVENTS)):
            time.sleep(0.05)
        admin.config_set("slowlog-log-slower-than", 10000)
        entries: Any = admin.slowlog_get(SLOWLOG_ROOM)
        client.close()
    shas = script_names(keys.KeyLayout())
    top: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # name -> [calls, µs]: what clients sent
    inner: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # the commands the scripts ran (inside them)
    for entry in entries:
        words = entry["command"].split() if isinstance(entry["command"], bytes) else []
        inside = entry.get("client_address") in (b"?:0", "?:0")
        counts = (inner if inside else top)[command_name(words, shas)]
        counts[0] += 1
        counts[1] += int(entry["duration"])
    n = len(ids)
    total = sum(micros for _, micros in top.values())
    mode = "bulk (by 1,000)" if args.bulk else "one by one"
    print(f"{n} jobs, {mode}: Redis execution time {total / n:.1f} µs per job (commands clients sent, scripts whole)")
    table(top, n, total)
    inside_total = sum(micros for _, micros in inner.values())
    print(f"\ninside the scripts: {inside_total / n:.1f} µs per job of the commands they ran; the rest of a script's")
    print("time is Lua itself (argument unpacking, tables, cjson, string building)")
    table(inner, n, inside_total)


def table(found: dict[str, list[int]], n: int, total: int) -> None:
    print("| command | calls per job | µs per call | µs per job | share |")
    print("|---|---:|---:|---:|---:|")
    for name, (calls, micros) in sorted(found.items(), key=lambda item: -item[1][1]):
        if micros * 200 < total:
            continue  # under 0.5%
        share = 100 * micros / max(1, total)
        print(f"| {name} | {calls / n:.2f} | {micros / calls:.1f} | {micros / n:.1f} | {share:.0f}% |")


if __name__ == "__main__":
    main()
