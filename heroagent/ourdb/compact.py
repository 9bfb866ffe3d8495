"""Compaction: rewrite an OurDB's data files with only the records still reachable, crash-safe.

Reachable = every version in the history chain of every live id. Dropped: deleted records (zeroed), the
older versions of deleted ids (a delete zeroes only the newest), and torn bytes. Ids, the next id and
every live record's data and history order stay as they were; only locations change.

Writers and readers go on while the copy is written (`OurDB.compact`): the copy is made from a snapshot of
the lookup table without the database's locks; under them, at the end, the ids whose entry changed
meanwhile (new versions, new ids, deletes) are copied again (or dropped) before the commit. The pause is
that last step: the changes made during the copy, the lookup table and the syncs.

How a kill at any moment leaves a usable database:
1. the new files are written into `compact.new/` and synced; the old files are not touched;
2. `compact.commit` is written and synced: from here on the new files are the database;
3. the old data files are removed and the new ones renamed into place, then the marker is removed.
A reopen that finds `compact.new/` without the marker throws it away (the old files are intact); one that
finds the marker finishes step 3 first. Renames and removals are idempotent, so a kill during that
recovery is recovered the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from heroagent.ourdb import layout
from heroagent.ourdb.lookup import header_bytes
from heroagent.ourdb.record import HEADER_SIZE, NO_LOCATION, Location, decode_header, encode_record


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


class CopyInProgress:
    """The new files of a compaction being written beside a live database (`OurDB.compact`): phase 2
    copies every id of a snapshot of the lookup table without the database's locks; phase 3, under
    them, copies again the ids that changed meanwhile and commits."""

    def __init__(self, path: Path, keysize: int, capacity: int, file_size: int) -> None:
        self.path = path
        self.keysize = keysize
        self.new_dir = path / layout.NEW_DIR
        shutil.rmtree(self.new_dir, ignore_errors=True)
        self.new_dir.mkdir()
        self.writer = _Writer(self.new_dir, file_size, keysize)
        self.entries = bytearray(capacity * keysize)
        self.records: dict[int, int] = {}  # id -> versions copied (the last copy counts)

    def copy(self, record_id: int, versions: list[bytes]) -> None:
        """An id's versions (newest first) into the new files; a second copy of an id replaces the first,
        whose records are zeroed (a deleted record, which nothing reaches)."""
        self._zero_earlier_copy(record_id)
        prev = NO_LOCATION
        for data in reversed(versions):
            prev = self.writer.append(encode_record(data, prev))
        self._entry(record_id, prev.encode(self.keysize))
        self.records[record_id] = len(versions)

    def drop(self, record_id: int) -> None:
        """An id deleted while the copy was written: no entry, and its copied records zeroed."""
        self._zero_earlier_copy(record_id)
        self._entry(record_id, bytes(self.keysize))
        self.records.pop(record_id, None)

    def _zero_earlier_copy(self, record_id: int) -> None:
        start = record_id * self.keysize
        raw = bytes(self.entries[start : start + self.keysize])
        if len(raw) < self.keysize or raw == bytes(self.keysize):
            return
        self.writer.out.flush()
        loc = Location.decode(raw)
        while loc:
            with open(self.new_dir / f"{loc.file_nr}.db", "r+b") as f:
                header = decode_header(os.pread(f.fileno(), HEADER_SIZE, loc.position))
                os.pwrite(f.fileno(), bytes(HEADER_SIZE + header.size), loc.position)
            loc = header.prev

    def _entry(self, record_id: int, raw: bytes) -> None:
        start = record_id * self.keysize
        if start + self.keysize > len(self.entries):
            self.entries.extend(bytes(start + self.keysize - len(self.entries)))
        self.entries[start : start + self.keysize] = raw

    def commit(self, capacity: int, report: CompactReport) -> None:
        """The lookup table (`capacity` slots: the next id stays), synced, then the commit marker."""
        if len(self.entries) < capacity * self.keysize:
            self.entries.extend(bytes(capacity * self.keysize - len(self.entries)))
        self.writer.close()
        report.ids = len(self.records)
        report.records = sum(self.records.values())
        layout.write_synced(
            self.new_dir / layout.LOOKUP_FILE, header_bytes(self.keysize, capacity) + bytes(self.entries)
        )
        layout.sync_dir(self.new_dir)
        layout.stage("written")
        layout.write_synced(self.path / layout.COMMIT_FILE, "\n".join(self.writer.names).encode())
        layout.sync_dir(self.path)
        layout.stage("committed")

    def abandon(self) -> None:
        """Nothing was changed: no half-written copy is left."""
        with contextlib.suppress(OSError):
            self.writer.out.close()
        shutil.rmtree(self.new_dir, ignore_errors=True)


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
