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

from heroagent.ourdb import layout
from heroagent.ourdb.lookup import LookupTable, header_bytes
from heroagent.ourdb.record import NO_LOCATION, Location, encode_record

ReadHistory = Callable[[int], list[bytes]]  # an id's versions, newest first, CRC-checked


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


def write_committed_copy(
    path: Path, lookup: LookupTable, read_history: ReadHistory, file_size: int, report: CompactReport
) -> None:
    """Steps 1 and 2: the reachable records into `compact.new/`, synced, then the commit marker.

    The caller (`OurDB.compact`) holds the database's locks, then swaps the files in with
    `layout.finish_swap`. If reading a record fails, nothing was changed and no copy is left behind.
    """
    report.bytes_before = data_bytes(path)
    new_dir = path / layout.NEW_DIR
    shutil.rmtree(new_dir, ignore_errors=True)
    new_dir.mkdir()
    writer = _Writer(new_dir, file_size, lookup.keysize)
    entries = bytearray(lookup.capacity * lookup.keysize)
    try:
        for record_id in lookup.ids():
            versions = read_history(record_id)
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
    lookup_header = header_bytes(lookup.keysize, lookup.capacity)
    layout.write_synced(new_dir / layout.LOOKUP_FILE, lookup_header + bytes(entries))
    layout.sync_dir(new_dir)
    layout.stage("written")
    layout.write_synced(path / layout.COMMIT_FILE, "\n".join(writer.names).encode())
    layout.sync_dir(path)
    layout.stage("committed")


def data_bytes(path: Path) -> int:
    """The size of all data files: what compaction reports before and after."""
    return sum(p.stat().st_size for p in layout.data_files(path))


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


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return f"{n:.1f} GiB"
