"""The server's pool as worker processes (`[jobs] worker_processes = N`), still one `heroagent serve`.

Why: a pool's threads, the recorder and the request threads of one process share one interpreter lock, so
the server's pool cannot use more than the core the rest of the server leaves it. With `worker_processes`,
the server runs N `heroagent worker` children instead (the same [jobs] topics and worker_count, each its own
pool, named serve-1 ... serve-N), supervised as `heroagent worker --processes` supervises its own
(jobs/run/fleet.py): tied to the server (they get SIGTERM when it dies, even by kill -9), started again with
a backoff when they die, stopped with it. A child killed loses nothing: its jobs' leases expire and the
reaper puts them back. Health names a child that is down until it is back.

The children read the server's effective config from `<data_dir>/run/worker-processes.toml` (mode 600: it
may hold the Redis URL's password), written at each start. They import [jobs] modules, as any worker does:
an actor registered only in the server's own Python (a script's `@actor`) is not theirs, so such a server
is refused with the fix (list its module in [jobs] modules, or keep the pool in the server).
"""

from __future__ import annotations

import os
import sys
import time
import types
from pathlib import Path

from heroagent.config import Config, to_toml
from heroagent.errors import ServiceError
from heroagent.jobs.run.actors import ActorRegistry
from heroagent.jobs.run.fleet import WorkerProcesses
from heroagent.loops import LoopState

CHILD_NAME = "serve"  # the children's --id: serve-1, serve-2, ...
CONFIG_NAME = "worker-processes.toml"


def foreign_actors(registry: ActorRegistry, modules: list[str]) -> dict[str, str]:
    """Actor -> its module, for the actors a worker process would not have: defined outside heroagent and
    outside the modules `[jobs] modules` lists (a script's `__main__`, a module imported by hand)."""
    found = {}
    for name in registry.names():
        module = _module_of(registry.get(name))
        ours = module == "heroagent" or module.startswith("heroagent.")
        listed = any(module == m or module.startswith(f"{m}.") for m in modules)
        if not (ours or listed):
            found[name] = module
    return found


def _module_of(actor: object) -> str:
    """The module an actor (an instance, a function or a module) is defined in."""
    if isinstance(actor, types.ModuleType):
        return actor.__name__
    return str(getattr(actor, "__module__", None) or type(actor).__module__)


class PoolProcesses:
    """The server's worker processes: started, watched (`step`), reported (`states`) and stopped."""

    def __init__(self, config: Config, registry: ActorRegistry) -> None:
        jobs = config.jobs
        strangers = foreign_actors(registry, jobs.modules)
        if strangers:
            named = ", ".join(f"{name} (in {module})" for name, module in sorted(strangers.items())[:5])
            raise ServiceError(
                "jobs",
                f"[jobs] worker_processes = {jobs.worker_processes}: the worker processes would not have the "
                f"actor(s) {named}: list their module in [jobs] modules, or set worker_processes = 0 (the pool "
                "then runs in the server, with every actor registered in it)",
            )
        self.config_path = _write_config(config)
        command = [sys.executable, "-m", "heroagent", "worker", "--config", str(self.config_path)]
        self.fleet = WorkerProcesses(
            [[*command, "--id", f"{CHILD_NAME}-{k}"] for k in range(1, jobs.worker_processes + 1)]
        )
        self._down_since: dict[int, float] = {}

    def start(self) -> None:
        self.fleet.start()

    def step(self) -> None:
        """One supervision step (a supervised loop calls it): a child that ended starts again after its
        backoff; a drained one stays stopped."""
        self.fleet.step()

    def pids(self) -> list[int]:
        return self.fleet.pids()

    def states(self) -> list[LoopState]:
        """One state per child, for health: degraded while it is down (dead, and not started again yet)."""
        states = []
        now = time.time()
        for child in self.fleet.children:
            alive = child.proc is not None and child.proc.poll() is None
            name = f"worker process {child.number}"
            if alive or child.drained:
                self._down_since.pop(child.number, None)
                states.append(LoopState(name, True, child.restarts, "", 0.0))
                continue
            since = self._down_since.setdefault(child.number, now)
            code = child.proc.poll() if child.proc is not None else None
            why = f"exited ({code})" if code is not None else "died"
            states.append(LoopState(name, True, child.restarts, f"{why}; being started again", since))
        return states

    def stop(self, grace: float) -> None:
        """SIGTERM every child (they finish what runs within `grace`), SIGKILL what is left after it."""
        self.fleet.stop(grace)


def _write_config(config: Config) -> Path:
    """The effective config for the children, mode 600 (it may hold a password), replaced atomically."""
    folder = config.data_path / "run"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    staged = folder / f".{CONFIG_NAME}.{os.getpid()}"
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(to_toml(config))
    os.replace(staged, path)
    return path
