"""Run a job's child process: own process group, output captured live into the job log, and the whole
group killed on the job's timeout or cancel. Used by the `script` actor and by `rhaiscript` jobs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from heroagent.jobs.errors import JobFailed
from heroagent.jobs.run.context import JobContext


def run_process(
    command: list[str],
    ctx: JobContext,
    *,
    label: str,
    stdin_data: bytes | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """(exit code, stdout+stderr). Raises JobFailed if it cannot start, times out or is canceled."""
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    except OSError as exc:
        raise JobFailed(f"{label}: cannot start {command[0]!r}: {exc.strerror}") from None
    ctx.process_group = proc.pid  # its own session and group: a suspend stops the whole group
    output: list[str] = []
    reader = threading.Thread(target=_pump, args=(proc, output, ctx), daemon=True)
    reader.start()
    if stdin_data is not None:
        threading.Thread(target=_feed, args=(proc, stdin_data), daemon=True).start()
    stopped = ""
    while proc.poll() is None:
        if ctx.cancel.wait(0.05):
            stopped = "canceled"
            break
        if ctx.deadline and time.monotonic() > ctx.deadline:
            stopped = "timeout"
            break
    if stopped:
        kill_group(proc)
    proc.wait()
    ctx.process_group = None
    reader.join(timeout=5)
    if stopped == "timeout":
        raise JobFailed(f"timed out after {ctx.job.timeout:g} seconds ({label} was killed)")
    if stopped:
        raise JobFailed(f"{label} was stopped: job canceled")
    return proc.returncode, "".join(output)


PROGRESS_PREFIX = "::progress "
SKIP_PREFIX = "::skip"  # "::skip nothing new": the job ends skipped (with that reason) if the script then exits 0


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        proc.stdin.write(data)
        proc.stdin.close()


def _pump(proc: subprocess.Popen[bytes], output: list[str], ctx: JobContext) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        if line.startswith(PROGRESS_PREFIX):  # "::progress 0.4 copying": the job's progress, not output
            _report_progress(ctx, line[len(PROGRESS_PREFIX) :])
            continue
        if line.rstrip("\n") == SKIP_PREFIX or line.startswith(SKIP_PREFIX + " "):
            ctx.skip_reason = line[len(SKIP_PREFIX) :].strip()
            continue
        output.append(line)
        ctx.log(line.rstrip("\n"))


def _report_progress(ctx: JobContext, text: str) -> None:
    fraction, _, details = text.strip().partition(" ")
    with contextlib.suppress(ValueError):  # a malformed progress line is ignored, never fatal
        ctx.progress(float(fraction), details.strip())


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (and SIGCONT, in case it is suspended), SIGKILL it if still there after 2 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        os.killpg(proc.pid, signal.SIGCONT)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
