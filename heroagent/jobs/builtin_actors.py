"""The built-in actors: `fake` (for tests and demos) and `script` (run a file from the WebDAV share)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from heroagent.jobs.actors import ActorRegistry
from heroagent.jobs.context import JobContext
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.model import clip


class FakeActor:
    """`!!fake.return_success message:...`, `!!fake.return_error message:...`, `!!fake.sleep seconds:...`."""

    def return_success(self, message: str = "", ctx: JobContext | None = None) -> str:
        return message

    def return_error(self, message: str = "fake error", ctx: JobContext | None = None) -> str:
        raise JobFailed(message)

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
        try:
            proc = subprocess.Popen(
                command,
                cwd=script.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        except OSError as exc:
            raise JobFailed(f"script.run: cannot start {path}: {exc.strerror}") from None
        output: list[str] = []
        reader = threading.Thread(target=_pump, args=(proc, output, ctx), daemon=True)
        reader.start()
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
        reader.join(timeout=5)
        text = "".join(output)
        if stopped == "timeout":
            raise JobFailed(f"timed out after {ctx.job.timeout:g} seconds (script {path} was killed)")
        if stopped:
            raise JobFailed(f"script {path} was stopped: job canceled")
        if proc.returncode != 0:
            tail = "\n".join(text.strip().splitlines()[-5:])
            raise JobFailed(f"script {path} exited with code {proc.returncode}" + (f":\n{tail}" if tail else ""))
        return {"exit_code": 0, "output": clip(text)}


def _pump(proc: subprocess.Popen[bytes], output: list[str], ctx: JobContext) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        output.append(line)
        ctx.log(line.rstrip("\n"))


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the script's process group, SIGKILL it if still there after 2 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def resolve_in_share(root: Path, path: str) -> Path:
    """The file `path` names inside the share; a path that leaves the share (.., symlinks) is refused."""
    base = root.resolve()
    if not path or path.startswith("/") or "\x00" in path:
        raise JobFailed(f"script path {path!r} must be relative to the share (like scripts/backup.sh)")
    candidate = (base / path).resolve()
    if not candidate.is_relative_to(base):
        raise JobFailed(f"script path {path!r} leaves the WebDAV share; refused")
    if not candidate.is_file():
        raise JobFailed(f"script {path!r} not found in the WebDAV share ({base})")
    return candidate


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
    registry.register("script", ScriptActor())
