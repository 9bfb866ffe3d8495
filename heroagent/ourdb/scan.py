"""Reading a database from its data files alone: every intact record in write order, and the lookup
table rebuilt from them when `lookup.idx` was damaged (cut short, emptied, lost).

A record holds no id, so ids come from the history chains: a record whose prev points nowhere starts a
new id, the next ids in write order (as incremental mode gave them); a record whose prev points at a
known record belongs to that record's id. When the records say their own id (the job history's JSON
has `jobid`), `id_of` gives it and is used instead. Deleted records are zero bytes: the scan steps over
them (and over torn bytes) to the next place where a header with a matching CRC32 starts. One limit:
a deleted id's older versions are still intact, so a rebuild brings such an id back with its last
version before the delete; compaction, which drops them, is what makes a delete final on disk.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from heroagent.ourdb import layout
from heroagent.ourdb.record import HEADER_SIZE, Header, Location, crc32, decode_header

IdOf = Callable[[bytes], "int | None"]


@dataclass(frozen=True)
class ScannedRecord:
    location: Location
    header: Header
    data: bytes


def scan_file(
    path: Path, file_nr: int, gaps: list[Location] | None = None, start: int = 1, end: int | None = None
) -> Iterator[ScannedRecord]:
    """The intact records of one data file, in write order, from byte `start` to `end` (default: the whole
    file); zeroed and torn bytes are stepped over (and where they start is added to `gaps`)."""
    size = path.stat().st_size if end is None else min(end, path.stat().st_size)
    if size <= max(1, start):
        return
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        position = max(1, start)
        while position + HEADER_SIZE <= size:
            header = decode_header(view[position : position + HEADER_SIZE])
            end = position + HEADER_SIZE + header.size
            if not header.is_zeroed and header.size and end <= size:
                data = view[position + HEADER_SIZE : end]
                if crc32(data) == header.crc:
                    yield ScannedRecord(Location(file_nr, position), header, bytes(data))
                    position = end
                    continue
            # Not a record here: skip a run of zeros (a deleted record), then try byte by byte. A header
            # may begin with a zero byte (a size that is a multiple of 256), so start one byte early.
            if gaps is not None and (not gaps or gaps[-1] != Location(file_nr, position)):
                gaps.append(Location(file_nr, position))
            nonzero = next((i for i in range(position + 1, min(size, position + 65536)) if view[i]), size)
            position = max(position + 1, nonzero - 1)


def scan(path: Path, gaps: list[Location] | None = None) -> Iterator[ScannedRecord]:
    for data_file in layout.data_files(path):
        yield from scan_file(data_file, int(data_file.stem), gaps)


class AmbiguousIdsError(ValueError):
    """The data files have deleted or damaged records, and the records do not say their ids."""


def rebuild_entries(path: Path, id_of: IdOf | None = None, first_id: int = 1) -> dict[int, Location]:
    """id -> location of its newest intact record, from the data files alone.

    Without `id_of`, ids are counted from the first versions in write order, which only holds while
    no first version was deleted: a zeroed or damaged stretch makes that count unreliable, and rather
    than hand out shifted ids this raises AmbiguousIdsError."""
    owner: dict[Location, int] = {}
    newest: dict[int, Location] = {}
    gaps: list[Location] = []
    next_id = first_id
    for record in scan(path, gaps):
        if gaps and id_of is None:
            raise AmbiguousIdsError(
                f"{len(gaps)}+ deleted or damaged stretch(es) (first at {gaps[0].file_nr}.db:{gaps[0].position})"
            )
        record_id = id_of(record.data) if id_of is not None else None
        if record_id is None:
            record_id = owner.get(record.header.prev) if record.header.prev else None
        if record_id is None:
            record_id = next_id
        next_id = max(next_id, record_id + 1)
        owner[record.location] = record_id
        newest[record_id] = record.location  # write order: a later record is a newer version
    return newest


def data_size(path: Path) -> int:
    return sum(os.path.getsize(p) for p in layout.data_files(path))
