"""Compaction keeps every live id's history, frees deleted and unreachable records, and survives kill -9."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from heroagent.ourdb import OurDB
from heroagent.ourdb.layout import COMMIT_FILE, NEW_DIR
from tests.conftest import run_python


def fill(path: Path, *, file_size: int = 500 * 1024 * 1024) -> dict[int, list[bytes]]:
    """60 ids with 3 versions each, then 20 of them deleted: returns the expected histories (newest first)."""
    expected: dict[int, list[bytes]] = {}
    with OurDB(path, file_size=file_size) as db:
        ids = db.set_many([f"v0 of record {i} ".encode() * 20 for i in range(60)])
        for version in (1, 2):
            with db.batch():
                for i in ids:
                    db.set(f"v{version} of record {i} ".encode() * 20, id=i)
        for i in ids[::3]:
            db.delete(i)
        for i in db.ids():
            expected[i] = db.get_history(i)
    return expected


def state(path: Path) -> tuple[dict[int, list[bytes]], int]:
    with OurDB(path) as db:
        assert db.check().ok
        return {i: db.get_history(i) for i in db.ids()}, db.next_id


def data_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.db"))


@pytest.mark.parametrize("file_size", [500 * 1024 * 1024, 4096], ids=["one-file", "many-files"])
def test_compaction_keeps_histories_and_ids_and_frees_the_rest(tmp_path: Path, file_size: int) -> None:
    path = tmp_path / "db"
    expected = fill(path, file_size=file_size)
    before = data_bytes(path)
    with OurDB(path, file_size=file_size) as db:
        next_id = db.next_id
        report = db.compact()
        assert (report.ids, report.records) == (40, 120)
        assert {i: db.get_history(i) for i in db.ids()} == expected  # usable at once, same process
        db.set(b"after compaction", id=2)
        new_id = db.set(b"a new record")
    assert new_id == next_id  # ids are never handed out twice
    histories, _ = state(path)
    assert histories[2] == [b"after compaction", *expected[2]]
    assert data_bytes(path) < before * 0.75  # a third of the ids (with all their versions) are gone
    assert not (path / NEW_DIR).exists() and not (path / COMMIT_FILE).exists()


KILLED_COMPACTION = """
import os, signal, sys
from heroagent.ourdb import OurDB
from heroagent.ourdb import layout
stage = sys.argv[2]
layout.stage_hook = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == stage else None
OurDB(sys.argv[1]).compact()
print("not killed")
"""


@pytest.mark.parametrize("stage", ["written", "committed", "swapping"])
def test_compaction_killed_half_way_leaves_a_usable_database(tmp_path: Path, stage: str) -> None:
    path = tmp_path / "db"
    expected = fill(path)
    next_id = state(path)[1]
    result = run_python(KILLED_COMPACTION, str(path), stage)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert (path / NEW_DIR).exists()
    histories, reopened_next_id = state(path)  # the reopen finishes or discards the compaction
    assert histories == expected and reopened_next_id == next_id
    assert not (path / NEW_DIR).exists() and not (path / COMMIT_FILE).exists()
    with OurDB(path) as db:
        assert db.set(b"still writable") == next_id


def test_readonly_open_of_an_interrupted_compaction_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "db"
    fill(path)
    assert run_python(KILLED_COMPACTION, str(path), "committed").returncode == -signal.SIGKILL
    with pytest.raises(Exception, match="compaction was interrupted; open the database for writing once"):
        OurDB(path, readonly=True)
