"""A full disk under OurDB (issue 10, item 3): a write the disk refuses is an error, leaves no half record,
and the database goes on when space returns. On a real tmpfs that fills up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heroagent.ourdb import OurDB, StorageError
from tests.conftest import fill_disk


def test_a_full_disk_is_an_error_with_nothing_half_written(small_disk: Path) -> None:
    db_path = small_disk / "db"
    filler = fill_disk(small_disk, leave=64 * 1024)
    stored: dict[int, bytes] = {}
    record = os.urandom(3000)
    with OurDB(db_path) as db:
        with pytest.raises(StorageError, match="disk is full") as info:
            while True:
                record_id = db.set(record)
                stored[record_id] = record
        assert info.value.errno is not None
        size = (db_path / "0.db").stat().st_size
        assert (size - 1) % (12 + len(record)) == 0, "a refused write left part of a record behind"
        assert len(stored) > 5
        for record_id, data in stored.items():  # every acknowledged record is intact
            assert db.get(record_id) == data
        with pytest.raises(StorageError):
            db.set(record)  # still full: refused again, and again nothing is left behind
        assert (db_path / "0.db").stat().st_size == size
        filler.unlink()  # space returns: the same open database goes on
        after = db.set(b"after")
        assert db.get(after) == b"after" and after == max(stored) + 1
    with OurDB(db_path) as again:  # and a reopen finds everything
        assert again.recovery.changed is False or again.check().ok
        assert again.check().ok and len(again.ids()) == len(stored) + 1
        assert all(again.get(i) == d for i, d in stored.items())
