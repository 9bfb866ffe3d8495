"""The history's index (issue 13): kept level with OurDB through crashes, rebuilt when lost or damaged,
built once for a history written before it existed, and right after retention and compaction."""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.history_fill import fill_history
from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.jobs.history.history_index import Filters, IndexRow, SqliteHistoryIndex, match_query
from heroagent.jobs.history.store import JobStore
from heroagent.jobs.model import Job
from tests.conftest import child_env, make_config, wait_until


def agrees(store: JobStore) -> None:
    """The index lists exactly the jobs OurDB has, each with its newest version's status and topic."""
    in_db = store.db.ids()
    listed = sorted(store.index.list_ids(Filters(), limit=10**9))
    assert listed == in_db
    for job_id in in_db:
        job, row = store.get(job_id), store.index.row(job_id)
        assert row is not None and (row.status, row.topic) == (job.status.value, job.topic), job_id
    assert len(store) == len(in_db)
    assert sum(store.count_by_status().values()) == len(in_db)


CRASH_AFTER_OURDB = """
import os, signal, sys
from pathlib import Path
from heroagent.jobs.history import history_index
from heroagent.jobs.model import Job, JobStatus
from heroagent.jobs.history.store import JobStore

store = JobStore(Path(sys.argv[1]))
jobs = [store.get(i) for i in range(1, 11)]
for job in jobs:
    job.status, job.result_text, job.version = JobStatus.DONE, "finished " + str(job.job_id), job.version + 1
def killed(*args, **kwargs):  # the moment after OurDB committed, before the index could
    os.kill(os.getpid(), signal.SIGKILL)
history_index.SqliteHistoryIndex.put = killed
store.record(jobs)
"""


def test_a_kill_between_the_history_and_its_index_is_caught_up(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = data_dir / "jobsdb"
    store = JobStore(path)
    store.insert([Job(topic="t", params=f"!!fake.return_success message:m{i}") for i in range(20)])
    store.close()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_OURDB, str(path)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    with caplog.at_level(logging.WARNING):
        store = JobStore(path)
    try:
        assert "index was behind; caught up with 10 job(s)" in caplog.text
        assert "building" not in caplog.text  # caught up, not rebuilt
        assert store.count_by_status()["done"] == 10 and store.count_by_status()["new"] == 10
        assert [j.job_id for j in store.list(text="finished 7")] == [7]
        agrees(store)
    finally:
        store.close()


def test_a_lost_or_damaged_index_is_rebuilt_saying_so(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = data_dir / "jobsdb"
    fill_history(path, 300)
    store = JobStore(path)
    index_file = store.index_path
    store.close()
    for damage in ("delete", "garbage"):
        if damage == "delete":
            index_file.unlink()
        else:
            index_file.write_bytes(b"not a database at all" * 500)
            for suffix in ("-wal", "-shm"):
                Path(str(index_file) + suffix).unlink(missing_ok=True)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            store = JobStore(path)
        try:
            assert "building the history's index from 300 job(s)" in caplog.text
            if damage == "garbage":
                assert "is unusable" in caplog.text and list(data_dir.glob("jobsdb.index.sqlite.broken-*"))
            agrees(store)
            assert store.count(status="error") == 3
        finally:
            store.close()


def test_a_history_from_before_the_index_is_indexed_once(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = data_dir / "jobsdb"
    fill_history(path, 200)
    store = JobStore(path)
    index_file = store.index_path
    store.close()
    for suffix in ("", "-wal", "-shm"):  # as HeroAgent before the index left it: OurDB alone
        Path(str(index_file) + suffix).unlink(missing_ok=True)
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"db_path": str(path)})
    with caplog.at_level(logging.WARNING), HeroAgent(config) as agent:
        assert len(agent.get_job_manager().store) == 200
    assert caplog.text.count("building the history's index") == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING), HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        assert len(jm.store) == 200 and jm.store.catch_up() == "level"
    assert "building" not in caplog.text and "caught up" not in caplog.text


def test_retention_and_compaction_while_jobs_are_recorded(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"worker_count": 3})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        old = jm.create_jobs([{"topic": "old", "params": "!!fake.return_success"} for _ in range(60)])
        for job in old:
            jm.wait_for_job(job.job_id, timeout=30)
        time.sleep(0.05)
        cutoff_days = 0.0
        made: list[int] = []
        for round_ in range(3):
            made += [j.job_id for j in jm.create_jobs([{"topic": "new", "params": "!!fake.sleep seconds:0.01"}] * 30)]
            if round_ == 0:
                removed = jm.cleanup_history(cutoff_days)  # retention, through the index
                assert removed["jobs"] >= 60
            elif round_ == 1:  # a compaction while the recorder writes these jobs' versions
                compacting = threading.Thread(target=jm.compact_history)
                compacting.start()
                made += [j.job_id for j in jm.create_jobs([{"topic": "new", "params": "!!fake.return_success"}] * 30)]
                compacting.join(timeout=60)
        finals = [jm.wait_for_job(job_id, timeout=60) for job_id in made]
        assert all(j.status is JobStatus.DONE for j in finals)
        assert wait_until(lambda: jm.store.count(status="done", topic="new") == 120, timeout=20)
        assert jm.store.count(topic="old") == 0
        agrees(jm.store)
    store = JobStore(config.jobs_db_path)  # and it opens level, with nothing to catch up
    try:
        assert store.catch_up() == "level"
        agrees(store)
    finally:
        store.close()


def test_text_search_is_by_word_prefix_and_phrase(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    backup = jm.create_job("nightly", "!!fake.return_error message:'disk full on /backup/tapes'")
    other = jm.create_job("nightly", "!!fake.return_success message:'full moon, disk spinning'")
    for job in (backup, other):
        jm.wait_for_job(job.job_id, timeout=15)
    assert {j.job_id for j in jm.list_jobs(text="back")} == {backup.job_id}  # a word prefix
    assert {j.job_id for j in jm.list_jobs(text="disk full")} == {backup.job_id, other.job_id}  # every word
    assert {j.job_id for j in jm.list_jobs(text='"disk full"')} == {backup.job_id}  # a phrase
    assert {j.job_id for j in jm.list_jobs(text=str(other.job_id))} >= {other.job_id}  # its id
    assert jm.list_jobs(text='AND OR NOT ( " * :') == []  # nothing of the input is query syntax
    assert match_query('a "b c" d-e') == '"a"* AND "b c" AND "d"* AND "e"*'


def test_the_throughput_chart_is_seeded_from_the_history_at_start(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        jobs = jm.create_jobs([{"topic": "t", "params": "!!fake.return_success"}] * 5)
        jobs += jm.create_jobs([{"topic": "t", "params": "!!fake.return_error"}] * 2)
        for job in jobs:
            jm.wait_for_job(job.job_id, timeout=15)
    with HeroAgent(config) as agent:  # a new process would know nothing but what the history says
        stats = agent.get_job_manager().stats
        assert wait_until(lambda: sum(b.done for b in stats.throughput()) == 5, timeout=10)
        assert sum(b.error for b in stats.throughput()) == 2


def test_one_batch_with_several_versions_of_a_job_indexes_its_newest_and_keeps_its_text(data_dir: Path) -> None:
    """The recorder writes every version to OurDB but gives the index one row per job and batch: a job
    created and started in one batch is found by its text while it runs, and a final result without a
    word keeps the text it had (the index is not rewritten for nothing)."""
    store = JobStore(data_dir / "jobsdb")
    try:
        job = Job(topic="t", params="!!fake.wait name:quarterly-report", job_id=store.db.next_id, version=1)
        running = Job(**{**vars(job), "status": JobStatus.ACTIVE, "version": 2, "attempts": 1})
        done = Job(**{**vars(running), "status": JobStatus.DONE, "version": 3, "result_text": '[""]'})
        assert len(store.record([job, running])) == 2
        assert [v.status for v in store.history(job.job_id)] == [JobStatus.NEW, JobStatus.ACTIVE]
        assert [j.job_id for j in store.list(text="quarterly")] == [job.job_id]
        assert store.count_by_status_and_topic() == {(JobStatus.ACTIVE.value, "t"): 1}
        assert len(store.record([running, done])) == 1  # the running version again (a re-read) is skipped
        assert [v.version for v in store.history(job.job_id)] == [1, 2, 3]
        assert [j.status for j in store.list(text="quarterly report")] == [JobStatus.DONE]
    finally:
        store.close()


def test_a_final_state_is_recorded_even_when_redis_handed_its_version_out_again(data_dir: Path) -> None:
    """kill -9 of redis-server with `appendfsync everysec` can lose writes Redis acknowledged, so a job's
    version counter in Redis can fall behind what the history recorded (here: the history has attempt 2
    running at version 4; Redis came back with attempt 1 running at version 2, whose end is version 3).
    That end must not be skipped as 'read again': the history would keep the job running for good. A
    re-read of a state the history already ends with stays skipped."""
    store = JobStore(data_dir / "jobsdb")
    try:
        first = Job(topic="t", params="!!fake.return_success", job_id=store.db.next_id, version=1)
        v2 = Job(**{**vars(first), "status": JobStatus.ACTIVE, "version": 2, "attempts": 1, "worker": "a"})
        v3 = Job(**{**vars(v2), "status": JobStatus.NEW, "version": 3, "worker": "", "error": "attempt 1 lost"})
        v4 = Job(**{**vars(v3), "status": JobStatus.ACTIVE, "version": 4, "attempts": 2, "worker": "b"})
        assert len(store.record([first, v2, v3, v4])) == 4
        end = Job(**{**vars(v2), "status": JobStatus.DONE, "version": 3, "result_text": '["ok"]'})  # Redis's own v3
        assert len(store.record([end])) == 1
        assert store.status_of(first.job_id) is JobStatus.DONE
        assert store.get(first.job_id).result == ["ok"]
        assert len(store.record([v2, v3, end])) == 0  # read again: all held now
        assert [v.version for v in store.history(first.job_id)] == [1, 2, 3, 4, 3]
    finally:
        store.close()


def damage_pages(index_file: Path, start_page: int = 2, at: int = 100) -> None:
    """Garbage over the index's pages past its first ones: it opens, then a read of those pages fails
    ("database disk image is malformed"), as a bad sector or a torn write leaves it."""
    with index_file.open("r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        page = 4096
        for offset in range(start_page * page, size, page * 2):
            f.seek(offset + at)
            f.write(b"\xde\xad\xbe\xef" * 200)


def test_an_index_damaged_past_its_first_pages_is_rebuilt_and_never_stops_a_start(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 31, item 1: "jobs: failed to start: database disk image is malformed" for derived data."""
    path = data_dir / "jobsdb"
    fill_history(path, 2000)
    store = JobStore(path)
    index_file = store.index_path
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(index_file) + suffix).unlink(missing_ok=True)
    damage_pages(index_file)
    with caplog.at_level(logging.WARNING):
        store = JobStore(path)
    try:
        assert "is unusable" in caplog.text and "building the history's index from 2000 job(s)" in caplog.text
        assert list(data_dir.glob("jobsdb.index.sqlite.broken-*"))
        agrees(store)
        assert "damaged" in store.index_notice and "rebuilt" in store.index_notice
    finally:
        store.close()


def test_reindex_works_on_a_damaged_index(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    path = config.jobs_db_path
    fill_history(path, 1000)
    store = JobStore(path)
    index_file = store.index_path
    store.close()
    damage_pages(index_file)
    toml = data_dir / "c.toml"
    toml.write_text(f'data_dir = "{data_dir}"\n')
    done = subprocess.run(
        [sys.executable, "-m", "heroagent", "ourdb", "reindex", "--config", str(toml)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    assert "indexed 1000 job(s)" in done.stdout and "Traceback" not in done.stderr
    store = JobStore(path)
    try:
        agrees(store)
    finally:
        store.close()


def test_damage_found_by_a_read_rebuilds_the_index_and_the_read_is_answered(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index too large to check every page at open ([QUICK_CHECK_BYTES], set to 0 here) is checked as
    it is used: the read that meets a damaged page gets its answer from the rebuilt index."""
    from heroagent.jobs.history import history_index

    path = data_dir / "jobsdb"
    fill_history(path, 2000)
    store = JobStore(path)
    index_file = store.index_path
    store.close()
    for suffix in ("-wal", "-shm"):
        Path(str(index_file) + suffix).unlink(missing_ok=True)
    half = index_file.stat().st_size // 4096 // 2  # past what an open reads
    damage_pages(index_file, start_page=half, at=0)  # the pages' headers: a read of one is an error, not a wrong answer
    monkeypatch.setattr(history_index, "QUICK_CHECK_BYTES", 0)
    store = JobStore(path)
    try:
        assert store.index_notice == ""  # not found yet: nothing read the damaged pages
        found = store.list(text="failure", limit=5000)  # the text search's pages are damaged: this read meets it
        assert len(found) == 20 and all("failure" in j.error for j in found)  # and is answered
        assert "damaged" in store.index_notice and list(data_dir.glob("jobsdb.index.sqlite.broken-*"))
    finally:
        store.close()


def _search_is_intact(index: SqliteHistoryIndex) -> None:
    """FTS5's own check: the search index holds exactly the words of the stored texts."""
    index._writer.execute("INSERT INTO search(search, rank) VALUES ('integrity-check', 1)")


def test_texts_changed_and_removed_leave_the_search_index_exact(data_dir: Path) -> None:
    """`put` and `remove` keep the search index level with the texts themselves (no triggers): a text
    replaced is found by its new words only, a removed job by none, an unchanged text is not rewritten."""
    index = SqliteHistoryIndex(data_dir / "i.sqlite")
    try:
        index.put([IndexRow(1, "new", "t", text="1 t alpha beta"), IndexRow(2, "new", "t", text="2 t alpha")], None)
        index.put([IndexRow(1, "done", "t", text="1 t gamma"), IndexRow(2, "done", "t", text="2 t alpha")], None)
        _search_is_intact(index)
        assert index.search_ids("alpha", Filters(), 10) == [2]
        assert index.search_ids("gamma", Filters(), 10) == [1]
        index.put([IndexRow(3, "new", "t", text="3 t x"), IndexRow(3, "done", "t", text="3 t alpha y")], None)
        assert index.search_ids("alpha", Filters(), 10) == [3, 2]  # the newer of one id's two rows wins
        index.remove([2, 3])
        _search_is_intact(index)
        assert index.search_ids("alpha", Filters(), 10) == []
        assert index.search_ids('"t gamma"', Filters(), 10) == [1]  # phrases still work
    finally:
        index.close()


OLD_TRIGGERS = """
CREATE TRIGGER texts_added AFTER INSERT ON texts BEGIN
  INSERT INTO search(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER texts_removed AFTER DELETE ON texts BEGIN
  INSERT INTO search(search, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER texts_changed AFTER UPDATE ON texts BEGIN
  INSERT INTO search(search, rowid, body) VALUES ('delete', old.id, old.body);
  INSERT INTO search(rowid, body) VALUES (new.id, new.body);
END;
"""


def test_an_index_made_with_the_text_triggers_opens_and_loses_them(data_dir: Path) -> None:
    """Earlier versions kept the search index level by triggers on `texts`: such a file opens as it is
    (same tables, same schema version), its triggers dropped, so a text is never indexed twice."""
    path = data_dir / "i.sqlite"
    SqliteHistoryIndex(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(OLD_TRIGGERS)
        conn.execute("INSERT INTO jobs (id, status, topic) VALUES (1, 'new', 't')")
        conn.execute("INSERT INTO texts VALUES (1, '1 t alpha')")  # indexed by the old trigger
        conn.commit()
    index = SqliteHistoryIndex(path)
    try:
        triggers = index._writer.execute("SELECT name FROM sqlite_master WHERE name LIKE 'texts_%'").fetchall()
        assert triggers == []
        assert index.search_ids("alpha", Filters(), 10) == [1]
        index.put([IndexRow(1, "done", "t", text="1 t beta")], None)
        _search_is_intact(index)
        assert index.search_ids("alpha", Filters(), 10) == []
        assert index.search_ids("beta", Filters(), 10) == [1]
    finally:
        index.close()
