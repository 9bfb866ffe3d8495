"""The built-in actors: `fake` (for tests and demos) and `script` (run a file from the WebDAV share)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from heroagent.jobs.errors import JobFailed
from heroagent.jobs.model import clip
from heroagent.jobs.run.actors import ActorRegistry, global_registry
from heroagent.jobs.run.context import JobContext
from heroagent.jobs.run.processes import run_process
from heroagent.jobs.share_paths import resolve_in_share


class FakeActor:
    """`!!fake.return_success message:...`, `!!fake.return_error message:...`, `!!fake.sleep seconds:...`,
    `!!fake.skip reason:...`."""

    def return_success(self, message: str = "", ctx: JobContext | None = None) -> str:
        return message

    def return_error(self, message: str = "fake error", ctx: JobContext | None = None) -> str:
        raise JobFailed(message)

    def skip(self, reason: str = "nothing to do", ctx: JobContext | None = None) -> str:
        if ctx is None:
            raise JobFailed("fake.skip: needs the job's context")
        ctx.skip(reason)

    def sleep(self, seconds: str = "1", ctx: JobContext | None = None) -> str:
        try:
            duration = float(seconds)
        except ValueError:
            raise JobFailed(f"fake.sleep: seconds must be a number, got {seconds!r}") from None
        if ctx is not None:
            ctx.log(f"sleeping {duration}s")
            ctx.cancel.wait(duration)  # a cancel or timeout ends the sleep at once
        else:
            time.sleep(duration)
        return f"slept {duration:g}s"


class ScriptActor:
    """`!!script.run path:'scripts/backup.sh' args:'--full'`: a file of the share in a subprocess.

    The process runs in its own process group; a timeout or cancel kills the whole group.
    """

    def run(self, path: str, args: str = "", ctx: JobContext | None = None) -> dict[str, object]:
        if ctx is None or ctx.share_root is None:
            raise JobFailed("script.run: no WebDAV share is configured to run scripts from")
        script = resolve_in_share(ctx.share_root, path)
        command = command_for(script) + shlex.split(args)
        ctx.log(f"running {path} {args}".rstrip())
        env = dict(os.environ, HEROAGENT_JOB_ID=str(ctx.job.job_id), HEROAGENT_SHARE=str(ctx.share_root))
        code, text = run_process(command, ctx, label=f"script {path}", cwd=script.parent, env=env)
        if code != 0:
            tail = "\n".join(text.strip().splitlines()[-5:])
            raise JobFailed(f"script {path} exited with code {code}" + (f":\n{tail}" if tail else ""))
        return {"exit_code": 0, "output": clip(text)}


def command_for(script: Path) -> list[str]:
    """Executable files run as they are (shebang); .py with this Python; .sh and others with sh."""
    if os.access(script, os.X_OK):
        return [str(script)]
    if script.suffix == ".py":
        return [sys.executable, str(script)]
    with script.open("rb") as f:
        first = f.readline(256)
    if first.startswith(b"#!"):
        return [*shlex.split(first[2:].decode(errors="replace").strip()), str(script)]
    if script.suffix in (".sh", ".bash", ""):
        return ["/bin/sh", str(script)]
    raise JobFailed(f"script {script.name}: not executable; add a #! line or make it executable")


def register_builtins(registry: ActorRegistry) -> None:
    registry.register("fake", FakeActor())
    registry.register("script", ScriptActor(), suspendable=True)  # its process group is stopped and continued


def make_registry() -> ActorRegistry:
    """The actors a pool runs: the built-in ones, over every actor registered with `@actor` (global)."""
    registry = ActorRegistry(parent=global_registry)
    register_builtins(registry)
    return registry
