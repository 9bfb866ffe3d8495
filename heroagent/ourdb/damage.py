"""What OurDB lost, kept until an operator acknowledges it: damage is never silent.

A recovery that dropped records or versions from files a clean close had left (a cut or damaged `.db`,
a lookup entry that points at garbage) is not a crash's torn tail: what it lost had been written and
synced. Each such event is one entry in `<db>/damage.json` (what, which file, which ids, how many), and
the server's health is `degraded` naming it until `heroagent ourdb check --fix` acknowledges it (the
entries are then moved to `damage.acknowledged.json`, kept for the record).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

FILE_NAME = "damage.json"
ACKNOWLEDGED = "damage.acknowledged.json"
MAX_IDS_SHOWN = 20


class DamageLedger:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()

    def record(self, what: str, *, file: str = "", ids: list[int] | None = None, bytes_lost: int = 0) -> None:
        """Add one event (written at once, atomically: it must outlive the process that found it)."""
        entry: dict[str, Any] = {"time": round(time.time(), 3), "what": what}
        if file:
            entry["file"] = file
        if ids:
            entry.update(count=len(ids), first_id=min(ids), last_id=max(ids), ids=sorted(ids)[:MAX_IDS_SHOWN])
        if bytes_lost:
            entry["bytes"] = bytes_lost
        with self._lock:
            _write(self.path, [*self.entries(), entry])

    def entries(self) -> list[dict[str, Any]]:
        """The events not acknowledged yet ([] = none; an unreadable ledger is one event saying so)."""
        try:
            found = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            return [{"time": 0, "what": f"{self.path} is unreadable ({exc}); see the log, then acknowledge it"}]
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    def acknowledge(self) -> int:
        """Mark every event seen: moved to ACKNOWLEDGED (appended). Returns how many there were."""
        with self._lock:
            found = self.entries()
            if not found and not self.path.exists():
                return 0
            done = self.path.with_name(ACKNOWLEDGED)
            try:
                earlier = json.loads(done.read_text())
            except (OSError, ValueError):
                earlier = []
            stamp = round(time.time(), 3)
            _write(
                done, [*(earlier if isinstance(earlier, list) else []), *({**e, "acknowledged": stamp} for e in found)]
            )
            self.path.unlink(missing_ok=True)
            return len(found)


def describe(entry: dict[str, Any]) -> str:
    """One event in a line, for health and the CLI."""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(entry.get("time", 0))))
    parts = [str(entry.get("what", "damage"))]
    if entry.get("file"):
        parts.append(f"in {entry['file']}")
    if entry.get("count"):
        parts.append(f"{entry['count']} id(s) {entry.get('first_id')}..{entry.get('last_id')}")
    if entry.get("bytes"):
        parts.append(f"{entry['bytes']} byte(s)")
    return f"{when}: " + ", ".join(parts)


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
