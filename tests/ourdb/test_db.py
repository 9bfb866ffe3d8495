"""OurDB against real files: the reference's bytes, persistence, history, crashes and corruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from heroagent.ourdb import (
    CorruptRecordError,
    DatabaseLockedError,
    OurDB,
    RecordNotFoundError,
    RecordTooLargeError,
)
from heroagent.ourdb.__main__ import main as ourdb_main
from tests.conftest import REPO, run_python


def test_bytes_match_the_reference(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        assert db.set(b"hello") == 1
        raw = (tmp_path / "0.db").read_bytes()
        assert raw[0] == 0
        assert raw[1:18] == bytes.fromhex("0500 86a61036 000000000000") + b"hello"
        assert db.set(b"world!", id=1) == 1
        raw = (tmp_path / "0.db").read_bytes()
        assert raw[18:36] == bytes.fromhex("0600 e8988471 000000000001") + b"world!"


def test_reference_three_record_example(tmp_path: Path) -> None:
    """The verified dump in shared/reference/ourdb-format.md, byte for byte."""
    with OurDB(tmp_path) as db:
        db.set(b"hello")
        assert db.set(b"second") == 2
        db.set(b"world!", id=1)
    expected = bytes.fromhex(
        "00"
        "0500 86a61036 000000000000 68656c6c6f"
        "0600 69111fb6 000000000000 7365636f6e64"
        "0600 e8988471 000000000001 776f726c6421"
    )
    assert (tmp_path / "0.db").read_bytes() == expected


def test_reopen_keeps_ids_and_next_id(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        ids = [db.set(f"r{i}".encode()) for i in range(10)]
        db.delete(10)
    assert ids == list(range(1, 11))
    with OurDB(tmp_path) as db:
        assert db.get(3) == b"r2"
        assert not db.exists(10)
        assert db.next_id == 11, "a deleted newest id is never handed out again"
        assert db.set(b"new") == 11
        assert db.ids() == [*range(1, 10), 11]
        assert db.ids(reverse=True)[0] == 11


@pytest.mark.parametrize("keysize", [2, 3, 4, 6])
def test_history_works_for_every_keysize(tmp_path: Path, keysize: int) -> None:
    with OurDB(tmp_path, keysize=keysize) as db:
        a = db.set(b"v1")
        b = db.set(b"other")
        db.set(b"v2", id=a)
        db.set(b"v3", id=a)
        assert db.get_history(a) == [b"v3", b"v2", b"v1"]
        assert db.get_history(a, 2) == [b"v3", b"v2"]
        assert db.get_history(b) == [b"other"]
    with OurDB(tmp_path) as db:
        assert db.keysize == keysize
        assert db.get_history(a) == [b"v3", b"v2", b"v1"]


def test_keysize_mismatch_on_reopen_is_clear(tmp_path: Path) -> None:
    OurDB(tmp_path, keysize=4).close()
    with pytest.raises(Exception, match="created with keysize 4"):
        OurDB(tmp_path, keysize=6)


def test_small_keysize_says_when_full(tmp_path: Path) -> None:
    from heroagent.ourdb import DatabaseFullError

    with OurDB(tmp_path, keysize=2, fsync="never") as db, pytest.raises(DatabaseFullError, match="keysize=6"):
        for _ in range(2000):
            db.set(b"x" * 100)


def test_rotation_and_reopen_never_truncates(tmp_path: Path) -> None:
    with OurDB(tmp_path, file_size=1000) as db:
        ids = [db.set(bytes([i]) * 200) for i in range(20)]
        db.set(b"updated", id=ids[0])
    files = sorted(tmp_path.glob("*.db"))
    assert len(files) > 3
    sizes = {p.name: p.stat().st_size for p in files}
    assert all(p.read_bytes()[0] == 0 for p in files), "every data file starts with one 0x00 byte"
    with OurDB(tmp_path, file_size=1000) as db:
        assert {p.name: p.stat().st_size for p in sorted(tmp_path.glob("*.db"))} == sizes
        for i, record_id in enumerate(ids[1:], start=1):
            assert db.get(record_id) == bytes([i]) * 200
        assert db.get_history(ids[0]) == [b"updated", bytes([0]) * 200]


def test_update_of_unknown_id_fails_clearly(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"a")
        with pytest.raises(RecordNotFoundError, match="id 7: it was never inserted"):
            db.set(b"x", id=7)
        db.delete(1)
        with pytest.raises(RecordNotFoundError, match="id 1: it was deleted"):
            db.set(b"x", id=1)
        with pytest.raises(RecordNotFoundError, match="no record with id 1"):
            db.get(1)


def test_record_size_limits(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        record_id = db.set(b"x" * 65535)
        assert len(db.get(record_id)) == 65535
        with pytest.raises(RecordTooLargeError, match="65536 bytes is too large"):
            db.set(b"x" * 65536)
        with pytest.raises(RecordTooLargeError, match="empty"):
            db.set(b"")


def test_delete_zeroes_the_newest_record(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"hello")
        db.delete(1)
        assert (tmp_path / "0.db").read_bytes() == bytes(18)
        assert db.ids() == []


def test_key_value_mode(tmp_path: Path) -> None:
    with OurDB(tmp_path, incremental_mode=False) as db:
        db.set(b"a", id=42)
        db.set(b"b", id=42)
        assert db.get_history(42) == [b"b", b"a"]
        with pytest.raises(ValueError, match="needs an id"):
            db.set(b"c")
    with pytest.raises(Exception, match="incremental_mode=False"):
        OurDB(tmp_path)


def test_lookup_file_grows_with_ids_not_with_a_maximum(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"one")
    assert (tmp_path / "lookup.idx").stat().st_size == 16 + 2 * 6


def test_crc_mismatch_names_id_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"hello")
        db.set(b"world")
    raw = bytearray((tmp_path / "0.db").read_bytes())
    raw[1 + 12 + 17 + 2] ^= 0xFF  # a byte of "world"
    (tmp_path / "0.db").write_bytes(bytes(raw))
    with OurDB(tmp_path) as db:
        assert db.get(1) == b"hello"
        with pytest.raises(CorruptRecordError, match=r"id 2 in 0\.db at position 18 is corrupt"):
            db.get(2)
    assert ourdb_main(["check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "id 2" in out and "1 problem(s)" in out


def test_check_cli_on_a_good_database(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"a")
        db.set(b"b", id=1)
    result = subprocess.run(
        [sys.executable, "-m", "heroagent.ourdb", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "1 ids, 2 records checked: ok" in result.stdout


def test_second_writer_process_is_refused(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"mine")
        result = run_python(
            "import sys; from heroagent.ourdb import OurDB, DatabaseLockedError\n"
            "try:\n    OurDB(sys.argv[1])\nexcept DatabaseLockedError as e:\n    print(e); sys.exit(3)\n",
            str(tmp_path),
        )
        assert result.returncode == 3, result.stderr
        assert f"pid {os.getpid()}" in result.stdout
        # A reader may still look while the writer runs.
        with OurDB(tmp_path, readonly=True) as reader:
            assert reader.get(1) == b"mine"
        assert db.get(1) == b"mine"


def test_lock_is_released_on_close(tmp_path: Path) -> None:
    OurDB(tmp_path).close()
    with OurDB(tmp_path) as db:
        db.set(b"x")
    with pytest.raises(DatabaseLockedError), OurDB(tmp_path), OurDB(tmp_path):
        pass


def _simulate_crash(tmp_path: Path) -> None:
    """Leave the database as a killed writer would: open (dirty marker present), lock released."""
    db = OurDB(tmp_path)
    db.set(b"first")
    db.set(b"second")
    db.set(b"first v2", id=1)
    db.sync()
    db._release()  # drop fds and the lock without the clean-close steps


def test_torn_tail_record_is_dropped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _simulate_crash(tmp_path)
    data = tmp_path / "0.db"
    good_size = data.stat().st_size
    with data.open("ab") as f:  # half a record: a header promising 100 bytes, then 10
        f.write(bytes.fromhex("6400 00000000 000000000000") + b"x" * 10)
    with (tmp_path / "lookup.idx").open("ab") as f:
        f.write(b"\x00\x00\x00")  # half a lookup entry
    with OurDB(tmp_path) as db:
        assert db.recovery.truncated_bytes == 22
        assert db.recovery.torn_lookup_bytes == 3
        assert db.get(1) == b"first v2"
        assert db.get_history(1) == [b"first v2", b"first"]
        assert db.get(2) == b"second"
        assert db.set(b"third") == 3
    assert "recovered after an unclean stop" in caplog.text
    assert data.stat().st_size == good_size + 12 + 5


def test_lookup_entry_pointing_past_valid_data_is_dropped(tmp_path: Path) -> None:
    _simulate_crash(tmp_path)
    # id 3's entry points at position 500 of 0.db, past the end (the data never reached the disk).
    with (tmp_path / "lookup.idx").open("r+b") as f:
        f.seek(16 + 3 * 6)
        f.write(bytes.fromhex("0000000001f4"))
    with OurDB(tmp_path) as db:
        assert db.recovery.dropped_ids == [3]
        assert not db.exists(3)
        assert db.get(2) == b"second"
        assert db.set(b"next") == 4


def test_a_damaged_newest_record_falls_back_to_the_older_version(tmp_path: Path) -> None:
    """The newest record's bytes are damaged (written out of order): the id keeps its intact older
    version (issue 10, item 12: the whole job used to be dropped)."""
    _simulate_crash(tmp_path)
    raw = bytearray((tmp_path / "0.db").read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / "0.db").write_bytes(bytes(raw))
    with OurDB(tmp_path) as db:
        assert db.recovery.dropped_ids == [] and db.recovery.fell_back_ids == [1]
        assert db.get(1) == b"first" and db.get_history(1) == [b"first"]
        assert db.get(2) == b"second"
        assert db.set(b"v3", id=1) and db.get_history(1) == [b"v3", b"first"]


WRITER = """
import sys
from heroagent.ourdb import OurDB
db = OurDB(sys.argv[1], file_size=int(sys.argv[2]))
i = 0
while True:
    i += 1
    payload = (b"%d:" % i) * (1 + i % 50)
    rid = db.set(payload)
    if i % 3 == 0:
        db.set(payload + b"+", id=rid)
    sys.stdout.write(f"{rid}\\n")
    sys.stdout.flush()
"""


@pytest.mark.parametrize("file_size", [1 << 30, 20_000])
def test_writer_killed_mid_write_loses_nothing_acknowledged(tmp_path: Path, file_size: int) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(file_size)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    stop_at = time.monotonic() + 1.5

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged.append(int(line))

    reader = threading.Thread(target=read)
    reader.start()
    while time.monotonic() < stop_at or len(acknowledged) < 50:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join()
    assert (tmp_path / "ourdb.dirty").exists()
    with OurDB(tmp_path, file_size=file_size) as db:
        for rid in acknowledged:
            payload = (b"%d:" % rid) * (1 + rid % 50)
            expected = payload + b"+" if rid % 3 == 0 else payload
            assert db.get(rid) == expected
        assert db.next_id > acknowledged[-1]
        report = db.check()
        assert report.ok, report.problems


def test_group_commit_from_many_threads(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        results: dict[int, bytes] = {}
        lock = threading.Lock()

        def work(n: int) -> None:
            for i in range(200):
                data = f"{n}-{i}".encode()
                rid = db.set(data)
                db.set(data + b"!", id=rid)
                with lock:
                    results[rid] = data + b"!"

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 800
    with OurDB(tmp_path) as db:
        for rid, data in results.items():
            assert db.get(rid) == data
            assert len(db.get_history(rid)) == 2


def test_batch_commits_once(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        ids = db.set_many([b"a", b"b", b"c"])
        assert ids == [1, 2, 3]
        with db.batch():
            db.set(b"d")
            db.set(b"a2", id=1)
        assert db.get(1) == b"a2"
    with OurDB(tmp_path) as db:
        assert db.get(4) == b"d"


def test_insert_at_fills_an_empty_id_below_next_id_only_when_asked(tmp_path: Path) -> None:
    """The job history's ids come from Redis: a job's first version can arrive after a later job's."""
    from heroagent.ourdb import InvalidIdError

    with OurDB(tmp_path) as db:
        db.insert_at(b"one", 1)
        db.insert_at(b"three", 3)  # 2 skipped: its job's first version is not here yet
        with pytest.raises(InvalidIdError, match="handed out already"):
            db.insert_at(b"two", 2)
        assert db.insert_at(b"two", 2, fill_gap=True) == 2
        with pytest.raises(InvalidIdError, match="holds a record"):
            db.insert_at(b"again", 1, fill_gap=True)  # never over a record
        db.set(b"two, v2", id=2)
        assert db.next_id == 4
    with OurDB(tmp_path) as db:  # as kept on disk
        assert db.get(2) == b"two, v2" and db.get_history(2) == [b"two, v2", b"two"]
        assert db.ids() == [1, 2, 3] and db.next_id == 4
        assert db.set(b"four") == 4
