"""Compaction beside live writers and readers (issue 13, item 4): writes and reads go on while the copy
is written; what changed meanwhile is in the result; the locks are held only at the start and the end."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from heroagent.ourdb import OurDB, RecordNotFoundError


def test_writes_during_a_compaction_are_kept_and_deletes_stay_deleted(tmp_path: Path) -> None:
    db = OurDB(tmp_path / "db", fsync="batch")
    try:
        expected: dict[int, list[bytes]] = {}
        with db.batch():
            for i in range(20_000):
                rid = db.set(b"v1-%d" % i)
                db.set(b"v2-%d" % i, id=rid)
                expected[rid] = [b"v2-%d" % i, b"v1-%d" % i]
        for rid in list(expected)[::3]:  # garbage for the compaction to drop
            db.delete(rid)
            del expected[rid]
        stop = threading.Event()
        writes = [0]
        read_while = [0.0]

        def writer() -> None:
            n = 0
            ids = list(expected)
            while not stop.is_set():
                rid = ids[n % len(ids)]
                if n % 50 == 49:
                    db.delete(rid)
                    expected.pop(rid, None)
                elif rid in expected:
                    data = b"live-%d" % n
                    db.set(data, id=rid)
                    expected[rid].insert(0, data)
                new = db.set(b"new-%d" % n)
                expected[new] = [b"new-%d" % n]
                n += 1
            writes[0] = n

        def reader() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                db.get(1 if 1 in expected else next(iter(expected)))
                read_while[0] = max(read_while[0], time.perf_counter() - started)

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        report = db.compact()
        stop.set()
        for thread in threads:
            thread.join()
        assert writes[0] > 0  # the writer went on during the copy
        assert report.ids > 0
        for rid, versions in expected.items():
            assert db.get_history(rid) == versions, rid
        deleted = [rid for rid in range(1, db.next_id) if rid not in expected]
        for rid in deleted:
            try:
                db.get(rid)
            except RecordNotFoundError:
                continue
            raise AssertionError(f"deleted id {rid} came back")
        assert db.check().ok
    finally:
        db.close()
    with OurDB(tmp_path / "db") as again:  # and it reopens as it was
        for rid, versions in list(expected.items())[:500]:
            assert again.get_history(rid) == versions
