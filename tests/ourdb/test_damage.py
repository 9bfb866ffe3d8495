"""Damaged files keep what is intact (issue 10, item 12), each repro as written in the issue, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heroagent.ourdb import CorruptRecordError, OurDB, OurDBError


def make_db(path: Path, ids: int = 20, versions: int = 3) -> dict[int, list[bytes]]:
    """`ids` ids with `versions` versions each, closed cleanly; returns their histories, newest first."""
    histories: dict[int, list[bytes]] = {}
    with OurDB(path, file_size=4096) as db:
        for _ in range(ids):
            record_id = db.set(b"v1 " * 30)
            histories[record_id] = [b"v1 " * 30]
        for version in range(2, versions + 1):
            for record_id in histories:
                data = f"v{version} of {record_id} ".encode() * 10
                db.set(data, id=record_id)
                histories[record_id].insert(0, data)
    return histories


def newest_file(path: Path) -> Path:
    return max(path.glob("*.db"), key=lambda p: int(p.stem))


def test_a_newest_record_cut_after_a_clean_close_falls_back_and_the_tail_is_repaired(tmp_path: Path) -> None:
    histories = make_db(tmp_path)
    last = newest_file(tmp_path)
    last.write_bytes(last.read_bytes()[:-7])  # the newest record loses its end
    with OurDB(tmp_path, file_size=4096) as db:
        damaged = db.recovery.fell_back_ids
        assert len(damaged) == 1 and db.recovery.truncated_bytes > 0 and not db.recovery.dropped_ids
        assert db.get(damaged[0]) == histories[damaged[0]][1]  # its previous version, intact
        new = db.set(b"after the repair")
        assert db.get(new) == b"after the repair" and new == max(histories) + 1
        assert db.check().ok, db.check().problems
    with OurDB(tmp_path, file_size=4096) as db:
        assert not db.recovery.changed  # a clean close since: nothing to repair
        assert all(db.get(i) == h[0] for i, h in histories.items() if i not in damaged)


def test_garbage_after_a_clean_close_is_cut_before_the_next_write(tmp_path: Path) -> None:
    histories = make_db(tmp_path)
    last = newest_file(tmp_path)
    size = last.stat().st_size
    with last.open("ab") as f:
        f.write(b"\x07" * 40)  # a torn tail the next write would have landed after
    with OurDB(tmp_path, file_size=4096) as db:
        assert db.recovery.truncated_bytes == 40 and last.stat().st_size <= size + 4096
        new = db.set(b"next")
        assert db.get(new) == b"next" and db.check().ok
    assert all(OurDB(tmp_path, readonly=True).get(i) == h[0] for i, h in histories.items())


def test_a_crc_bad_newest_version_reads_the_newest_intact_one(tmp_path: Path) -> None:
    histories = make_db(tmp_path, ids=3)
    last = newest_file(tmp_path)
    raw = bytearray(last.read_bytes())
    raw[-3] ^= 0xFF  # same size: the clean-close record still matches; the damage shows at read
    last.write_bytes(bytes(raw))
    with OurDB(tmp_path, file_size=4096) as db:
        victim = max(histories)
        with pytest.raises(CorruptRecordError, match="CRC32"):
            db.get(victim)
        assert db.get_intact(victim) == histories[victim][1]
        assert db.get_history(victim, intact=True) == histories[victim][1:]


def test_a_bad_older_version_ends_the_history_there(tmp_path: Path) -> None:
    histories = make_db(tmp_path, ids=1, versions=4)
    raw = bytearray((tmp_path / "0.db").read_bytes())
    first = raw.find(b"v1 ")
    raw[first] ^= 0xFF  # version 1 is damaged; 2..4 are intact
    (tmp_path / "0.db").write_bytes(bytes(raw))
    with OurDB(tmp_path, file_size=4096) as db:
        assert db.get_history(1, intact=True) == histories[1][:3]
        with pytest.raises(CorruptRecordError):
            db.get_history(1)
        report = db.check()
        assert not report.ok and "CRC32" in report.problems[0]


def damage_lookup(path: Path, how: str) -> None:
    lookup = path / "lookup.idx"
    if how == "cut":
        lookup.write_bytes(lookup.read_bytes()[:-6])  # the last id's entry is gone
    elif how == "emptied":
        lookup.write_bytes(b"")
    else:
        lookup.unlink()


@pytest.mark.parametrize("damage", ["cut", "emptied", "deleted"])
def test_a_damaged_lookup_table_is_noticed_and_rebuilt_from_the_data_files(tmp_path: Path, damage: str) -> None:
    """A shortened lookup.idx lost the last id (and handed its id out again); an emptied one lost every id
    while `check` said ok. Both are noticed; with no deletes the order of the records gives the ids."""
    histories = make_db(tmp_path)
    damage_lookup(tmp_path, damage)
    if damage == "cut":
        report = OurDB(tmp_path, readonly=True).check()
        assert not report.ok and "cut short" in report.problems[0]  # check says so before any repair
    with OurDB(tmp_path, file_size=4096) as db:
        assert db.recovery.rebuilt_lookup
        assert sorted(db.ids()) == sorted(histories)
        assert all(db.get_history(i) == h for i, h in histories.items())
        assert db.set(b"new") == 21  # no id handed out twice
        assert db.check().ok, db.check().problems


def test_with_deletes_the_ids_must_come_from_the_records(tmp_path: Path) -> None:
    make_db(tmp_path)
    with OurDB(tmp_path) as db:
        db.delete(5)
    damage_lookup(tmp_path, "emptied")
    with pytest.raises(OurDBError, match=r"cannot be rebuilt from the data files.*Restore lookup.idx from a backup"):
        OurDB(tmp_path)
    assert OurDB(tmp_path, readonly=True).check().problems  # and check does not say ok


def test_ids_come_from_the_records_when_they_say_them(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        for i in range(1, 6):
            db.set(json.dumps({"jobid": i}).encode())
        db.delete(2)
        db.delete(3)
        db.set(json.dumps({"jobid": 4, "v": 2}).encode(), id=4)
    (tmp_path / "lookup.idx").write_bytes(b"")
    with OurDB(tmp_path, id_of=lambda data: int(json.loads(data)["jobid"])) as db:
        assert db.ids() == [1, 4, 5] and json.loads(db.get(4)) == {"jobid": 4, "v": 2}
        assert db.set(b'{"jobid": 6}') == 6


def test_a_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    make_db(tmp_path)
    assert (tmp_path / "1.db").exists()
    (tmp_path / "0.db").unlink()
    with pytest.raises(OurDBError, match=r"0\.db missing.*restore them from a backup"):
        OurDB(tmp_path, file_size=4096)
    assert not (tmp_path / "0.db").exists()  # nothing was re-created in its place


def test_a_missing_only_data_file_is_a_clear_error(tmp_path: Path) -> None:
    with OurDB(tmp_path) as db:
        db.set(b"one")
    (tmp_path / "0.db").unlink()
    with pytest.raises(OurDBError, match=r"0\.db missing"):
        OurDB(tmp_path)


@pytest.mark.parametrize(
    ("victim", "garbage"),
    [
        ("ourdb.json", b"this is not the metadata of an OurDB!!!!!"),  # 41 bytes, as the attack wrote
        ("ourdb.json", b"[1, 2, 3]"),
        ("ourdb.json", b"\xff\xfe\x00garbage"),
        ("lookup.idx", b"\x00garbage header\x00" * 4),
    ],
)
def test_a_garbage_metadata_or_lookup_header_is_set_aside_and_rebuilt_not_a_refused_start(
    tmp_path: Path, victim: str, garbage: bytes
) -> None:
    """Issue 31, item 1: a missing ourdb.json or lookup.idx was rebuilt, a garbage one refused the open."""
    histories = make_db(tmp_path)
    target = tmp_path / victim
    original = target.read_bytes()
    target.write_bytes(garbage + original[len(garbage) :] if victim == "lookup.idx" else garbage)
    with OurDB(tmp_path, file_size=4096) as db:
        assert {i: db.get(i) for i in histories} == {i: h[0] for i, h in histories.items()}
        assert db.set(b"after") == max(histories) + 1  # no id handed out twice
    assert list(tmp_path.glob(f"{victim}.broken-*")), "the damaged file is kept aside for a look"
    if victim == "ourdb.json":
        assert json.loads(target.read_text())["version"]
    with pytest.raises(OurDBError):  # a reader never repairs: it says what is wrong
        target.write_bytes(garbage + original[len(garbage) :] if victim == "lookup.idx" else garbage)
        OurDB(tmp_path, file_size=4096, readonly=True)
