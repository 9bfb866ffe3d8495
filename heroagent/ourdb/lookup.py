"""The persistent lookup table: id -> location of the newest record.

herolib's OurDB keeps this table only in memory, so a reopen loses every id. Ours is a file,
`lookup.idx`, updated in place:

    offset 0   8 bytes  magic b"OURDBLK1"
    offset 8   1 byte   keysize (2, 3, 4 or 6)
    offset 9   3 bytes  zero (reserved)
    offset 12  4 bytes  how many entry slots the file had at the last commit, u32 big-endian (0 in
                        files written before it was kept): a file found shorter was cut, and is rebuilt
    offset 16  entries  entry for id i at 16 + i * keysize, the location big-endian as in the
                        reference's table (keysize 6: file_nr u16 + position u32; else position only);
                        all zero = no record

The file only grows: its length gives the next incremental id (one past the highest id ever
given), so an id is never handed out twice even after the newest one is deleted. Memory is a
copy-on-write map of the file (a page is read when first used), not the reference's record_nr_max x
keysize allocation.

Entries can be held back (`deferred=True`) and written by `flush()`: OurDB does that so an entry
reaches the disk only after the record it points at is synced, so the file never points at lost data.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from heroagent.ourdb.diskio import pwrite_exactly, sync
from heroagent.ourdb.errors import CorruptRecordError
from heroagent.ourdb.record import Location

MAGIC = b"OURDBLK1"
HEADER_SIZE = 16
COUNT_OFFSET = 12
VALID_KEYSIZES = (2, 3, 4, 6)


class LookupTable:
    """One file of fixed-width entries, mapped into memory (see _Entries); not thread-safe (OurDB locks
    around it)."""

    def __init__(self, path: Path, keysize: int, *, readonly: bool = False, deferred: bool = False) -> None:
        self.path = path
        self.deferred = deferred
        flags = os.O_RDONLY if readonly else os.O_RDWR | os.O_CREAT
        self.fd = os.open(path, flags, 0o644)
        raw = os.pread(self.fd, HEADER_SIZE, 0)
        if not raw:
            if readonly:
                raise CorruptRecordError(f"{path}: lookup table is empty")
            raw = MAGIC + bytes([keysize]) + bytes(7)
            os.pwrite(self.fd, raw, 0)
        if raw[:8] != MAGIC or len(raw) < HEADER_SIZE:
            raise CorruptRecordError(f"{path}: not an OurDB lookup table (bad header)")
        self.keysize = raw[8]
        if self.keysize not in VALID_KEYSIZES:
            raise CorruptRecordError(f"{path}: lookup table has invalid keysize {self.keysize}")
        body = os.fstat(self.fd).st_size - HEADER_SIZE
        self.torn_bytes = body % self.keysize
        self._entries = _Entries(self.fd, body - self.torn_bytes)
        self._pending: dict[int, bytes] = {}
        self.recorded_slots = int.from_bytes(raw[COUNT_OFFSET:HEADER_SIZE], "big")
        self.readonly = readonly

    def damage(self) -> str:
        """Why the table cannot be trusted ('' = it can): fewer slots than its header says it had."""
        if self.recorded_slots > self.capacity:
            return (
                f"{self.path.name} has {self.capacity} entry slots but had {self.recorded_slots}: "
                "the file was cut short and the newest ids would be lost (or handed out again)"
            )
        return ""

    @property
    def capacity(self) -> int:
        """How many ids have an entry slot (0 .. capacity-1)."""
        return len(self._entries) // self.keysize

    def drop_torn_tail(self) -> int:
        """Cut a half-written last entry left by a crash; returns the bytes removed."""
        dropped = self.torn_bytes
        if dropped:
            os.ftruncate(self.fd, HEADER_SIZE + len(self._entries))
            self.torn_bytes = 0
        return dropped

    def get(self, record_id: int) -> Location:
        if record_id < 0 or record_id >= self.capacity:
            return Location(0, 0)
        start = record_id * self.keysize
        return Location.decode(bytes(self._entries[start : start + self.keysize]))

    def set(self, record_id: int, location: Location) -> None:
        raw = location.encode(self.keysize)
        start = record_id * self.keysize
        if start + self.keysize > len(self._entries):
            self._entries.extend(bytes(start + self.keysize - len(self._entries)))
        self._entries[start : start + self.keysize] = raw
        if self.deferred:
            self._pending[record_id] = raw
        else:
            os.pwrite(self.fd, raw, HEADER_SIZE + start)

    def take_pending(self) -> dict[int, bytes]:
        """Entries set since the last call, to be written by `write_entries` once their data is synced."""
        pending, self._pending = self._pending, {}
        return pending

    def restore_pending(self, entries: dict[int, bytes]) -> None:
        """Entries whose write failed go back to pending (newer ones for the same id win)."""
        self._pending = {**entries, **self._pending}

    def write_entries(self, entries: dict[int, bytes]) -> None:
        """Write these entries, one pwrite per run of consecutive ids (a batch's new jobs are one run: a
        pwrite each was a system call per job)."""
        where = f"OurDB lookup table {self.path}"
        for first, run in _runs(entries):
            pwrite_exactly(self.fd, run, HEADER_SIZE + first * self.keysize, where)
        self.record_slots()

    def holds(self, record_id: int) -> bool:
        """Whether `record_id` has a record (its entry is not all zero): `get` without decoding it."""
        if record_id < 0 or record_id >= self.capacity:
            return False
        start = record_id * self.keysize
        return any(self._entries[start : start + self.keysize])

    def record_slots(self) -> None:
        """Keep the slot count in the header (synced with the entries), so a cut file is noticed."""
        if self.capacity > self.recorded_slots:
            pwrite_exactly(self.fd, self.capacity.to_bytes(4, "big"), COUNT_OFFSET, f"OurDB lookup table {self.path}")
            self.recorded_slots = self.capacity

    @classmethod
    def write_new(cls, path: Path, keysize: int, entries: dict[int, Location], slots: int) -> None:
        """A fresh table holding `entries`, with `slots` slots, written beside `path` and renamed over it."""
        body = bytearray(slots * keysize)
        for record_id, location in entries.items():
            body[record_id * keysize : (record_id + 1) * keysize] = location.encode(keysize)
        header = header_bytes(keysize, slots)
        tmp = path.with_name(path.name + ".rebuild")
        with open(tmp, "wb") as out:
            out.write(header + bytes(body))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def snapshot(self) -> bytes:
        """Every entry as it is now (entry i at i * keysize), for a compaction that runs beside writers."""
        return self._entries[0 : len(self._entries)]

    def ids(self, *, reverse: bool = False) -> list[int]:
        """Ids with a record, ascending (or descending)."""
        found = ids_in(self.snapshot(), self.keysize)
        if reverse:
            found.reverse()
        return found

    def sync(self) -> None:
        sync(self.fd, f"OurDB lookup table {self.path}: syncing")

    def close(self) -> None:
        self._entries.close()
        os.close(self.fd)


class _Entries:
    """The table's entries as one byte string, without reading the file into memory: the entries the
    file holds are a private copy-on-write map of it (a page is read when first used, and only pages
    this process changed take memory of their own), the ones added since open a bytearray after it.
    So opening a table of ten million ids costs no read and almost no memory. The file itself is
    written only through pwrite (`LookupTable.set`, `write_entries`), never through the map."""

    def __init__(self, fd: int, length: int) -> None:
        self._length = length
        self._map = mmap.mmap(fd, HEADER_SIZE + length, access=mmap.ACCESS_COPY) if length else None
        self._tail = bytearray()

    def __len__(self) -> int:
        return self._length + len(self._tail)

    def __getitem__(self, key: slice) -> bytes:
        start, stop = key.start or 0, len(self) if key.stop is None else min(key.stop, len(self))
        if stop <= self._length:
            assert self._map is not None or stop <= start
            return self._map[HEADER_SIZE + start : HEADER_SIZE + stop] if self._map is not None else b""
        if start >= self._length:
            return bytes(self._tail[start - self._length : stop - self._length])
        return self[start : self._length] + self[self._length : stop]

    def __setitem__(self, key: slice, value: bytes) -> None:
        start, stop = key.start, key.stop
        if stop <= self._length:
            assert self._map is not None
            self._map[HEADER_SIZE + start : HEADER_SIZE + stop] = value
        else:
            self._tail[start - self._length : stop - self._length] = value

    def extend(self, more: bytes) -> None:
        self._tail.extend(more)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()


def _runs(entries: dict[int, bytes]) -> list[tuple[int, bytes]]:
    """(first id, its entry and those of the ids after it) for each run of consecutive ids, ascending."""
    runs: list[tuple[int, bytes]] = []
    first = last = -2
    parts: list[bytes] = []
    for record_id in sorted(entries):
        if record_id != last + 1 and parts:
            runs.append((first, b"".join(parts)))
            parts = []
        if not parts:
            first = record_id
        parts.append(entries[record_id])
        last = record_id
    if parts:
        runs.append((first, b"".join(parts)))
    return runs


def header_bytes(keysize: int, slots: int) -> bytes:
    return MAGIC + bytes([keysize]) + bytes(COUNT_OFFSET - len(MAGIC) - 1) + slots.to_bytes(4, "big")


def ids_in(entries: bytes, keysize: int) -> list[int]:
    """Ids with a non-zero entry in a snapshot of the table's entries."""
    zero = bytes(keysize)
    return [i for i in range(len(entries) // keysize) if entries[i * keysize : i * keysize + keysize] != zero]


def changed_ids(before: bytes, after: bytes, keysize: int, chunk: int = 4096) -> list[int]:
    """Ids whose entry differs between two snapshots (new, updated, deleted): equal chunks are skipped
    whole, so this costs a byte comparison of the table plus the ids in the chunks that differ."""
    size = max(len(before), len(after))
    step = max(keysize, chunk - chunk % keysize)
    found = []
    for start in range(0, size, step):
        if before[start : start + step] == after[start : start + step]:
            continue
        for offset in range(start, min(size, start + step), keysize):
            if before[offset : offset + keysize] != after[offset : offset + keysize]:
                found.append(offset // keysize)
    return found
