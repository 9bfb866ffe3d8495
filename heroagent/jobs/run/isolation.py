"""Running a job's code in a child process, so that a timeout or a cancel stops any code, C calls included.

Jobs run in their worker thread by default: fast, but a thread cannot be stopped from outside, so
cancel and timeouts are cooperative there (an actor checks `ctx.cancel`; one that does not keeps its
thread until it returns). An actor registered with `isolation="process"`, or any job of a topic in
`[jobs] process_topics`, runs like RQ's work-horse instead: the worker thread forks a child that runs
the job's code and reports through a pipe, and the thread watches the job's deadline and cancel signal;
when either comes, the child's whole process group is killed with SIGKILL.

The child is a fork, so actors registered at run time (`agent.actor(...)`) work there too. It logs
through the pipe (the parent writes the lines to the job's log), never through the parent's locks, and
the kernel kills it if its worker thread dies (PR_SET_PDEATHSIG), so no job outlives the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from heroagent.jobs.errors import JobFailed, JobSkipped, PermanentError
from heroagent.jobs.run.context import JobContext
from heroagent.procs import die_with_parent

POLL_SECONDS = 0.05  # how often the watching thread looks at the cancel signal


class _PipeLog:
    """The child's log sink: each line goes to the parent as a JSON message."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def append(self, job_id: int, text: str) -> None:
        _send(self.fd, {"log": text})

    def append_first(self, job_id: int, text: str, at: float) -> None:
        """Nothing: the worker wrote the job's first line before the child started."""


def run_in_child(body: Callable[[JobContext], str], ctx: JobContext) -> str:
    """`body(ctx)` in a forked child; its result, or JobFailed with its error. Killed on cancel/deadline."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _child(body, ctx, read_fd, write_fd)
    os.close(write_fd)
    with contextlib.suppress(OSError):  # the child does the same; whichever runs first makes the group
        os.setpgid(pid, pid)
    ctx.process_group = pid  # a suspend stops its group (SIGSTOP), a resume lets it go on (SIGCONT)
    try:
        return _watch(pid, read_fd, ctx)
    finally:
        ctx.process_group = None
        os.close(read_fd)


def _child(body: Callable[[JobContext], str], ctx: JobContext, read_fd: int, write_fd: int) -> None:
    code = 1
    try:
        os.close(read_fd)
        os.setpgid(0, 0)  # its own group: a kill reaches what it started too
        die_with_parent()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        ctx.logs = _PipeLog(write_fd)
        ctx.on_progress = lambda fraction, details: _send(write_fd, {"progress": fraction, "details": details})
        _send(write_fd, {"result": body(ctx)})
        code = 0
    except JobFailed as exc:
        _send(write_fd, {"error": str(exc), "permanent": isinstance(exc, PermanentError)})
    except JobSkipped as exc:
        _send(write_fd, {"skipped": str(exc)})
    except BaseException as exc:
        _send(write_fd, {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})
    finally:
        os._exit(code)


def _watch(pid: int, read_fd: int, ctx: JobContext) -> str:
    """Read the child's messages until it ends; kill it when the job is canceled or out of time."""
    buffer = b""
    outcome: dict[str, Any] | None = None
    killed, killed_at = "", 0.0
    while True:
        killed = killed or _why_stop(ctx)
        if killed:
            _kill(pid)
            killed_at = killed_at or time.monotonic()
            if time.monotonic() - killed_at > 2.0:
                break  # something it started still holds the pipe open: stop waiting for it
        ready, _, _ = select.select([read_fd], [], [], POLL_SECONDS)
        if not ready:
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break  # the child closed its end: it ended (or was killed)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            outcome = _take_message(json.loads(line), ctx) or outcome
    status = _reap(pid)
    if killed:
        raise JobFailed(f"{killed}: its process was killed")
    return _result(outcome, status, ctx)


def _why_stop(ctx: JobContext) -> str:
    """'canceled' or 'timed out' when the job must stop now, else ''."""
    if ctx.cancel.is_set():
        return "canceled"
    if ctx.deadline and time.monotonic() >= ctx.deadline:
        return "timed out"
    return ""


def _take_message(message: dict[str, Any], ctx: JobContext) -> dict[str, Any] | None:
    """A log line or progress goes to the context; anything else is the job's outcome (returned)."""
    if "log" in message:
        ctx.log(str(message["log"]))
    elif "progress" in message:
        with contextlib.suppress(TypeError, ValueError):
            ctx.progress(float(message["progress"]), str(message.get("details", "")))
    else:
        return message
    return None


def _result(outcome: dict[str, Any] | None, status: str, ctx: JobContext) -> str:
    """The job's result from the child's last message, or the error or skip it reported."""
    if outcome is None:
        raise JobFailed(f"the job's process ended without an answer ({status})")
    if "trace" in outcome:
        ctx.log(str(outcome["trace"]))
    if "error" in outcome:
        raise (PermanentError if outcome.get("permanent") else JobFailed)(str(outcome["error"]))
    if "skipped" in outcome:
        raise JobSkipped(str(outcome["skipped"]))
    return str(outcome["result"])


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> str:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def _send(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message, default=str).encode() + b"\n"
    while data:
        data = data[os.write(fd, data) :]
