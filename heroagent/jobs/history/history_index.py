"""The history's index: what the manager, the API and the pages ask of the job history, kept on disk.

OurDB is the history (every version of every job, byte-compatible with herolib); this index is derived
from it and can always be rebuilt from it (`heroagent ourdb reindex`). It holds one row per job (its
newest version's status, topic, labels, times, idempotency key), counters by status and topic, job type
and group, and a full-text index of each job's id, topic, params, result and error. So a start reads
no job, memory does not grow with the history, and lists, counts and searches are index lookups.

`HistoryIndex` is the contract (in the style of huey's `BaseStorage`: the few operations callers need),
`SqliteHistoryIndex` the engine: SQLite in WAL mode with FTS5, one writer connection (the store's lock
serialises writes) and a few reader connections that read while a write is under way.

The index records how far into OurDB's data files it has read (`Position`): the store writes OurDB
first and the index after, in one SQLite transaction with the new position, so after a crash between
the two the index is behind, never ahead, and catches up by reading only the records written after
its position (see JobStore.catch_up).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from heroagent.jobs.model import TERMINAL

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
READERS = 4  # reader connections (pages, API, manager) beside the writer
ROWS_PER_READ = 500  # ids per `rows` query (well under SQLite's bound on parameters)
TEXT_LIMIT = 2000  # characters of params, result and error each that text search looks at
FINAL = tuple(sorted(status.value for status in TERMINAL))  # the statuses a job ends in


@dataclass(frozen=True)
class Position:
    """How far into OurDB's data files the index has read: the end of the last record it took, in
    data file `file_nr` whose inode was `inode` (a compaction writes new files: a new inode)."""

    file_nr: int
    offset: int
    inode: int


@dataclass(slots=True)
class IndexRow:
    """One job's facts, from its newest version."""

    job_id: int
    status: str
    topic: str
    attempts: int = 0
    time_created: float = 0.0
    time_end: float = 0.0
    version: int = 0
    circle: str = ""
    tenant: str = ""
    user: str = ""
    group: str = ""
    kind: str = ""
    idem: str = ""
    text: str | None = None  # what text search finds it by; None = keep what the index has
    parents: tuple[int, ...] = ()  # the jobs it depends on (depends_on): its row in the parent -> child table


@dataclass(frozen=True)
class Filters:
    """What a list or search keeps (None = any)."""

    status: str | tuple[str, ...] | None = None  # several: any of them
    topic: str | None = None
    circle: str | None = None
    tenant: str | None = None
    user: str | None = None
    group: str | None = None


QUICK_CHECK_BYTES = 64 * 1024 * 1024  # an index up to this size has all its pages checked at open


def is_damage(exc: BaseException) -> bool:
    """Whether an error of SQLite says its file is damaged (as opposed to busy, locked or full)."""
    if isinstance(exc, IndexError_):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and any(
        word in text
        for word in (
            "malformed",
            "not a database",
            "corrupt",
            "disk image",
            "file is not",
            "vtable constructor failed",  # the text search's tables are damaged
            "no such table",  # a table gone: not the index this HeroAgent writes
        )
    )


class IndexError_(Exception):
    """The index file cannot be used (unreadable, another schema): it is rebuilt from the history."""


class HistoryIndex(ABC):
    """The operations the job store needs from an index of the history."""

    @abstractmethod
    def put(self, rows: Sequence[IndexRow], position: Position | None) -> None:
        """Store these rows (a job's newer row replaces its older) and, if given, the new position; all at once."""

    @abstractmethod
    def remove(self, job_ids: Sequence[int]) -> None:
        """Forget these jobs (deleted from the history)."""

    @abstractmethod
    def rows(self, job_ids: Iterable[int]) -> dict[int, IndexRow]:
        """The rows of these jobs (the ones it has), in as few reads as it can."""

    def row(self, job_id: int) -> IndexRow | None:
        return self.rows([job_id]).get(job_id)

    @abstractmethod
    def list_ids(self, filters: Filters, limit: int, before_id: int | None = None) -> list[int]:
        """Ids of matching jobs, newest (highest id) first, below `before_id`."""

    @abstractmethod
    def search_ids(self, text: str, filters: Filters, limit: int, before_id: int | None = None) -> list[int]:
        """`list_ids` of the jobs whose text matches: every word as a word prefix, "quoted phrases" whole."""

    @abstractmethod
    def counts(self) -> dict[tuple[str, str], int]:
        """(status, topic) -> jobs, exact."""

    @abstractmethod
    def kinds(self) -> dict[str, int]: ...

    @abstractmethod
    def groups(self) -> dict[str, dict[str, int]]: ...

    @abstractmethod
    def children(self, job_id: int, limit: int) -> list[int]:
        """Ids of the jobs that depend on `job_id` (depends_on), lowest first."""

    @abstractmethod
    def group_counts(self, group: str) -> dict[str, int]:
        """One group's jobs counted by status ({} = no job has it)."""

    @abstractmethod
    def ids_with_status(self, statuses: Iterable[str]) -> list[int]: ...

    @abstractmethod
    def finished_before(self, cutoff: float, limit: int | None = None) -> list[int]:
        """Ids of finished jobs that ended before `cutoff`, oldest id first (retention)."""

    @abstractmethod
    def finished_since(self, since: float, bucket_seconds: float) -> list[tuple[str, float, int]]:
        """(status, bucket start, jobs) of the finished jobs that ended at or after `since`, counted per
        `bucket_seconds` (the overview's throughput chart)."""

    @abstractmethod
    def job_for_key(self, key: str, since: float) -> int | None: ...

    @abstractmethod
    def keys_since(self, since: float) -> list[tuple[str, int, float]]: ...

    @abstractmethod
    def position(self) -> Position | None:
        """How far into the history it has read (None: nothing; a fresh index)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget everything (before a rebuild)."""

    @abstractmethod
    def close(self) -> None: ...

    def __len__(self) -> int:
        return sum(self.counts().values())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY,
  status TEXT NOT NULL,
  topic TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  time_created REAL NOT NULL DEFAULT 0,
  time_end REAL NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 0,
  circle TEXT NOT NULL DEFAULT '',
  tenant TEXT NOT NULL DEFAULT '',
  user TEXT NOT NULL DEFAULT '',
  grp TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  idem TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, id);
CREATE INDEX IF NOT EXISTS jobs_topic ON jobs(topic, id);
CREATE INDEX IF NOT EXISTS jobs_topic_status ON jobs(topic, status, id);
CREATE INDEX IF NOT EXISTS jobs_circle ON jobs(circle, id) WHERE circle <> '';
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs(tenant, id) WHERE tenant <> '';
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user, id) WHERE user <> '';
CREATE INDEX IF NOT EXISTS jobs_grp ON jobs(grp, id) WHERE grp <> '';
CREATE INDEX IF NOT EXISTS jobs_end ON jobs(time_end, status) WHERE time_end > 0;
CREATE INDEX IF NOT EXISTS jobs_idem ON jobs(idem) WHERE idem <> '';
CREATE INDEX IF NOT EXISTS jobs_keyed ON jobs(time_created) WHERE idem <> '';
CREATE TABLE IF NOT EXISTS counts (status TEXT, topic TEXT, n INTEGER NOT NULL, PRIMARY KEY (status, topic))
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kinds (kind TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (grp TEXT, status TEXT, n INTEGER NOT NULL, PRIMARY KEY (grp, status))
  WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS jobs_added AFTER INSERT ON jobs BEGIN
  INSERT INTO counts VALUES (new.status, new.topic, 1) ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO kinds SELECT new.kind, 1 WHERE new.kind <> '' ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO groups SELECT new.grp, new.status, 1 WHERE new.grp <> '' ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_removed AFTER DELETE ON jobs BEGIN
  UPDATE counts SET n = n - 1 WHERE status = old.status AND topic = old.topic;
  UPDATE kinds SET n = n - 1 WHERE kind = old.kind;
  UPDATE groups SET n = n - 1 WHERE grp = old.grp AND status = old.status;
END;
CREATE TRIGGER IF NOT EXISTS jobs_changed AFTER UPDATE OF status, topic, kind, grp ON jobs
  WHEN old.status <> new.status OR old.topic <> new.topic OR old.kind <> new.kind OR old.grp <> new.grp BEGIN
  UPDATE counts SET n = n - 1 WHERE status = old.status AND topic = old.topic;
  INSERT INTO counts VALUES (new.status, new.topic, 1) ON CONFLICT DO UPDATE SET n = n + 1;
  UPDATE kinds SET n = n - 1 WHERE kind = old.kind;
  INSERT INTO kinds SELECT new.kind, 1 WHERE new.kind <> '' ON CONFLICT DO UPDATE SET n = n + 1;
  UPDATE groups SET n = n - 1 WHERE grp = old.grp AND status = old.status;
  INSERT INTO groups SELECT new.grp, new.status, 1 WHERE new.grp <> '' ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TABLE IF NOT EXISTS deps (parent INTEGER, child INTEGER, PRIMARY KEY (parent, child)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(
  body, content='texts', content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3'
);
-- Indexes made by earlier versions kept `search` level with `texts` by triggers: an FTS5 write made by a trigger
-- flushes FTS5's pending terms to disk for every row (the trigger's statement savepoint), one segment per
-- row, ~14 us a row more. `put` and `remove` write `search` themselves now; the triggers go.
DROP TRIGGER IF EXISTS texts_added;
DROP TRIGGER IF EXISTS texts_removed;
DROP TRIGGER IF EXISTS texts_changed;
"""

_UPSERT = """
INSERT INTO jobs (id, status, topic, attempts, time_created, time_end, version, circle, tenant, user, grp, kind, idem)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET status = excluded.status, topic = excluded.topic, attempts = excluded.attempts,
  time_created = excluded.time_created, time_end = excluded.time_end, version = excluded.version,
  circle = excluded.circle, tenant = excluded.tenant, user = excluded.user, grp = excluded.grp,
  kind = excluded.kind, idem = excluded.idem
"""
_COLUMNS = "id, status, topic, attempts, time_created, time_end, version, circle, tenant, user, grp, kind, idem"
_WORD = re.compile(r'"([^"]*)"|(\S+)')
_TOKEN = re.compile(r"\w+", re.UNICODE)


def match_query(text: str) -> str:
    """A user's search text as an FTS5 query: each word a prefix ("back" finds "backup"), each "quoted
    phrase" its words in a row; every part must match. Nothing of the text is FTS5 syntax, so no input
    is a query error. '' when the text holds no word."""
    parts = []
    for phrase, word in _WORD.findall(text):
        tokens = _TOKEN.findall(phrase if phrase else word)
        if not tokens:
            continue
        if phrase:
            parts.append('"' + " ".join(tokens) + '"')
        else:
            parts.extend(f'"{token}"*' for token in tokens)
    return " AND ".join(parts)


# SQLite's largest integer. No job id is larger (Redis's INCR hands them out, 64-bit signed too), so an
# id beyond it is absent, never an error: asked for by hand (a URL, a `?before=`), it would overflow.
MAX_ROW_ID = 2**63 - 1


def _where(filters: Filters, before_id: int | None, prefix: str = "") -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (
        ("status", filters.status),
        ("topic", filters.topic),
        ("circle", filters.circle),
        ("tenant", filters.tenant),
        ("user", filters.user),
        ("grp", filters.group),
    ):
        if isinstance(value, tuple):
            clauses.append(f"{prefix}{column} IN ({', '.join('?' * len(value))})")
            args.extend(value)
        elif value is not None:
            clauses.append(f"{prefix}{column} = ?")
            args.append(value)
    if before_id is not None:
        clauses.append(f"{prefix}id < ?")
        args.append(min(max(before_id, 0), MAX_ROW_ID))
    return (" AND ".join(clauses) or "1"), args


class SqliteHistoryIndex(HistoryIndex):
    """The index in one SQLite file (WAL: `<file>-wal`, `<file>-shm` beside it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._writer = self._connect(cache_kib=8192)
            with self._writer:
                self._writer.executescript(_SCHEMA)
            version = self._meta("schema")
            if version is None:
                self._set_meta("schema", str(SCHEMA_VERSION))
            elif version != str(SCHEMA_VERSION):
                raise IndexError_(f"{path}: index schema {version}, this HeroAgent writes {SCHEMA_VERSION}")
            self._writer.execute("SELECT count(*) FROM counts").fetchone()
            self._check_pages()
        except sqlite3.DatabaseError as exc:
            raise IndexError_(f"{path}: {exc}") from None
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._made = 0
        self._made_lock = threading.Lock()

    def _check_pages(self) -> None:
        """Every page read once (`PRAGMA quick_check`) when the file is small enough to do it at each start
        (QUICK_CHECK_BYTES): a damaged page is found now, not by the first list that reads it. A larger
        index is checked as it is used (the history's store rebuilds it when a read finds damage)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size > QUICK_CHECK_BYTES:
            return
        verdict = self._writer.execute("PRAGMA quick_check(1)").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise IndexError_(f"{self.path}: damaged ({verdict[0] if verdict else 'no answer'})")

    def _connect(self, cache_kib: int) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a crash may lose the last commits: the position goes back too
        conn.execute(f"PRAGMA cache_size=-{cache_kib}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # The write-ahead log is folded back every ~1 MiB and then cut to that size, so it does not keep
        # the disk space of its largest transaction.
        conn.execute("PRAGMA wal_autocheckpoint=256")
        conn.execute("PRAGMA journal_size_limit=1048576")
        return conn

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A reader connection from the pool (made on first need, at most READERS; then callers wait)."""
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            with self._made_lock:
                make = self._made < READERS
                if make:
                    self._made += 1
            conn = self._connect(cache_kib=2048) if make else self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put(conn)

    def _meta(self, key: str) -> str | None:
        found = self._writer.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._writer.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ writing

    def put(self, rows: Sequence[IndexRow], position: Position | None) -> None:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                _UPSERT,
                [
                    (
                        r.job_id,
                        r.status,
                        r.topic,
                        r.attempts,
                        r.time_created,
                        r.time_end,
                        r.version,
                        r.circle,
                        r.tenant,
                        r.user,
                        r.group,
                        r.kind,
                        r.idem,
                    )
                    for r in rows
                ],
            )
            links = [(parent, r.job_id) for r in rows for parent in r.parents]
            if links:
                conn.executemany("INSERT OR IGNORE INTO deps (parent, child) VALUES (?, ?)", links)
            texts = {r.job_id: r.text for r in rows if r.text is not None}
            if texts:
                self._put_texts(texts)
            if position is not None:
                self._set_meta("position", f"{position.file_nr} {position.offset} {position.inode}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _put_texts(self, texts: dict[int, str]) -> None:
        """Store these jobs' searchable texts: a text that changed leaves the search index with the words it
        had (FTS5's 'delete' takes the old text), then goes in with its new ones; an unchanged one costs a
        read. In the caller's transaction."""
        conn = self._writer
        old = self._texts(texts)
        changed = [(job_id, body) for job_id, body in texts.items() if old.get(job_id) != body]
        if not changed:
            return
        stale = [(job_id, old[job_id]) for job_id, _ in changed if job_id in old]
        if stale:
            conn.executemany("INSERT INTO search(search, rowid, body) VALUES ('delete', ?, ?)", stale)
        conn.executemany(
            "INSERT INTO texts (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body", changed
        )
        conn.executemany("INSERT INTO search(rowid, body) VALUES (?, ?)", changed)

    def _texts(self, job_ids: Iterable[int]) -> dict[int, str]:
        """The stored texts of these jobs (those that have one), read by the writer (in its transaction)."""
        wanted = [job_id for job_id in job_ids if 0 <= job_id <= MAX_ROW_ID]
        found: dict[int, str] = {}
        for start in range(0, len(wanted), ROWS_PER_READ):
            chunk = wanted[start : start + ROWS_PER_READ]
            marks = ", ".join("?" * len(chunk))
            for job_id, body in self._writer.execute(f"SELECT id, body FROM texts WHERE id IN ({marks})", chunk):
                found[int(job_id)] = str(body)
        return found

    def remove(self, job_ids: Sequence[int]) -> None:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])
            stale = list(self._texts(job_ids).items())
            conn.executemany("INSERT INTO search(search, rowid, body) VALUES ('delete', ?, ?)", stale)
            conn.executemany("DELETE FROM texts WHERE id = ?", [(i,) for i in job_ids])
            conn.executemany("DELETE FROM deps WHERE child = ?", [(i,) for i in job_ids])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def clear(self) -> None:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in ("jobs", "counts", "kinds", "groups", "texts", "deps"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("INSERT INTO search(search) VALUES ('delete-all')")
            conn.execute("DELETE FROM meta WHERE key = 'position'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                break
        with contextlib.suppress(sqlite3.Error):
            self._writer.execute("PRAGMA optimize")
        self._writer.close()

    # ------------------------------------------------------------ reading

    def position(self) -> Position | None:
        with self._reader() as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = 'position'").fetchone()
        if found is None:
            return None
        file_nr, offset, inode = (int(x) for x in str(found[0]).split())
        return Position(file_nr, offset, inode)

    def rows(self, job_ids: Iterable[int]) -> dict[int, IndexRow]:
        wanted = [job_id for job_id in job_ids if 0 <= job_id <= MAX_ROW_ID]
        found: dict[int, IndexRow] = {}
        with self._reader() as conn:
            for start in range(0, len(wanted), ROWS_PER_READ):
                chunk = wanted[start : start + ROWS_PER_READ]
                marks = ", ".join("?" * len(chunk))
                for values in conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id IN ({marks})", chunk):
                    found[int(values[0])] = IndexRow(*values)
        return found

    def list_ids(self, filters: Filters, limit: int, before_id: int | None = None) -> list[int]:
        where, args = _where(filters, before_id)
        with self._reader() as conn:
            found = conn.execute(
                f"SELECT id FROM jobs WHERE {where} ORDER BY id DESC LIMIT ?",
                [*args, limit],
            ).fetchall()
        return [int(r[0]) for r in found]

    def search_ids(self, text: str, filters: Filters, limit: int, before_id: int | None = None) -> list[int]:
        query = match_query(text)
        if not query:
            return []
        where, args = _where(filters, before_id, "j.")
        sql = (
            "SELECT j.id FROM search JOIN jobs j ON j.id = search.rowid "
            f"WHERE search MATCH ? AND {where} ORDER BY search.rowid DESC LIMIT ?"
        )
        with self._reader() as conn:
            found = conn.execute(sql, [query, *args, limit]).fetchall()
        return [int(r[0]) for r in found]

    def counts(self) -> dict[tuple[str, str], int]:
        with self._reader() as conn:
            found = conn.execute("SELECT status, topic, n FROM counts WHERE n > 0").fetchall()
        return {(str(s), str(t)): int(n) for s, t, n in found}

    def kinds(self) -> dict[str, int]:
        with self._reader() as conn:
            return {str(k): int(n) for k, n in conn.execute("SELECT kind, n FROM kinds WHERE n > 0")}

    def groups(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self._reader() as conn:
            for grp, status, n in conn.execute("SELECT grp, status, n FROM groups WHERE n > 0"):
                out.setdefault(str(grp), {})[str(status)] = int(n)
        return out

    def children(self, job_id: int, limit: int) -> list[int]:
        with self._reader() as conn:
            found = conn.execute("SELECT child FROM deps WHERE parent = ? ORDER BY child LIMIT ?", (job_id, limit))
            return [int(r[0]) for r in found]

    def group_counts(self, group: str) -> dict[str, int]:
        with self._reader() as conn:
            found = conn.execute("SELECT status, n FROM groups WHERE grp = ? AND n > 0", (group,))
            return {str(status): int(n) for status, n in found}

    def ids_with_status(self, statuses: Iterable[str]) -> list[int]:
        wanted = list(statuses)
        marks = ", ".join("?" * len(wanted))
        with self._reader() as conn:
            found = conn.execute(f"SELECT id FROM jobs WHERE status IN ({marks}) ORDER BY id", wanted)
            return [int(r[0]) for r in found]

    def finished_before(self, cutoff: float, limit: int | None = None) -> list[int]:
        marks = ", ".join("?" * len(FINAL))
        sql = f"SELECT id FROM jobs WHERE time_end > 0 AND time_end < ? AND status IN ({marks}) ORDER BY id"
        with self._reader() as conn:
            if limit is not None:
                found = conn.execute(sql + " LIMIT ?", [cutoff, *FINAL, limit])
            else:
                found = conn.execute(sql, [cutoff, *FINAL])
            return [int(r[0]) for r in found]

    def finished_since(self, since: float, bucket_seconds: float) -> list[tuple[str, float, int]]:
        marks = ", ".join("?" * len(FINAL))
        sql = (
            "SELECT status, CAST(time_end / ? AS INTEGER) AS bucket, count(*) FROM jobs "
            f"WHERE time_end >= ? AND time_end > 0 AND status IN ({marks}) GROUP BY status, bucket"
        )
        with self._reader() as conn:
            found = conn.execute(sql, [bucket_seconds, since, *FINAL])
            return [(str(s), float(b) * bucket_seconds, int(n)) for s, b, n in found]

    def job_for_key(self, key: str, since: float) -> int | None:
        with self._reader() as conn:
            found = conn.execute(
                "SELECT id FROM jobs WHERE idem = ? AND time_created >= ? ORDER BY id DESC LIMIT 1", (key, since)
            ).fetchone()
        return None if found is None else int(found[0])

    def keys_since(self, since: float) -> list[tuple[str, int, float]]:
        with self._reader() as conn:
            found = conn.execute(
                "SELECT idem, id, time_created FROM jobs WHERE idem <> '' AND time_created >= ?", (since,)
            )
            return [(str(k), int(i), float(t)) for k, i, t in found]

    def __len__(self) -> int:
        with self._reader() as conn:
            found = conn.execute("SELECT coalesce(sum(n), 0) FROM counts").fetchone()
        return int(found[0])
