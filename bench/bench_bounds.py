"""Upper bounds: how far HeroAgent's figures go when a part of its work is left out.

    pip install -e '.[bench]' && python bench/bench_bounds.py [-n 5000] [--rounds 3] [--api-seconds 5]

Not modes to run: each bound leaves out work a real server must do, to show which part the figures of
bench_jobs.py and bench_api.py are bound by. Jobs, one by one and in bulk, with bench_jobs.py's
producer, job body and stop rule, rounds interleaved, medians:
- `heroagent`: the real server (as in bench_jobs.py);
- `heroagent, history writes left out`: the same server, whose recorder reads, parses and acks every
  event and writes nothing (no OurDB, no index; bench/_serve_unrecorded.py);
- `huey-proc-2` and `floor` in the same rounds, for the ratios;
- `producer alone`: each system's producer with nothing consuming (the server's pool drained, no huey
  consumer, no floor worker): how many calls a second the submit call itself allows on this machine.
The API (bench_api.py's clients): POST /api/jobs against the same server's GET /api/health, for the
real server, a server whose pool runs another topic (jobs created and recorded, never run), and one
that also writes no history. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.bench_jobs import Bench  # noqa: E402

SERVERS = {"heroagent": "heroagent", "heroagent, history writes left out": "bench._serve_unrecorded"}
PEERS = ["floor", "huey-proc-2"]


def job_rounds(n: int, rounds: int) -> dict[tuple[str, str], list[float]]:
    """End-to-end jobs/s per (row, mode), over interleaved rounds; each server started per round."""
    figures: dict[tuple[str, str], list[float]] = {}
    for rnd in range(rounds):
        for label, module in SERVERS.items():
            workdir = Path(tempfile.mkdtemp(prefix="ha-bounds-"))
            bench = Bench(workdir, 0, serve_module=module)
            try:
                runs = [(label, "heroagent", mode) for mode in ("one", "bulk")]
                if module == "heroagent":
                    runs += [(peer, peer, "one") for peer in PEERS]
                for row, system, mode in runs:
                    e2e, _, _ = bench.run(system, mode, n, f"{system}-{mode}-{rnd}")
                    figures.setdefault((row, mode), []).append(e2e)
                    print(f"  round {rnd + 1}: {row:36} {mode:4} {e2e:7.0f} jobs/s end to end", flush=True)
                if module == "heroagent":  # last: the jobs it leaves queued stay with this server
                    bench.set_server_pool("drained")
                    for system in ("heroagent", *PEERS):
                        row = f"{system}, producer alone"
                        rate = producer_alone(bench, system, n, f"alone-{system}-{rnd}")
                        figures.setdefault((row, "one"), []).append(rate)
                        print(f"  round {rnd + 1}: {row:36} one  {rate:7.0f} calls/s", flush=True)
            finally:
                bench.close()
                shutil.rmtree(workdir, ignore_errors=True)
    return figures


def producer_alone(bench: Bench, system: str, n: int, name: str) -> float:
    """Calls a second of `system`'s producer (bench_jobs.py's, one by one) with nothing consuming."""
    out = subprocess.run(
        [sys.executable, str(HERE / "_producer.py"), system, name, str(n), "one", bench.url],
        env=bench.env,
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    times = dict(line.split() for line in out.stdout.splitlines())
    return n / (float(times["end"]) - float(times["start"]))


def api_ratio(seconds: float, *flags: str) -> str:
    """bench_api.py's summary lines for one server variant."""
    out = subprocess.run(
        [sys.executable, str(HERE / "bench_api.py"), "--seconds", str(seconds), *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="jobs per run (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--api-seconds", type=float, default=5.0, help="seconds per API load (default 5)")
    args = parser.parse_args()
    figures = job_rounds(args.n, args.rounds)
    huey = statistics.median(figures[("huey-proc-2", "one")])
    floor = statistics.median(figures[("floor", "one")])
    print()
    print(f"{'row':38} {'mode':5} {'e2e jobs/s':>10} {'/ huey':>7} {'/ floor':>8}   runs")
    for (row, mode), runs in figures.items():
        median = statistics.median(runs)
        listed = " / ".join(f"{x:.0f}" for x in runs)
        print(f"{row:38} {mode:5} {median:10.0f} {median / huey:6.2f}x {median / floor:7.2f}x   {listed}")
    print("(bulk rows against huey and the floor one by one, as the targets are set)")
    print()
    for label, flags in (
        ("API, the real server", ()),
        ("API, jobs created and recorded, never run", ("--jobs-not-run",)),
        ("API, jobs never run, history writes left out", ("--jobs-not-run", "--unrecorded")),
    ):
        print(label)
        print("  " + api_ratio(args.api_seconds, *flags).replace("\n", "\n  "))


if __name__ == "__main__":
    main()
