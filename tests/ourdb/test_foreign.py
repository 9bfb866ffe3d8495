"""Folders herolib wrote (issue 11, item 2): imported without changing a byte of their data files.

The fixtures are written here byte by byte as `../shared/reference/ourdb-format.md` documents herolib's
writer (the first test checks that writer against the reference's verified bytes).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from heroagent.ourdb import OurDB, OurDBError
from heroagent.ourdb.foreign import ForeignDatabaseError, import_foreign
from tests.conftest import REPO


class HerolibWriter:
    """herolib's OurDB writer as the reference describes it: records, prev pointers, zeroing deletes,
    rotation at file_size, and its sparse lookup export with the next id in `<export>.inc`."""

    def __init__(self, folder: Path, file_size: int = 500 * 1024 * 1024) -> None:
        self.folder = folder
        self.file_size = file_size
        self.lookup: dict[int, tuple[int, int]] = {}
        self.next_id = 1
        self.file_nr = 0
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "0.db").write_bytes(b"\x00")

    def _append(self, data: bytes, prev: tuple[int, int]) -> tuple[int, int]:
        path = self.folder / f"{self.file_nr}.db"
        if path.stat().st_size >= self.file_size:
            self.file_nr += 1
            path = self.folder / f"{self.file_nr}.db"
            path.write_bytes(b"\x00")
        position = path.stat().st_size
        header = (
            len(data).to_bytes(2, "little")
            + zlib.crc32(data).to_bytes(4, "little")
            + prev[0].to_bytes(2, "big")
            + prev[1].to_bytes(4, "big")
        )
        with open(path, "ab") as f:
            f.write(header + data)
        return self.file_nr, position

    def set(self, data: bytes, record_id: int | None = None) -> int:
        if record_id is None:
            record_id, self.next_id = self.next_id, self.next_id + 1
            self.lookup[record_id] = self._append(data, (0, 0))
        else:
            self.lookup[record_id] = self._append(data, self.lookup[record_id])
        return record_id

    def delete(self, record_id: int) -> None:
        file_nr, position = self.lookup.pop(record_id)
        path = self.folder / f"{file_nr}.db"
        raw = bytearray(path.read_bytes())
        size = int.from_bytes(raw[position : position + 2], "little")
        raw[position : position + 12 + size] = bytes(12 + size)
        path.write_bytes(bytes(raw))

    def export_sparse(self, path: Path, keysize: int = 6) -> None:
        out = b""
        for record_id, (file_nr, position) in sorted(self.lookup.items()):
            location = (
                (file_nr.to_bytes(2, "big") + position.to_bytes(4, "big"))
                if keysize == 6
                else (position.to_bytes(keysize, "big"))
            )
            out += record_id.to_bytes(4, "little") + location
        path.write_bytes(out)
        path.with_name(path.name + ".inc").write_text(str(self.next_id))


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.db"))}


def ourdb_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heroagent", "ourdb", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_the_fixture_writer_writes_the_reference_bytes(tmp_path: Path) -> None:
    herolib = HerolibWriter(tmp_path / "h")
    assert herolib.set(b"hello") == 1 and herolib.set(b"second") == 2
    herolib.set(b"world!", 1)
    expected = bytes.fromhex(
        "00" + "0500" + "86a61036" + "000000000000" + "68656c6c6f"
        "0600" + "69111fb6" + "000000000000" + "7365636f6e64"
        "0600" + "e8988471" + "000000000001" + "776f726c6421"
    )
    assert (tmp_path / "h" / "0.db").read_bytes() == expected
    with OurDB(tmp_path / "ours") as ours:  # and HeroAgent writes the same bytes
        ours.set(b"hello"), ours.set(b"second"), ours.set(b"world!", id=1)
    assert (tmp_path / "ours" / "0.db").read_bytes() == expected


def test_a_folder_of_data_files_imports_with_every_version_and_no_byte_changed(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder, file_size=60)  # legal in herolib: almost every record starts a file
    ids = [herolib.set(f"record {n}".encode()) for n in range(1, 8)]
    herolib.set(b"record 2, second version", 2)
    herolib.set(b"record 5, second version", 5)
    herolib.set(b"record 2, third version", 2)
    assert len(list(folder.glob("*.db"))) > 3
    before = checksums(folder)

    report = import_foreign(folder)
    assert (report.ids, report.records, report.next_id, report.source) == (7, 10, 8, "data files")
    assert checksums(folder) == before
    with OurDB(folder, file_size=60) as db:
        assert db.ids() == ids
        assert db.get_history(2) == [b"record 2, third version", b"record 2, second version", b"record 2"]
        assert db.get_history(5) == [b"record 5, second version", b"record 5"]
        assert db.get(7) == b"record 7"
        assert db.check().ok
        assert db.set(b"new here") == 8  # the next id, never one herolib gave
    after = checksums(folder)
    assert all(after[name] == digest for name, digest in before.items() if name != max(before))
    newest = max(before, key=lambda n: int(n.split(".")[0]))
    grown = (folder / newest).read_bytes()
    assert hashlib.sha256(grown[: len(grown)]).hexdigest() == after[newest]  # appended after, never rewritten


def test_a_plain_open_is_refused_and_names_the_import(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder)
    herolib.set(b"hello")
    listing = sorted(p.name for p in folder.iterdir())
    for readonly in (False, True):
        with pytest.raises(ForeignDatabaseError, match="heroagent ourdb import"):
            OurDB(folder, readonly=readonly)
    assert sorted(p.name for p in folder.iterdir()) == listing  # nothing written, no empty table made
    checked = ourdb_cli("check", str(folder))
    assert checked.returncode == 0, checked.stderr
    assert "1 intact record(s)" in checked.stdout and "would give 1 id(s)" in checked.stdout
    imported = ourdb_cli("import", str(folder))
    assert imported.returncode == 0 and "imported 1 id(s)" in imported.stdout, imported.stderr
    again = ourdb_cli("import", str(folder))
    assert again.returncode == 2 and "already a HeroAgent OurDB" in again.stderr


def test_deleted_records_make_the_ids_ambiguous_without_the_export(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder)
    for n in range(1, 6):
        herolib.set(f"r{n}".encode())
    herolib.delete(2)  # its only version zeroed: the records after it can no longer be counted
    before = checksums(folder)
    with pytest.raises(ForeignDatabaseError, match=r"zeroed or damaged stretch.*0\.db:\d+.*--export"):
        import_foreign(folder)
    checked = ourdb_cli("check", str(folder))
    assert checked.returncode == 1 and "zeroed or damaged" in checked.stdout
    assert not (folder / "lookup.idx").exists() and checksums(folder) == before

    herolib.export_sparse(folder / "lookup")  # herolib's own table says which id is where
    report = import_foreign(folder)
    assert (report.ids, report.next_id) == (4, 6) and report.source == "lookup export lookup"
    assert checksums(folder) == before
    with OurDB(folder) as db:
        assert db.ids() == [1, 3, 4, 5] and db.get(4) == b"r4"
        assert db.set(b"r6") == 6


@pytest.mark.parametrize("keysize", [2, 3, 4, 6])
def test_the_export_is_read_with_each_key_size(tmp_path: Path, keysize: int) -> None:
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder)
    for n in range(1, 4):
        herolib.set(f"value {n}".encode())
    herolib.set(b"value 1, again", 1)
    herolib.delete(3)
    herolib.export_sparse(folder / "export.bin", keysize=keysize)
    report = import_foreign(folder, keysize=keysize)
    assert report.ids == 2
    with OurDB(folder) as db:
        assert db.get_history(1) == [b"value 1, again", b"value 1"]
        assert db.ids() == [1, 2]


def test_a_wrong_export_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder)
    herolib.set(b"one")
    (folder / "lookup").write_bytes((1).to_bytes(4, "little") + bytes([0, 0, 0, 0, 0, 99]))  # points nowhere
    (folder / "lookup.inc").write_text("2")
    with pytest.raises(ForeignDatabaseError, match="do not point at intact records"):
        import_foreign(folder)
    (folder / "lookup.inc").write_text("not a number")
    with pytest.raises(ForeignDatabaseError, match="not readable decimal text"):
        import_foreign(folder)


def test_recovery_never_cuts_bytes_this_session_did_not_write(tmp_path: Path) -> None:
    """The issue's find: a copy opened for writing and killed before writing anything made the next
    open's recovery cut a herolib data file from 25 bytes to 1."""
    folder = tmp_path / "h"
    herolib = HerolibWriter(folder)
    herolib.set(b"hello")
    herolib.set(b"hello again")
    import_foreign(folder)
    before = checksums(folder)
    code = f"from heroagent.ourdb import OurDB; import os; db = OurDB({str(folder)!r}); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    with OurDB(folder) as db:  # recovers after the unclean stop
        assert db.get(2) == b"hello again"
    assert checksums(folder) == before


def test_small_file_sizes_are_accepted(tmp_path: Path) -> None:
    with OurDB(tmp_path / "db", file_size=1) as db:
        ids = [db.set(f"x{n}".encode()) for n in range(3)]
        assert [db.get(i) for i in ids] == [b"x0", b"x1", b"x2"]
    # As in herolib: 0.db (its first byte) has reached file_size before the first write, so each record
    # goes to a file of its own after it.
    assert sorted(p.name for p in (tmp_path / "db").glob("*.db")) == ["0.db", "1.db", "2.db", "3.db"]
    with pytest.raises(ValueError, match="file_size"):
        OurDB(tmp_path / "bad", file_size=0)
    assert issubclass(ForeignDatabaseError, OurDBError)
