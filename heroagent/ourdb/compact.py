"""Compaction: rewrite an OurDB's data files with only the records still reachable, crash-safe.

Reachable = every version in the history chain of every live id. Dropped: deleted records (zeroed), the
older versions of deleted ids (a delete zeroes only the newest), and torn bytes. Ids, the next id and
every live record's data and history order stay as they were; only locations change.

How a kill at any moment leaves a usable database:
1. the new files are written into `compact.new/` and synced; the old files are not touched;
2. `compact.commit` is written and synced: from here on the new files are the database;
3. the old data files are removed and the new ones renamed into place, then the marker is removed.
A reopen that finds `compact.new/` without the marker throws it away (the old files are intact); one that
finds the marker finishes step 3 first. Renames and removals are idempotent, so a kill during that
recovery is recovered the same way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from heroagent.ourdb.lookup import HEADER_SIZE as LOOKUP_HEADER_SIZE
from heroagent.ourdb.lookup import MAGIC
from heroagent.ourdb.record import NO_LOCATION, Location, encode_record

if TYPE_CHECKING:
    from heroagent.ourdb.db import OurDB

NEW_DIR = "compact.new"
COMMIT_FILE = "compact.commit"
LOOKUP_FILE = "lookup.idx"

# Test hook: called with a stage name ("written", "committed", "swapping"), so a test can kill the
# process at an exact point. None in normal use.
stage_hook: Callable[[str], None] | None = None


@dataclass
class CompactReport:
    ids: int = 0
    records: int = 0
    bytes_before: int = 0
    bytes_after: int = 0

    def summary(self) -> str:
        saved = self.bytes_before - self.bytes_after
        return (
            f"kept {self.records} record(s) of {self.ids} id(s); {_size(self.bytes_before)} -> "
            f"{_size(self.bytes_after)} ({_size(saved)} freed)"
        )


def compact(db: OurDB) -> CompactReport:
    """Compact `db` in place (it must be open for writing); holds its locks while it runs."""
    path = db.path
    report = CompactReport()
    with db._sync_lock, db._lock:
        db._commit_locked()
        report.bytes_before = sum(p.stat().st_size for p in _data_files(path))
        new_dir = path / NEW_DIR
        shutil.rmtree(new_dir, ignore_errors=True)
        new_dir.mkdir()
        writer = _Writer(new_dir, db.file_size, db.keysize)
        lookup = db._lookup
        entries = bytearray(lookup.capacity * lookup.keysize)
        try:
            for record_id in lookup.ids():
                versions = db.get_history(record_id)  # newest first; reads and CRC-checks every version
                prev = NO_LOCATION
                for data in reversed(versions):
                    prev = writer.append(encode_record(data, prev))
                start = record_id * lookup.keysize
                entries[start : start + lookup.keysize] = prev.encode(lookup.keysize)
                report.ids += 1
                report.records += len(versions)
        except BaseException:  # e.g. a corrupt record: nothing was changed; leave no half-written copy
            writer.out.close()
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        writer.close()
        lookup_header = MAGIC + bytes([lookup.keysize]) + bytes(LOOKUP_HEADER_SIZE - len(MAGIC) - 1)
        _write_synced(new_dir / LOOKUP_FILE, lookup_header + bytes(entries))
        _sync_dir(new_dir)
        _stage("written")
        _write_synced(path / COMMIT_FILE, "\n".join(writer.names).encode())
        _sync_dir(path)
        _stage("committed")
        db._release_files()
        finish(path)
        db._reopen_files()
        report.bytes_after = sum(p.stat().st_size for p in _data_files(path))
    return report


def recover(path: Path) -> str:
    """At open: finish a committed compaction, or throw away an uncommitted one. Returns what it did."""
    if (path / COMMIT_FILE).exists():
        finish(path)
        return "finished a compaction that was interrupted after it was committed"
    if (path / NEW_DIR).exists():
        shutil.rmtree(path / NEW_DIR, ignore_errors=True)
        return "discarded a compaction that was interrupted before it was committed; the old files are in use"
    return ""


def finish(path: Path) -> None:
    """Step 3: old data files out, new files in, marker gone. Safe to run again after a kill."""
    new_dir = path / NEW_DIR
    names = set((path / COMMIT_FILE).read_text().split())
    for old in _data_files(path):
        if old.name not in names:  # those in `names` are overwritten (or already were) by the renames below
            old.unlink()
    _stage("swapping")
    if new_dir.exists():
        for name in [*sorted(names), LOOKUP_FILE]:
            if (new_dir / name).exists():
                os.replace(new_dir / name, path / name)
        _sync_dir(path)
        shutil.rmtree(new_dir, ignore_errors=True)
    (path / COMMIT_FILE).unlink()
    _sync_dir(path)


class _Writer:
    """Appends records to new data files, rotating at file_size like OurDB does."""

    def __init__(self, folder: Path, file_size: int, keysize: int) -> None:
        self.folder = folder
        self.file_size = file_size if keysize == 6 else 1 << 62  # keysize < 6 addresses one file only
        self.file_nr = 0
        self.names: list[str] = []
        self._open()

    def _open(self) -> None:
        name = f"{self.file_nr}.db"
        self.names.append(name)
        self.out = open(self.folder / name, "wb")  # noqa: SIM115 - kept open across appends
        self.out.write(b"\x00")
        self.position = 1

    def append(self, record: bytes) -> Location:
        if self.position >= self.file_size:
            self._close_current()
            self.file_nr += 1
            self._open()
        location = Location(self.file_nr, self.position)
        self.out.write(record)
        self.position += len(record)
        return location

    def _close_current(self) -> None:
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()

    def close(self) -> None:
        self._close_current()


def _data_files(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*.db") if p.stem.isdigit())


def _write_synced(file: Path, data: bytes) -> None:
    with open(file, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stage(name: str) -> None:
    if stage_hook is not None:
        stage_hook(name)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"
