"""The job contract's cost on the create path: checking a HeroScript job against the live job types.

    python bench/bench_contract.py [-n 5000] [--rounds 5]

One run, one server (its pool serves another topic, so jobs are created and recorded, never run), the
same producer loop (`jm.create_job` one by one, then `jm.create_jobs` by 1,000) and the same job
(`!!email.send to:ann@example.com count:3 urgent:false` against an actor with that signature), in
interleaved rounds:
- `contract`: the server as it is (the job is checked against the published schema);
- `no contract`: the same server with an empty contract (no job type known: nothing is checked), which
  is what creating cost before the contract.
Also `build_job` alone (no Redis) with and without the check, in µs per job, and the same call as a json
job (`{"to": ..., "count": 3, "urgent": false}`, action email.send) against the contract. Printed, never
asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import heroagent  # noqa: E402
from bench._common import free_port  # noqa: E402
from heroagent.config import Config  # noqa: E402
from heroagent.jobs.live.jobtypes import Contract  # noqa: E402
from heroagent.jobs.live.submit import JobDefaults, build_job  # noqa: E402

PARAMS = "!!email.send to:ann@example.com count:3 urgent:false"
JSON_PARAMS = {"to": "ann@example.com", "count": 3, "urgent": False}  # the same call as a json job


@heroagent.actor("email")
class Email:
    def send(self, to: str, count: int = 1, urgent: bool = False) -> str:
        return to


class NoContract:
    """A creator's contract with nothing published: what a create checked before the contract."""

    def get(self) -> Contract:
        return Contract()


def rate(calls: int, fn: object) -> tuple[float, float]:
    """(calls per second, process CPU µs per call) of `fn()` run `calls` times."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return calls / wall, cpu / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(data_dir=tmp)
        config.redis.tcp_port = free_port()
        config.webdav.enabled = False
        config.ui.enabled = False
        config.scheduler.enabled = False
        config.jobs.topics = ["elsewhere"]
        with heroagent.HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            contract = jm.types
            rows: dict[str, list[tuple[float, float]]] = {}
            batch = [{"topic": "mail", "params": PARAMS}] * 1000
            for _ in range(args.rounds):
                for label, view in (("contract", contract), ("no contract", NoContract())):
                    jm.types = view  # type: ignore[assignment]
                    rows.setdefault(f"{label}, one by one", []).append(
                        rate(args.n, lambda: jm.create_job("mail", PARAMS))
                    )
                    per_job = rate(max(1, args.n // 1000), lambda: jm.create_jobs(batch))
                    rows.setdefault(f"{label}, bulk by 1,000", []).append((per_job[0] * 1000, per_job[1] / 1000))
                jm.types = contract
                rows.setdefault("json job, contract, one by one", []).append(
                    rate(args.n, lambda: jm.create_job("mail", JSON_PARAMS, action="email.send"))
                )
            jm.types = contract
            published = contract.get()
    defaults = JobDefaults()
    spec = {"topic": "mail", "params": PARAMS}
    for _ in range(args.rounds):
        for label, given in (("contract", published), ("no contract", None)):
            rows.setdefault(f"{label}, build_job alone", []).append(
                rate(20_000, lambda g=given: build_job(spec, defaults, g))
            )
    json_spec = {"topic": "mail", "params": JSON_PARAMS, "action": "email.send"}
    for _ in range(args.rounds):
        rows.setdefault("json job, contract, build_job alone", []).append(
            rate(20_000, lambda: build_job(json_spec, defaults, published))
        )
    print(f"{'row':40} {'jobs/s (median)':>16} {'CPU µs/job':>11}")
    for label, samples in rows.items():
        per_s = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(f"{label:40} {per_s:16,.0f} {cpu:11.1f}")
    for mode in ("one by one", "bulk by 1,000", "build_job alone"):
        with_check = statistics.median(s[0] for s in rows[f"contract, {mode}"])
        without = statistics.median(s[0] for s in rows[f"no contract, {mode}"])
        print(f"ratio contract / no contract, {mode}: {with_check / without:.2f}x")
    for mode in ("one by one", "build_job alone"):
        json_rate = statistics.median(s[0] for s in rows[f"json job, contract, {mode}"])
        text_rate = statistics.median(s[0] for s in rows[f"contract, {mode}"])
        print(f"ratio json job / HeroScript job (both checked), {mode}: {json_rate / text_rate:.2f}x")


if __name__ == "__main__":
    main()
