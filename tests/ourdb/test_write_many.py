"""OurDB.write_many (issue 27, item 3): a batch of records in one pwrite per data file, the files byte for
byte as the same writes one by one leave them, every write checked before any is made, the lookup
entries set only after their bytes are written, and a batch torn by a crash recovered at the next open."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from heroagent.ourdb import (
    InvalidIdError,
    Location,
    OurDB,
    RecordNotFoundError,
    RecordTooLargeError,
    StorageError,
    Write,
    diskio,
)
from heroagent.ourdb import db as db_module
from heroagent.ourdb import lookup as lookup_module
from heroagent.ourdb.db import FsyncPolicy
from heroagent.ourdb.lookup import LookupTable


def _writes() -> list[Write]:
    """A recorder-like batch: new ids (one past a gap), new versions of them and of older ids, an id's
    empty place below the next id filled, several versions of one id in a row."""
    return [
        Write(4, b"four v1", new=True),
        Write(1, b"one v2"),
        Write(7, b"seven v1", new=True),  # skips 5 and 6
        Write(4, b"four v2" * 20),
        Write(5, b"five v1, after seven", new=True, fill_gap=True),
        Write(4, b"four v3"),
        Write(2, b"two v2"),
        Write(7, b"seven v2"),
        *(Write(i, b"x%d" % i * (1 + i % 7), new=True) for i in range(8, 40)),
        *(Write(i, b"y%d" % i, new=False) for i in range(8, 40, 3)),
    ]


def _one_by_one(db: OurDB, writes: list[Write]) -> None:
    with db.batch():
        for write in writes:
            if write.new:
                db.insert_at(write.data, write.id, fill_gap=write.fill_gap)
            else:
                db.set(write.data, id=write.id)


def _files(path: Path) -> dict[str, bytes]:
    """The database's bytes: every data file and the lookup table."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.suffix in (".db", ".idx")}


def _started(path: Path, file_size: int, fsync: FsyncPolicy = "batch") -> OurDB:
    db = OurDB(path, file_size=file_size, fsync=fsync)
    db.set(b"one")
    db.set(b"two")
    db.set(b"three")
    return db


@pytest.mark.parametrize("fsync", ["batch", "always", "never"])
@pytest.mark.parametrize("file_size", [1 << 20, 100])  # 100 bytes: the batch spans many data files
def test_a_batch_leaves_the_files_byte_for_byte_as_the_writes_one_by_one(
    tmp_path: Path, file_size: int, fsync: FsyncPolicy
) -> None:
    for name, write in (("apart", _one_by_one), ("together", lambda db, w: db.write_many(w))):
        with _started(tmp_path / name, file_size, fsync) as db:
            write(db, _writes())
    apart, together = _files(tmp_path / "apart"), _files(tmp_path / "together")
    assert len(apart) > (2 if file_size == 100 else 1)
    assert together == apart
    with OurDB(tmp_path / "together", file_size=file_size) as db:
        assert db.get_history(4) == [b"four v3", b"four v2" * 20, b"four v1"]
        assert db.get(5) == b"five v1, after seven" and not db.exists(6)
        assert db.next_id == 40 and db.check().ok


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Write(6, b"no such id"), RecordNotFoundError),  # a new version of an id that holds no record
        (Write(2, b"handed out", new=True), InvalidIdError),  # an id below the next one
        (Write(5, b"taken", new=True, fill_gap=True), InvalidIdError),  # holds a record (this batch's)
        (Write(9, b""), RecordTooLargeError),
        (Write(9, b"x" * 70_000), RecordTooLargeError),
        (Write(3_000_000, b"too far", new=True), InvalidIdError),
    ],
)
def test_a_batch_one_write_of_which_would_be_refused_writes_nothing(
    tmp_path: Path, bad: Write, error: type[Exception]
) -> None:
    with _started(tmp_path, 1 << 20) as db:
        before = _files(tmp_path)
        with pytest.raises(error):
            db.write_many([Write(5, b"five", new=True), Write(1, b"one v2"), bad, Write(2, b"two v2")])
        db.sync()
        assert _files(tmp_path) == before
        assert db.next_id == 4 and db.get(1) == b"one"
        db.write_many([Write(5, b"five", new=True), Write(1, b"one v2")])  # and it goes on
        assert db.get(5) == b"five" and db.get_history(1) == [b"one v2", b"one"]


def test_no_reader_sees_a_record_of_the_batch_before_its_bytes_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup entries are set after the pwrite: while it runs, a reader gets the versions before."""
    seen: list[tuple[bytes, bool]] = []
    real = diskio.pwrite_exactly

    def watched(fd: int, data: bytes, position: int, where: str, *, undo_append: bool = False) -> None:
        seen.append((db.get(1), db.exists(4)))
        real(fd, data, position, where, undo_append=undo_append)

    with _started(tmp_path, 1 << 20) as db:
        monkeypatch.setattr(db_module, "pwrite_exactly", watched)
        db.write_many([Write(1, b"one v2"), Write(4, b"four", new=True)])
        assert seen == [(b"one", False)]  # one pwrite for the batch, and nothing of it visible before
        assert db.get(1) == b"one v2" and db.get(4) == b"four"


def test_a_batch_the_disk_refuses_leaves_nothing_and_sets_no_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real: Callable[[int, bytes, int], int] = os.pwrite

    def half(fd: int, data: bytes, position: int) -> int:  # the disk takes half the batch, then is full
        return real(fd, data[: len(data) // 2], position)

    with _started(tmp_path, 1 << 20) as db:
        before = _files(tmp_path)
        monkeypatch.setattr(os, "pwrite", half)
        with pytest.raises(StorageError):
            db.write_many([Write(1, b"one v2" * 10), Write(4, b"four" * 10, new=True)])
        monkeypatch.undo()
        db.sync()
        assert _files(tmp_path) == before  # the half written was cut off again
        assert db.get(1) == b"one" and not db.exists(4) and db.next_id == 4
        db.write_many([Write(1, b"one v2"), Write(4, b"four", new=True)])
    with OurDB(tmp_path) as again:
        assert again.get_history(1) == [b"one v2", b"one"] and again.get(4) == b"four" and again.check().ok


def test_a_batch_torn_by_a_crash_is_cut_at_the_next_open_and_can_be_written_again(tmp_path: Path) -> None:
    """Killed mid-write: part of the batch's bytes reached the file, none of its lookup entries did (they
    go out after the data's fsync). The next open cuts the torn bytes; what was there before is intact,
    and the same batch written again (the recorder redoes it: its events were not acked) reads right."""
    db = _started(tmp_path, 1 << 20)
    db.sync()
    end = (tmp_path / "0.db").stat().st_size
    with db.batch():
        db.write_many(_writes())
        torn = end + ((tmp_path / "0.db").stat().st_size - end) // 2
        db._closed = True  # killed before the commit: the lookup entries stay in memory only
        db._release()
    os.truncate(tmp_path / "0.db", torn)  # and only part of the batch's bytes reached the disk
    with OurDB(tmp_path) as again:
        assert again.recovery.truncated_bytes == torn - end
        assert (tmp_path / "0.db").stat().st_size == end
        assert [again.get(i) for i in (1, 2, 3)] == [b"one", b"two", b"three"] and again.next_id == 4
        assert again.check().ok
        again.write_many(_writes())
    with OurDB(tmp_path) as reopened:
        assert reopened.get_history(4) == [b"four v3", b"four v2" * 20, b"four v1"]
        assert reopened.get_history(1) == [b"one v2", b"one"] and reopened.check().ok


def test_lookup_entries_go_out_a_run_of_consecutive_ids_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit writes its lookup entries one pwrite per run of consecutive ids, the table as entry by entry."""
    table = LookupTable(tmp_path / "lookup.idx", 6, deferred=True)
    ids = [1, 2, 3, 7, 8, 10, 40, 41, 42, 43]
    for record_id in reversed(ids):
        table.set(record_id, Location(0, 100 + record_id))
    writes: list[tuple[int, int]] = []
    real = diskio.pwrite_exactly

    def counted(fd: int, data: bytes, position: int, where: str, *, undo_append: bool = False) -> None:
        writes.append((position, len(data)))
        real(fd, data, position, where, undo_append=undo_append)

    monkeypatch.setattr(lookup_module, "pwrite_exactly", counted)
    table.write_entries(table.take_pending())
    table.close()
    assert [(position - 16) // 6 for position, _ in writes[:-1]] == [1, 7, 10, 40]  # then the slot count
    raw = (tmp_path / "lookup.idx").read_bytes()
    expected = bytearray(44 * 6)
    for record_id in ids:
        expected[record_id * 6 : record_id * 6 + 6] = Location(0, 100 + record_id).to_bytes()
    assert raw[16:] == bytes(expected) and int.from_bytes(raw[12:16], "big") == 44
