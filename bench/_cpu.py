"""CPU time by process, process tree and thread, read from /proc (Linux): what each role of a run cost.

Each figure is user + system seconds. A thread is found by its name (`/proc/<pid>/task/<tid>/comm`, cut to
15 characters by the kernel: "heroagent-recorder" reads "heroagent-recor"), so the server's recorder and
its worker threads are told apart from the rest of the server process.
"""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> list[str] | None:
    """The fields after the command name of a /proc stat file (None: gone)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_cpu(pid: int) -> float:
    """Seconds of CPU the process has used (all its threads), 0 when it is gone."""
    fields = _stat(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children...), now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry / "stat")
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def tree_cpu(pid: int, skip: set[int] | None = None) -> float:
    """Seconds of CPU of the process and every process below it now (`skip`: pids left out, such as the
    Redis a server runs as its child)."""
    return sum(process_cpu(p) for p in [pid, *descendants(pid)] if p not in (skip or set()))


def thread_cpu(pid: int, prefix: str) -> float:
    """Seconds of CPU of the process's threads whose name starts with `prefix` (cut to 15 characters)."""
    total = 0.0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith(prefix[:15]):
            fields = _stat(task / "stat")
            total += (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0
    return total


def child_named(pid: int, name: str) -> int | None:
    """The first process below `pid` whose command name is `name` (the embedded redis-server)."""
    for child in descendants(pid):
        try:
            if (Path(f"/proc/{child}/comm").read_text().strip()) == name[:15]:
                return child
        except OSError:
            continue
    return None
