"""`heroagent worker --processes N`: N worker processes under one supervisor, one command.

A pool's threads share one interpreter lock, so one `heroagent worker` process uses about one core however
many threads it has. With `--processes N` the command becomes a supervisor of N such processes (the same
options, each its own pool; `--id NAME` names them NAME-1 ... NAME-N): every core of a machine serves jobs.

The children are tied to it: each asks the kernel for SIGTERM when the supervisor dies (`kill -9` of the
supervisor stops them the graceful way: they finish what runs and hand back what they had not started),
and each runs in a session of its own, so a Ctrl-C in the terminal reaches the supervisor only, which
passes one SIGTERM on (a second signal hurries them, as for a single worker). A child that dies is started
again, after a backoff that grows while it keeps dying; a child that exits 0 was drained (`heroagent worker
drain ID`) and is not started again; when every child is drained the supervisor exits too. Nothing a child
held is lost when it dies: its jobs' leases return them to their queues.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from heroagent.procs import die_with_parent

log = logging.getLogger(__name__)

RESTART_FIRST = 1.0  # seconds before a child that died is started again; doubled while it keeps dying
RESTART_MAX = 30.0
STEADY = 60.0  # a child that ran this long before it died starts again after RESTART_FIRST


@dataclass
class Child:
    number: int
    command: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = RESTART_FIRST
    due: float = 0.0  # time.monotonic() of its next start (0: now)
    drained: bool = False  # it exited 0: asked to drain; it stays stopped
    restarts: int = 0


class WorkerProcesses:
    """The supervisor's state and its steps (the CLI loops over `step` until a signal or all drained)."""

    def __init__(self, commands: Sequence[list[str]]) -> None:
        self.children = [Child(number, list(command)) for number, command in enumerate(commands, 1)]

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.command, preexec_fn=die_with_parent, start_new_session=True)
        child.started = time.monotonic()
        log.info("worker processes: #%d started (pid %d)", child.number, child.proc.pid)

    def step(self) -> None:
        """Notice the children that ended: a drained one stays stopped, another starts again (backoff)."""
        now = time.monotonic()
        for child in self.children:
            if child.drained:
                continue
            if child.proc is not None:
                code = child.proc.poll()
                if code is None:
                    continue
                child.proc = None
                if code == 0:
                    child.drained = True
                    log.info("worker processes: #%d drained; it is not started again", child.number)
                    continue
                ran = now - child.started
                child.backoff = RESTART_FIRST if ran >= STEADY else min(RESTART_MAX, child.backoff * 2)
                child.due = now + (RESTART_FIRST if ran >= STEADY else child.backoff)
                log.warning(
                    "worker processes: #%d ended (%s) after %.1f s; starting it again in %.0f s",
                    child.number,
                    _exit_text(code),
                    ran,
                    child.due - now,
                )
            if child.proc is None and now >= child.due:
                child.restarts += 1
                self._spawn(child)

    @property
    def all_drained(self) -> bool:
        return all(child.drained for child in self.children)

    def pids(self) -> list[int]:
        return [child.proc.pid for child in self.children if child.proc is not None and child.proc.poll() is None]

    def signal_all(self, signum: int = signal.SIGTERM) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signum)

    def stop(self, grace: float) -> None:
        """SIGTERM each child (they finish what runs within their stop_grace), then SIGKILL what is left
        after `grace` seconds; returns when none runs."""
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker processes: #%d did not stop in %.0f s; killing it", child.number, grace)
                child.proc.kill()
                child.proc.wait()


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def child_commands(base: list[str], count: int, name: str | None) -> list[list[str]]:
    """The command of each child: the worker's own options, each child named NAME-k when --id was given."""
    return [[*base, "--id", f"{name}-{k}"] if name else list(base) for k in range(1, count + 1)]
