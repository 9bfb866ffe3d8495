"""End-to-end job throughput, like for like: HeroAgent against huey, dramatiq, rq and a bare floor.

    pip install -e '.[bench]' && python bench/bench_jobs.py [-n 5000] [--rounds 3]

Every system gets the same producer (bench/_producer.py: one process, one documented call per job, in a
loop), the same job body (one Redis INCR, bench/_peer_tasks.py), the same Redis (the embedded one of a
`heroagent serve` started here) and the same stop rule: the clock runs from the producer's first call
until the body has run N times; for HeroAgent also until every job's final state is in the OurDB
history (no job hash left in Redis, the events stream empty). Runs are interleaved over rounds and the
median is reported. Bulk creation (1000 per call, where a system has such a call) has its own rows.
A paced run (100 jobs/s) gives submit->start latency. Figures are printed, never asserted.

CPU per job by role (bench/_cpu.py, from /proc; µs of user + system time over the run divided by N):
`producer` (the producing process, after its imports), `redis` (the redis-server), `server` (the `heroagent
serve` process, less the two below; for the peers it only hosts Redis and is left out), `recorder` (the
server's recorder thread), `pool` (the server's own worker threads), `workers` (the worker processes and
their children: huey's, dramatiq's, rq's, `heroagent worker`), the total, and the fleet ceiling: 1 / Redis
CPU per job, the jobs/s one Redis core could serve whatever the number of worker machines.

Systems: `floor` (LPUSH, 2 processes BRPOP + the body), `huey-proc-2` (RedisHuey, -k process -w 2),
`huey-thread-8` (-k thread -w 8), `dramatiq` (2 processes x 8 threads), `rq` (2 SimpleWorker processes),
`heroagent` (`heroagent serve`, its worker pool of [jobs] worker_count threads, JobClient.create_job
from the producer process), `heroagent+worker` (the same plus one `heroagent worker` process),
`heroagent+2workers` (the shape of huey's two worker processes: the server's own pool drained, so the
server only records the history, and two `heroagent worker` processes run the jobs), `heroagent+worker-p2`
(the same shape from one command: `heroagent worker --processes 2`, the server's pool drained), `heroagent-embedded`
(the producer runs `HeroAgent(config).start()` itself, with its own Redis and history, and creates with
`jm.create_job`: server, recorder and pool share the producer's process; its CPU is all "producer", its
Redis's is "redis", and the run ends when its own history has every job).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench._common import free_port  # noqa: E402
from bench._cpu import child_named, process_cpu, thread_cpu, tree_cpu  # noqa: E402
from heroagent.config import Config, to_toml  # noqa: E402

ONE_BY_ONE = [
    "floor",
    "huey-proc-2",
    "huey-thread-8",
    "dramatiq",
    "rq",
    "heroagent",
    "heroagent+worker",
    "heroagent+2workers",
    "heroagent+worker-p2",
    "heroagent-embedded",
    "heroagent+prio",
    "heroagent+limits",
    "heroagent+nooverlap",
]
# The flow-control variants of `heroagent`, to price them on the hot path as ratios against it in the
# same run: each job a priority 0-9 in turn; the topic limited (max_running and rate set high enough
# never to bind, so only their bookkeeping is measured); each job its own no-overlap key (a lock per job).
BULK = ["floor", "rq", "heroagent", "heroagent+worker", "heroagent+2workers", "heroagent-embedded"]
PACED = ["floor", "huey-proc-2", "heroagent", "heroagent+2workers"]


@dataclass
class Figures:
    e2e: list[float] = field(default_factory=list)  # jobs/s, producer's first call -> N bodies run (+ history)
    submit: list[float] = field(default_factory=list)  # jobs/s the producer's calls returned
    latency: list[float] = field(default_factory=list)  # seconds, submit -> body started (paced runs)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # role -> µs of CPU per job, per run


ROLES = ("producer", "redis", "server", "recorder", "pool", "workers")


class Bench:
    def __init__(self, workdir: Path, worker_count: int, serve_module: str = "heroagent") -> None:
        """Start `python -m <serve_module> serve` (bench_bounds.py passes a variant) on its own Redis."""
        self.workdir = workdir
        config = Config(data_dir=str(workdir / "heroagent"))
        config.redis.tcp_port = free_port()
        config.webdav.enabled = config.ui.enabled = config.scheduler.enabled = False
        config.jobs.topics = ["bench"]
        config.jobs.modules = ["bench._peer_tasks"]
        if worker_count:
            config.jobs.worker_count = worker_count
        config.redis.password = secrets.token_urlsafe(16)  # known before start: the server's actors need the URL
        self.config = config
        self.url = f"redis://:{config.redis.password}@127.0.0.1:{config.redis.tcp_port}/0"
        (workdir / "heroagent.toml").write_text(to_toml(config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HEROAGENT_")}
        self.env["PYTHONPATH"] = str(REPO)
        self.env["BENCH_REDIS_URL"] = self.url
        self.server = subprocess.Popen(
            [sys.executable, "-m", serve_module, "serve", "--config", str(workdir / "heroagent.toml")],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.server.stdout is not None
        while "Press Ctrl-C" not in (line := self.server.stdout.readline()):
            if not line and self.server.poll() is not None:
                raise SystemExit("heroagent serve did not start")
        self.env["PYTHONPATH"] = str(REPO)
        self.env["BENCH_REDIS_URL"] = self.url
        self.redis = redis.Redis.from_url(self.url)

    def close(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=60)

    def workers(self, system: str) -> list[subprocess.Popen[bytes]]:
        py = sys.executable
        huey = [py, "-m", "huey.bin.huey_consumer", "bench._peer_tasks.huey"]
        hero_worker = [
            py,
            "-m",
            "heroagent",
            "worker",
            "--redis",
            self.url,
            "--topics",
            "bench",
            "--module",
            "bench._peer_tasks",
        ]
        commands = {
            "floor": [[py, str(HERE / "_floor_worker.py")]] * 2,
            "huey-proc-2": [[*huey, "-w", "2", "-k", "process"]],
            "huey-thread-8": [[*huey, "-w", "8", "-k", "thread"]],
            "dramatiq": [[py, "-m", "dramatiq", "bench._peer_tasks", "--processes", "2", "--threads", "8"]],
            "rq": [[py, "-m", "rq.cli", "worker", "--url", self.url, "-w", "rq.worker.SimpleWorker", "bench-rq"]] * 2,
            "heroagent": [],
            "heroagent+prio": [],
            "heroagent+limits": [],
            "heroagent+nooverlap": [],
            "heroagent+worker": [hero_worker],
            "heroagent+2workers": [hero_worker] * 2,
            "heroagent+worker-p2": [[*hero_worker, "--processes", "2"]],
            "heroagent-embedded": [],
        }
        if system in ("heroagent+2workers", "heroagent+worker-p2"):
            self.set_server_pool("drained")
        procs = [
            subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for cmd in commands[system]
        ]
        if procs:
            time.sleep(2.5)  # the workers are up and waiting
        return procs

    def cpu_now(self, procs: list[subprocess.Popen[bytes]]) -> dict[str, float]:
        """Seconds of CPU so far, by role (the producer's comes from its own lines)."""
        redis_pid = child_named(self.server.pid, "redis-server")
        server = process_cpu(self.server.pid)
        recorder = thread_cpu(self.server.pid, "heroagent-recorder")
        pool = thread_cpu(self.server.pid, "heroagent-worker")
        return {
            "redis": process_cpu(redis_pid) if redis_pid else 0.0,
            "server": server - recorder - pool,
            "recorder": recorder,
            "pool": pool,
            "workers": sum(tree_cpu(p.pid) for p in procs),
        }

    def run(self, system: str, mode: str, n: int, name: str) -> tuple[float, float, list[float], dict[str, float]]:
        """One run: (end-to-end jobs/s, submit calls/s, latencies, µs of CPU per job by role)."""
        self.redis.delete(f"bench:{name}:done", f"bench:{name}:latency")
        from heroagent.client import JobClient

        limits = JobClient(self.url)
        if system == "heroagent+limits":
            limits.set_topic_limits("bench", max_running=100_000, rate="9999999/minute")
        procs = self.workers(system)
        try:
            producer = subprocess.Popen(
                [sys.executable, str(HERE / "_producer.py"), system, name, str(n), mode, self.url],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert producer.stdout is not None
            before = self.cpu_now(procs)
            _, started_text, producer_cpu_start = producer.stdout.readline().split()
            started = float(started_text)
            hero = system.startswith("heroagent")
            embedded = system == "heroagent-embedded"  # its history is its own: it says when that has all
            deadline = time.monotonic() + 900
            quiet, last_done = time.monotonic() + 60, 0
            while True:
                done = int(self.redis.get(f"bench:{name}:done") or 0)
                if done >= n and (not hero or embedded or self.history_caught_up()):
                    finished = time.time()
                    break
                if time.monotonic() > deadline or (producer.poll() is not None and time.monotonic() > quiet):
                    raise SystemExit(f"{system} {mode}: only {done} of {n} job bodies ran")
                if producer.poll() is None or done > last_done:
                    quiet, last_done = time.monotonic() + 60, done  # give up 60 s after progress stopped
                time.sleep(0.002)
            after = self.cpu_now(procs)
            _, ended_text, producer_cpu_end = producer.stdout.readline().split()
            ended = float(ended_text)
            embedded_redis = 0.0
            if embedded:
                _, recorded_at, producer_cpu_end = producer.stdout.readline().split()  # "recorded <t> <cpu>"
                finished = max(finished, float(recorded_at))
                embedded_redis = float(producer.stdout.readline().split()[1])  # "redis-cpu <seconds>"
            producer.wait(timeout=60)
            latencies = [float(x) for x in self.redis.lrange(f"bench:{name}:latency", 0, -1)]  # type: ignore[union-attr]
            cpu = {role: (after[role] - before[role]) * 1e6 / n for role in after}
            cpu["producer"] = (float(producer_cpu_end) - float(producer_cpu_start)) * 1e6 / n
            if not hero or embedded:  # the serve process only hosts the Redis the peers use
                cpu["server"] = cpu["recorder"] = cpu["pool"] = 0.0
            if embedded:  # its Redis is its own (its CPU since start: startup is a few ms of it)
                cpu["redis"] = embedded_redis * 1e6 / n
            return n / (finished - started), n / (ended - started), latencies, cpu
        finally:
            if system == "heroagent+limits":
                limits.set_topic_limits("bench")
            limits.close()
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if system in ("heroagent+2workers", "heroagent+worker-p2"):
                self.set_server_pool("serving")

    def set_server_pool(self, state: str) -> None:
        """Drain the server's own worker pool ("drained": it claims nothing) or let it serve again, and
        wait until it says so (a pool sees this at its next heartbeat)."""
        from heroagent.jobs.keys import KeyLayout
        from heroagent.jobs.live.workers import list_workers, set_draining

        layout = KeyLayout()  # the benchmark's server runs with no key prefix
        pools = [w for w in list_workers(self.redis, layout) if w.get("pid") == str(self.server.pid)]
        if not pools:
            raise SystemExit("the server's worker pool is not in the workers list")
        for pool in pools:
            set_draining(self.redis, layout, pool["id"], state == "drained")
        deadline = time.monotonic() + 30
        pid = str(self.server.pid)
        while {w.get("state") for w in list_workers(self.redis, layout) if w.get("pid") == pid} != {state}:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server's worker pool did not become {state}")
            time.sleep(0.1)

    def history_caught_up(self) -> bool:
        """Every HeroAgent job's final state is in the history: no job hash left, no event unrecorded."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen("hero:jobtopic")
        pipe.xlen("hero:events")
        hashes, events = pipe.execute()
        return int(hashes) == 0 and int(events) == 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="jobs per run (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--paced-n", type=int, default=500, help="jobs of the 100/s latency run (default 500)")
    parser.add_argument("--workers", type=int, default=0, help="HeroAgent worker threads (default: [jobs]'s)")
    parser.add_argument("--only", default="", help="comma list of systems to run (default: all)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    workdir = Path(tempfile.mkdtemp(prefix="ha-bench-"))
    bench = Bench(workdir, args.workers)
    figures: dict[tuple[str, str], Figures] = {}
    plan = [(s, "one") for s in ONE_BY_ONE] + [(s, "bulk") for s in BULK] + [(s, "paced") for s in PACED]
    plan = [(s, m) for s, m in plan if not only or s in only]
    try:
        version = bench.redis.info("server")["redis_version"]
        print(
            f"N = {args.n} per run, {args.rounds} rounds interleaved; HeroAgent worker_count = "
            f"{bench.config.jobs.worker_count}; Redis {version}",
            flush=True,
        )
        for rnd in range(args.rounds):
            order = plan[rnd % len(plan) :] + plan[: rnd % len(plan)]
            for system, mode in order:
                n = args.paced_n if mode == "paced" else args.n
                e2e, submit, latencies, cpu = bench.run(system, mode, n, f"{system}-{mode}-{rnd}")
                f = figures.setdefault((system, mode), Figures())
                f.e2e.append(e2e)
                f.submit.append(submit)
                f.latency += latencies
                for role, usec in cpu.items():
                    f.cpu.setdefault(role, []).append(usec)
                print(
                    f"  round {rnd + 1}: {system:17} {mode:5} {e2e:8.0f} jobs/s end to end, {submit:8.0f} submits/s",
                    flush=True,
                )
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report(figures)


def report(figures: dict[tuple[str, str], Figures]) -> None:
    def median(system: str, mode: str) -> float:
        f = figures.get((system, mode))
        return statistics.median(f.e2e) if f else float("nan")

    print()
    print(f"{'system':18} {'mode':6} {'e2e jobs/s':>11} {'submits/s':>10} {'runs':>18}")
    for (system, mode), f in figures.items():
        if mode == "paced":
            continue
        runs = ", ".join(f"{x:.0f}" for x in f.e2e)
        print(f"{system:18} {mode:6} {statistics.median(f.e2e):11.0f} {statistics.median(f.submit):10.0f} {runs:>18}")
    print()
    print("CPU per job by role, µs (medians over the rounds; the fleet ceiling is 1 / Redis CPU per job)")
    print(f"{'system':18} {'mode':6} " + " ".join(f"{r:>9}" for r in (*ROLES, "total")) + f" {'ceiling/s':>10}")
    for (system, mode), f in figures.items():
        if mode == "paced" or not f.cpu:
            continue
        per_role = {role: statistics.median(f.cpu.get(role, [0.0])) for role in ROLES}
        total = sum(per_role.values())
        ceiling = 1e6 / per_role["redis"] if per_role["redis"] > 0 else float("nan")
        cells = " ".join(f"{per_role[r]:9.0f}" for r in ROLES)
        print(f"{system:18} {mode:6} {cells} {total:9.0f} {ceiling:10.0f}")
    print()
    print("submit -> start latency at 100 jobs/s (all rounds pooled)")
    for (system, mode), f in figures.items():
        if mode == "paced":
            p50, p99 = percentile(f.latency, 0.5) * 1000, percentile(f.latency, 0.99) * 1000
            print(f"  {system:18} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({len(f.latency)} jobs)")
    print()
    ours = median("heroagent", "one")
    print("ratios (medians, same run):")
    for label, value in (
        ("heroagent one-by-one / huey-proc-2", ours / median("huey-proc-2", "one")),
        ("heroagent+worker one-by-one / huey-proc-2", median("heroagent+worker", "one") / median("huey-proc-2", "one")),
        (
            "heroagent+2workers one-by-one / huey-proc-2",
            median("heroagent+2workers", "one") / median("huey-proc-2", "one"),
        ),
        (
            "heroagent+2workers bulk / huey-proc-2 one-by-one",
            median("heroagent+2workers", "bulk") / median("huey-proc-2", "one"),
        ),
        ("heroagent one-by-one / floor", ours / median("floor", "one")),
        (
            "heroagent-embedded one-by-one / huey-proc-2",
            median("heroagent-embedded", "one") / median("huey-proc-2", "one"),
        ),
        ("heroagent bulk / huey-proc-2 one-by-one", median("heroagent", "bulk") / median("huey-proc-2", "one")),
        ("heroagent bulk / floor bulk", median("heroagent", "bulk") / median("floor", "bulk")),
        ("priorities (0-9 in turn) / heroagent", median("heroagent+prio", "one") / ours),
        ("topic limits (not binding) / heroagent", median("heroagent+limits", "one") / ours),
        ("a no-overlap key per job / heroagent", median("heroagent+nooverlap", "one") / ours),
    ):
        if not math.isnan(value):  # a ratio of a system left out of the run (--only) is not printed
            print(f"  {label:45} {value:5.2f}x")


if __name__ == "__main__":
    main()
