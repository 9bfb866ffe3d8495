"""OurDB: append-only data files with per-id version history, byte-compatible with herolib's OurDB.

Why it differs from the reference where it does (see docs/architecture.md, "OurDB"):
- the lookup table and the next id live in `lookup.idx`, so a reopen keeps every id;
- a lock file stops a second writer process, and a dirty marker tells a reopen that the last writer
  crashed, which triggers recovery (torn tail records and dangling lookup entries are dropped);
- writes are made durable by a group commit: concurrent writers share one fdatasync, and a lookup
  entry reaches the disk only after the record it points at, so the table never points at lost data.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from heroagent import pidlock
from heroagent.ourdb import layout
from heroagent.ourdb.compact import CompactReport, CopyInProgress, data_bytes
from heroagent.ourdb.damage import DamageLedger
from heroagent.ourdb.diskio import pwrite_exactly, storage_error, sync
from heroagent.ourdb.errors import (
    CorruptRecordError,
    DatabaseFullError,
    DatabaseLockedError,
    InvalidIdError,
    OurDBError,
    RecordNotFoundError,
    RecordTooLargeError,
    StorageError,
)
from heroagent.ourdb.foreign import ForeignDatabaseError, is_foreign
from heroagent.ourdb.lookup import VALID_KEYSIZES, LookupTable, changed_ids, ids_in
from heroagent.ourdb.record import (
    HEADER_SIZE,
    MAX_DATA_SIZE,
    NO_LOCATION,
    Header,
    Location,
    crc32,
    decode_header,
    encode_record,
)
from heroagent.ourdb.scan import AmbiguousIdsError, IdOf, rebuild_entries, scan, scan_file
from heroagent.ourdb.scan import data_size as scan_data_size

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "batch", "never"]
DEFAULT_FILE_SIZE = 500 * 1024 * 1024
MAX_FILE_NR = 0xFFFF
MAX_ID = 0xFFFFFFFF
MAX_ID_GAP = 1_000_000  # ids insert_at may skip at once (each costs one lookup slot)
META_FILE = layout.META_FILE
LOOKUP_FILE = layout.LOOKUP_FILE
LOCK_FILE = layout.LOCK_FILE
DIRTY_FILE = layout.DIRTY_FILE
CLOSED_FILE = layout.CLOSED_FILE
FORMAT_VERSION = layout.FORMAT_VERSION


SPECULATIVE_READ = 2048  # bytes read after a header on the chance the record is that short


@dataclass
class RecoveryReport:
    """What a reopen after a crash dropped, so it can be logged and tested."""

    torn_lookup_bytes: int = 0
    truncated_bytes: int = 0
    dropped_ids: list[int] = field(default_factory=list)
    fell_back_ids: list[int] = field(default_factory=list)  # newest version damaged: an older one serves
    rebuilt_lookup: str = ""  # why lookup.idx was rebuilt from the data files ('' = it was not)

    @property
    def changed(self) -> bool:
        return bool(
            self.torn_lookup_bytes
            or self.truncated_bytes
            or self.dropped_ids
            or self.fell_back_ids
            or self.rebuilt_lookup
        )


class Write(NamedTuple):
    """One record for `OurDB.write_many`: a new version of `id` (as `set(data, id)`), or with `new` its
    first record (as `insert_at(data, id, fill_gap=fill_gap)`)."""

    id: int
    data: bytes
    new: bool = False
    fill_gap: bool = False


@dataclass
class CheckReport:
    """The result of verifying every record reachable from the lookup table."""

    ids: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class OurDB:
    """A file database of byte records with auto-incrementing ids and per-record history.

    Thread-safe within one process. Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        incremental_mode: bool = True,
        keysize: int | None = None,
        file_size: int = DEFAULT_FILE_SIZE,
        fsync: FsyncPolicy = "batch",
        readonly: bool = False,
        id_of: IdOf | None = None,
    ) -> None:
        if keysize is not None and keysize not in VALID_KEYSIZES:
            raise ValueError(f"OurDB keysize must be one of 2, 3, 4, 6 (got {keysize})")
        if fsync not in ("always", "batch", "never"):
            raise ValueError(f"OurDB fsync must be 'always', 'batch' or 'never' (got {fsync!r})")
        if file_size < 1:
            raise ValueError(f"OurDB file_size must be at least 1 byte (got {file_size})")
        self.path = Path(path)
        self.incremental_mode = incremental_mode
        self.file_size = file_size
        self.fsync: FsyncPolicy = fsync
        self.readonly = readonly
        self.recovery = RecoveryReport()
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._compact_lock = threading.Lock()  # one compaction at a time
        self._local = threading.local()
        self._fds: dict[int, int] = {}
        self._dirty_files: set[int] = set()
        self._write_seq = 0
        self._synced_seq = 0
        self._closed = False
        self._lock_fd: int | None = None

        self.damage = DamageLedger(self.path)  # what was lost, until an operator acknowledges it
        if is_foreign(self.path):
            raise ForeignDatabaseError(
                f"{self.path}: these OurDB data files have no HeroAgent lookup table ({LOOKUP_FILE}): a folder "
                f"herolib wrote? Import it first with `heroagent ourdb import {self.path}` (it only reads the "
                "data files and writes the table beside them); `heroagent ourdb check` shows what they hold"
            )
        if readonly:
            if not (self.path / LOOKUP_FILE).exists():
                raise OurDBError(f"{self.path}: no OurDB database here ({LOOKUP_FILE} missing)")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._acquire_lock()
        try:
            if readonly and (self.path / layout.COMMIT_FILE).exists():
                raise OurDBError(
                    f"{self.path}: a compaction was interrupted; open the database for writing once to finish it"
                )
            if not readonly:
                done = layout.recover_swap(self.path)
                if done:
                    log.warning("OurDB %s: %s", self.path, done)
            self._check_meta()
            self._lookup = self._open_lookup(keysize, readonly)
            if keysize is not None and keysize != self._lookup.keysize:
                raise OurDBError(
                    f"{self.path}: database was created with keysize {self._lookup.keysize}; "
                    f"open it with keysize={self._lookup.keysize} (or leave keysize unset)"
                )
            self.keysize = self._lookup.keysize
            self._open_data_files()
            if not readonly:
                self._open_for_writing(id_of)
        except BaseException:
            self._release()
            raise

    # ----------------------------------------------------------------- opening and closing

    def _open_for_writing(self, id_of: IdOf | None) -> None:
        """The writer's checks at open: the lookup table rebuilt if damaged, the files recovered if they
        are not as a clean close left them (what that lost goes to the damage ledger), the session marked."""
        damage = self._lookup_damage()
        if damage:
            self._rebuild_lookup(damage, id_of)
        dirty = self.path / DIRTY_FILE
        unclean = dirty.exists()
        reason = "after an unclean stop" if unclean else self._changed_since_close()
        if reason:
            self._recover(reason, self._session_start(dirty))
            if not unclean:  # not a crash's torn tail: what was lost had been written and synced
                self._record_losses(reason)
        (self.path / CLOSED_FILE).unlink(missing_ok=True)
        # Where the newest data file ended when this session began: recovery after a crash of
        # this session never cuts below it (bytes before it were not written by this session).
        dirty.write_text(json.dumps({"pid": os.getpid(), "file": self._current, "end": self._end}) + "\n")
        self._sync_dir()

    def _acquire_lock(self) -> None:
        try:
            self._lock_fd = pidlock.acquire(self.path / LOCK_FILE)
        except pidlock.PidLockHeld as held:
            raise DatabaseLockedError(
                f"{self.path}: database is open for writing by another process (pid {held.holder}); "
                "stop that process, or open this one with readonly=True"
            ) from None

    def _open_lookup(self, keysize: int | None, readonly: bool) -> LookupTable:
        """lookup.idx; one whose header is garbage is derived data like any damage to it: set aside, and
        (opened for writing) rebuilt from the data files by the damage check that follows."""
        path = self.path / LOOKUP_FILE
        try:
            return LookupTable(path, keysize or 6, readonly=readonly, deferred=self.fsync != "never")
        except CorruptRecordError as exc:
            if readonly:
                raise
            aside = _set_aside(path)
            log.warning("OurDB %s: %s; set aside as %s, to be rebuilt from the data files", self.path, exc, aside.name)
            return LookupTable(path, keysize or 6, deferred=self.fsync != "never")

    def _check_meta(self) -> None:
        meta_path = self.path / META_FILE
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                if not isinstance(meta, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                if self.readonly or isinstance(exc, OSError):
                    raise OurDBError(f"{meta_path}: unreadable OurDB metadata ({exc})") from None
                aside = _set_aside(meta_path)  # it says what the data files say too: written again below
                log.warning(
                    "OurDB %s: %s held no metadata (%s); set aside as %s and written again",
                    self.path,
                    META_FILE,
                    exc,
                    aside.name,
                )
                self._check_meta()
                return
            if meta.get("version") != FORMAT_VERSION:
                raise OurDBError(f"{meta_path}: unsupported OurDB layout version {meta.get('version')!r}")
            if bool(meta.get("incremental_mode")) != self.incremental_mode:
                raise OurDBError(
                    f"{self.path}: database was created with incremental_mode={meta.get('incremental_mode')}; "
                    "open it the same way"
                )
        elif not self.readonly:
            meta = {"version": FORMAT_VERSION, "incremental_mode": self.incremental_mode}
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta) + "\n")
            os.replace(tmp, meta_path)

    def _open_data_files(self) -> None:
        numbers = sorted(int(p.stem) for p in self.path.glob("*.db") if p.stem.isascii() and p.stem.isdigit())
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers)) if numbers else []
        if not numbers and self._lookup.capacity > 1:
            missing = [0]
        if missing:
            raise OurDBError(
                f"{self.path}: data file(s) {', '.join(f'{n}.db' for n in missing[:5])} missing, though the "
                "lookup table points into them; restore them from a backup (the records in them are lost otherwise)"
            )
        if not numbers:
            if self.readonly:
                raise OurDBError(f"{self.path}: no data files (0.db missing)")
            numbers = [0]
        self._current = numbers[-1]
        fd = self._fd(self._current)
        self._end = os.fstat(fd).st_size
        if self._end == 0 and not self.readonly:
            os.pwrite(fd, b"\x00", 0)
            self._end = 1

    def _fd(self, file_nr: int) -> int:
        fd = self._fds.get(file_nr)
        if fd is None:
            path = self.path / f"{file_nr}.db"
            if self.readonly:
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    raise CorruptRecordError(f"{path}: data file missing") from None
            else:
                create = os.O_CREAT if file_nr >= getattr(self, "_current", 0) else 0  # never re-create an old file
                try:
                    fd = os.open(path, os.O_RDWR | create, 0o644)
                except FileNotFoundError:
                    raise CorruptRecordError(f"{path}: data file missing") from None
            self._fds[file_nr] = fd
        return fd

    def _sync_dir(self) -> None:
        if self.fsync == "never":
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Make every write durable, mark the database cleanly closed and release it."""
        with self._lock:
            if self._closed:
                return
            try:
                if not self.readonly:
                    self._commit_all()
                    for fd in self._fds.values():
                        os.fdatasync(fd)
                    self._lookup.sync()
                    self._mark_closed()
            finally:  # a failed commit (a full disk) still lets go of the files and the lock
                self._closed = True
                self._release()

    def _mark_closed(self) -> None:
        """Record where the files end, for the next open's check; without it (a full disk) the next open
        simply checks the files as after a crash."""
        closed = {"file": self._current, "end": self._end}  # what a reopen expects to find
        try:
            (self.path / CLOSED_FILE).write_text(json.dumps(closed) + "\n")
            with contextlib.suppress(FileNotFoundError):
                (self.path / DIRTY_FILE).unlink()
            self._sync_dir()
        except OSError as exc:
            (self.path / CLOSED_FILE).unlink(missing_ok=True)
            log.warning("OurDB %s: could not record a clean close (%s); the next open checks the files", self.path, exc)

    def compact(
        self,
        *,
        guard: AbstractContextManager[Any] | None = None,
        after_swap: Callable[[], None] | None = None,
    ) -> CompactReport:
        """Rewrite the data files with only reachable records (see compact.py); ids and histories stay.

        Writers and readers go on while the copy is written: the database's locks (and `guard`, a
        caller's lock around its own writes) are held only to take a snapshot of the lookup table at the
        start, and at the end to copy again the ids that changed meanwhile, commit and swap the files in
        (`after_swap` runs then, still under them). Every version is read and CRC-checked; on an error
        nothing changed."""
        self._check_writable()
        report = CompactReport()
        with self._compact_lock:
            with _held(guard), self._sync_lock, self._lock:
                self._commit_locked()
                before = self._lookup.snapshot()
                keysize = self._lookup.keysize
                report.bytes_before = data_bytes(self.path)
                copy = CopyInProgress(self.path, keysize, self._lookup.capacity, self.file_size)
            try:
                for record_id in ids_in(before, keysize):
                    start = record_id * keysize
                    versions = self._history_for_copy(record_id, Location.decode(before[start : start + keysize]))
                    if versions is not None:
                        copy.copy(record_id, versions)
                with _held(guard), self._sync_lock, self._lock:
                    self._commit_locked()
                    for record_id in changed_ids(before, self._lookup.snapshot(), keysize):
                        if self._lookup.get(record_id):
                            copy.copy(record_id, self.get_history(record_id))
                        else:
                            copy.drop(record_id)
                    copy.commit(self._lookup.capacity, report)
                    self._release_files()  # the files are swapped under us: close them, keep the writer lock
                    layout.finish_swap(self.path, keep_old=True)
                    self._lookup = LookupTable(self.path / LOOKUP_FILE, self.keysize, deferred=self.fsync != "never")
                    self._open_data_files()
                    if after_swap is not None:
                        after_swap()
                shutil.rmtree(self.path / layout.OLD_DIR, ignore_errors=True)  # their space, freed unlocked
            except BaseException:
                if not (self.path / layout.COMMIT_FILE).exists():
                    copy.abandon()
                raise
        report.bytes_after = data_bytes(self.path)
        return report

    def _history_for_copy(self, record_id: int, loc: Location) -> list[bytes] | None:
        """An id's versions from where the snapshot had its newest, read without the locks (writers
        only append, or zero a record they delete). None when it changed meanwhile (deleted, or a
        record read half-zeroed by a delete): the final step copies it as it is then."""
        versions: list[bytes] = []
        newest = loc
        try:
            while loc:
                header, data = self._read(record_id, loc)
                versions.append(data)
                loc = self._older(record_id, loc, header)
        except RecordNotFoundError:
            return None
        except CorruptRecordError:
            with self._lock:
                if self._lookup.get(record_id) != newest:
                    return None  # changed while it was read: copied in the final step
            raise
        return versions

    def _release_files(self) -> None:
        """Close the data files and the lookup table, keeping the writer lock."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._dirty_files.clear()
        self._lookup.close()

    def _release(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        lookup = getattr(self, "_lookup", None)
        if lookup is not None:
            lookup.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def __enter__(self) -> OurDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- recovery

    def _changed_since_close(self) -> str:
        """Why the files cannot be trusted as the last clean close left them ('' = they can)."""
        try:
            closed = json.loads((self.path / CLOSED_FILE).read_text())
        except FileNotFoundError:
            has_data = self._end > 1 or self._lookup.capacity > 1
            return "at its first open by this version (no record of a clean close)" if has_data else ""
        except (OSError, ValueError):
            return "because its clean-close record is unreadable"
        if closed != {"file": self._current, "end": self._end}:
            return (
                f"because the data files changed since its last clean close ({self._current}.db is {self._end} "
                f"bytes; {closed.get('file')}.db was {closed.get('end')})"
            )
        return ""

    def _session_start(self, dirty: Path) -> int:
        """How far the newest data file reached when the session that left it began: bytes before that
        were written by an earlier, cleanly closed session (or another program) and are never cut."""
        for marker in (dirty, self.path / CLOSED_FILE):
            try:
                start = json.loads(marker.read_text())
                if int(start["file"]) < self._current:
                    return 1  # the newest file was begun by that session
                if int(start["file"]) == self._current:
                    return max(1, int(start["end"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return self._end  # unknown: cut nothing

    def _recover(self, reason: str, keep_below: int = 1) -> None:
        """Repair what a killed writer (or a damaged file) left: a torn lookup entry, entries pointing at
        damaged records, a torn data tail.

        An entry whose newest record is damaged falls back to the newest intact older version (the
        damaged record's header still names it) instead of losing the id. Records in files before the
        newest were synced when writing moved on, so only entries that point into the newest file are
        CRC-checked; others are checked against file bounds.
        """
        report = self.recovery
        report.torn_lookup_bytes = self._lookup.drop_torn_tail()
        last = self._current
        sizes = {nr: os.fstat(self._fd(nr)).st_size for nr in self._known_file_numbers()}
        valid_end = 1
        lookup = self._lookup
        for record_id in lookup.ids():
            loc = lookup.get(record_id)
            header = self._valid_header(loc, sizes, verify_crc=loc.file_nr == last)
            if header is None:
                loc, header = self._intact_older(loc, sizes, last)
                if header is None:
                    report.dropped_ids.append(record_id)
                    lookup.set(record_id, NO_LOCATION)
                    continue
                report.fell_back_ids.append(record_id)
                lookup.set(record_id, loc)
            if loc.file_nr == last:
                valid_end = max(valid_end, loc.position + HEADER_SIZE + header.size)
        if self._end >= keep_below:  # only what the crashed session wrote may be cut
            valid_end = max(valid_end, keep_below)
        elif self._end > valid_end and self._holds_intact_record(last, valid_end):
            # The file is shorter than when that session began: something else cut it, so no byte of it
            # is known to be ours. Only a torn stub is cut then, never an intact record.
            log.warning(
                "OurDB %s: %d.db holds intact records after %d that no id points to; they are kept",
                self.path,
                last,
                valid_end,
            )
            valid_end = self._end
        if self._end > valid_end:
            report.truncated_bytes = self._end - valid_end
            os.ftruncate(self._fd(last), valid_end)
            self._end = valid_end
        self._commit_all()
        for fd in self._fds.values():
            os.fdatasync(fd)
        if report.changed:
            log.warning(
                "OurDB %s: recovered %s: dropped %d torn byte(s) at the end of %d.db; %d id(s) whose newest "
                "version was damaged now read their newest intact one (ids %s); %d id(s) with no intact version "
                "dropped (ids %s); %d torn lookup byte(s)",
                self.path,
                reason,
                report.truncated_bytes,
                last,
                len(report.fell_back_ids),
                _short_list(report.fell_back_ids),
                len(report.dropped_ids),
                _short_list(report.dropped_ids),
                report.torn_lookup_bytes,
            )
        else:
            log.info("OurDB %s: checked at open %s; nothing was lost", self.path, reason)

    def _record_losses(self, reason: str) -> None:
        """What the recovery of files a clean close had left lost, in the damage ledger (damage.py)."""
        report = self.recovery
        if report.dropped_ids:
            self.damage.record(f"records lost {reason}", file=f"{self._current}.db", ids=report.dropped_ids)
        if report.fell_back_ids:
            self.damage.record(f"newest versions lost {reason} (an older version serves)", ids=report.fell_back_ids)
        if report.truncated_bytes:
            self.damage.record(f"bytes cut {reason}", file=f"{self._current}.db", bytes_lost=report.truncated_bytes)

    def _holds_intact_record(self, file_nr: int, start: int) -> bool:
        """Whether an intact record (its CRC right) begins at or after `start` in the file: such bytes are
        never cut, whoever wrote them."""
        return any(r.location.position >= start for r in scan_file(self.path / f"{file_nr}.db", file_nr))

    def _intact_older(self, loc: Location, sizes: dict[int, int], last: int) -> tuple[Location, Header | None]:
        """Walk back from a damaged record through the prev locations its header still holds."""
        while True:
            header = self._raw_header(loc, sizes)
            if header is None or not header.prev or header.prev >= loc:
                return loc, None
            loc = header.prev
            valid = self._valid_header(loc, sizes, verify_crc=loc.file_nr == last)
            if valid is not None:
                return loc, valid

    def _raw_header(self, loc: Location, sizes: dict[int, int]) -> Header | None:
        """The header at `loc` as written, whatever state its data is in (None if it cannot be read)."""
        size = sizes.get(loc.file_nr)
        if size is None or loc.position < 1 or loc.position + HEADER_SIZE > size:
            return None
        header = decode_header(os.pread(self._fd(loc.file_nr), HEADER_SIZE, loc.position))
        return None if header.is_zeroed else header

    def _lookup_damage(self) -> str:
        """Why lookup.idx cannot be trusted ('' = it can): cut short, or empty beside data files with records."""
        damage = self._lookup.damage()
        if not damage and self._lookup.capacity <= 1 and scan_data_size(self.path) > len(layout.data_files(self.path)):
            damage = f"{LOOKUP_FILE} is empty or missing, but the data files hold records"
        return damage

    def _rebuild_lookup(self, damage: str, id_of: IdOf | None) -> None:
        """Rebuild lookup.idx from the data files (see scan.py), never handing out an id twice."""
        try:
            entries = rebuild_entries(self.path, id_of)
        except AmbiguousIdsError as exc:
            raise OurDBError(
                f"{self.path}: {damage}, and it cannot be rebuilt from the data files: they hold {exc}, so "
                "the order of the records no longer tells their ids. Restore lookup.idx from a backup"
            ) from None
        slots = max([self._lookup.recorded_slots, self._lookup.capacity, *(i + 1 for i in entries)])
        self._lookup.close()
        LookupTable.write_new(self.path / LOOKUP_FILE, self.keysize, entries, slots)
        self._sync_dir()
        self._lookup = LookupTable(self.path / LOOKUP_FILE, self.keysize, deferred=self.fsync != "never")
        self.recovery.rebuilt_lookup = damage
        self.damage.record(
            f"{LOOKUP_FILE} rebuilt from the data files ({damage}); ids deleted since the last compaction may "
            "have come back with their last version",
            file=LOOKUP_FILE,
        )
        log.warning(
            "OurDB %s: %s; rebuilt it from the data files: %d id(s) found, next id %d. Ids deleted since the last "
            "compaction may come back with their last version before the delete.",
            self.path,
            damage,
            len(entries),
            slots,
        )

    def _known_file_numbers(self) -> list[int]:
        return sorted(int(p.stem) for p in self.path.glob("*.db") if p.stem.isascii() and p.stem.isdigit())

    def _valid_header(self, loc: Location, sizes: dict[int, int], *, verify_crc: bool) -> Header | None:
        size = sizes.get(loc.file_nr)
        if size is None or loc.position < 1 or loc.position + HEADER_SIZE > size:
            return None
        fd = self._fd(loc.file_nr)
        header = decode_header(os.pread(fd, HEADER_SIZE, loc.position))
        if header.is_zeroed or loc.position + HEADER_SIZE + header.size > size:
            return None
        if verify_crc and crc32(os.pread(fd, header.size, loc.position + HEADER_SIZE)) != header.crc:
            return None
        return header

    # ----------------------------------------------------------------- writing

    @property
    def next_id(self) -> int:
        """The id the next insert gets (incremental mode)."""
        with self._lock:
            return max(1, self._lookup.capacity)

    def set(self, data: bytes, id: int | None = None) -> int:
        """Insert (no id: returns the new id) or update (id: appends a new version). Durable on return
        unless inside `batch()` or with fsync='never'."""
        return self._store(data, id, fresh=False)

    def insert_at(self, data: bytes, id: int, *, fill_gap: bool = False) -> int:
        """Insert a record under an id given from outside (incremental mode), at or above `next_id`.

        For a database whose ids are handed out elsewhere before the record is written (the job
        history: Redis gives a job its id, the recorder writes it later). Ids skipped stay empty and
        are never handed out by `set(data)`; an id below `next_id` is refused, so none is reused.
        At most MAX_ID_GAP ids can be skipped at once (a wild id would grow the lookup table).

        With `fill_gap`, an id below `next_id` that holds nothing (skipped, or deleted) is taken too:
        for a caller that knows the id is its own (the job history, for a job Redis still holds whose
        first version came after a later job's). An id that holds a record is still refused."""
        if not self.incremental_mode:
            raise ValueError("OurDB insert_at is for incremental mode; in key-value mode use set(data, id)")
        with self._lock:
            self._check_insert_at(id, fill_gap, self.next_id, self._holds)
        return self._store(data, id, fresh=True)

    def _holds(self, id: int) -> bool:
        """Whether `id` has a record now (its lookup entry is set)."""
        return self._lookup.holds(id)

    def _check_insert_at(self, id: int, fill_gap: bool, next_id: int, holds: Callable[[int], bool]) -> None:
        """Raise why `id` cannot take a new record (see insert_at), given the next id and which ids hold one."""
        if id < next_id and fill_gap and id > 0:
            if holds(id):
                raise InvalidIdError(f"OurDB {self.path}: cannot insert at id {id}: it holds a record")
            return
        if id < next_id:
            raise InvalidIdError(
                f"OurDB {self.path}: cannot insert at id {id}: ids below {next_id} were handed out already"
            )
        if id - next_id > MAX_ID_GAP:
            raise InvalidIdError(
                f"OurDB {self.path}: cannot insert at id {id}: it would skip {id - next_id} ids "
                f"(at most {MAX_ID_GAP}); next_id is {next_id}"
            )

    def _store(self, data: bytes, id: int | None, *, fresh: bool) -> int:
        """Check and write one record, then commit it unless a batch defers that (set and insert_at)."""
        self._check_writable()
        data = _checked(data)
        if self.fsync == "always":
            with self._sync_lock, self._lock:
                record_id = self._write(data, id, fresh=fresh)
                if not self._deferring():
                    self._commit_locked()
            return record_id
        with self._lock:
            record_id = self._write(data, id, fresh=fresh)
            seq = self._write_seq
        if not self._deferring():
            self._commit(seq)
        return record_id

    def set_many(self, items: Sequence[bytes]) -> list[int]:
        """Insert many records with one commit (one fsync for all)."""
        with self.batch():
            return [self.set(item) for item in items]

    def write_many(self, writes: Sequence[Write]) -> None:
        """Write these records as `set`/`insert_at` would one by one, in order, but with one `pwrite` per
        data file: a recorder's batch is thousands of small records, and a system call each was most of
        what OurDB cost it. The files end byte for byte as the calls one by one leave them.

        Every write is checked before any is made: one that the calls one by one would refuse (an id that
        holds no record, one handed out already, a record too large) raises the same error, and nothing
        is written. The lookup entries are set only once the bytes they point at are written, so a reader
        never gets a position whose record is not there yet; a failed write (a full disk) is cut off
        again and sets none (records of a batch that began a new data file stay in the files before it,
        as one by one). Durable on return unless inside `batch()` or with fsync='never'."""
        self._check_writable()
        checked = [_checked_write(write) for write in writes]
        if self.fsync == "always":
            with self._sync_lock, self._lock:
                self._write_all(checked)
                if not self._deferring():
                    self._commit_locked()
            return
        with self._lock:
            self._write_all(checked)
            seq = self._write_seq
        if not self._deferring():
            self._commit(seq)

    def _write_all(self, writes: list[Write]) -> None:
        """Check every write, then append their records, one segment (one pwrite) per data file."""
        self._check_batch(writes)
        chunks: list[bytes] = []
        newest: dict[int, Location] = {}  # this segment's newest record of each id: the next one's prev
        position = self._end
        for write in writes:
            if position >= self.file_size and self.keysize == 6:
                self._append(chunks, newest)  # this file is full: what it takes is written first
                chunks, newest = [], {}
                self._maybe_rotate()
                position = self._end
            self._check_position(position)
            prev = NO_LOCATION if write.new else newest.get(write.id) or self._lookup.get(write.id)
            record = encode_record(write.data, prev)
            newest[write.id] = Location(self._current, position)
            chunks.append(record)
            position += len(record)
        self._append(chunks, newest)

    def _check_batch(self, writes: list[Write]) -> None:
        """Raise what the first write that `set`/`insert_at` would refuse, one after the other, raises."""
        next_id = self.next_id
        added: set[int] = set()  # ids this batch gives a record

        def holds(record_id: int) -> bool:
            return record_id in added or self._holds(record_id)

        for write in writes:
            if write.new:
                if not self.incremental_mode:
                    raise ValueError("OurDB insert_at is for incremental mode; in key-value mode use set(data, id)")
                self._check_insert_at(write.id, write.fill_gap, next_id, holds)
                self._check_fresh_id(write.id)
            else:
                self._check_id(write.id)
                self._check_update(write.id, holds(write.id), next_id)
            added.add(write.id)
            next_id = max(next_id, write.id + 1)

    def _append(self, chunks: list[bytes], newest: dict[int, Location]) -> None:
        """Write these records at the end of the current data file with one pwrite, then point each id at
        its newest record among them (never before: see write_many)."""
        if not chunks:
            return
        position = self._end
        where = f"OurDB {self.path}: writing {self._current}.db"
        pwrite_exactly(self._fd(self._current), b"".join(chunks), position, where, undo_append=True)
        self._end = position + sum(len(chunk) for chunk in chunks)
        self._dirty_files.add(self._current)
        for record_id, location in newest.items():
            self._lookup.set(record_id, location)
        self._write_seq += 1

    def _write(self, data: bytes, record_id: int | None, *, fresh: bool = False) -> int:
        lookup = self._lookup
        if fresh and record_id is not None:
            prev = NO_LOCATION
        elif record_id is None:
            if not self.incremental_mode:
                raise ValueError("OurDB in key-value mode (incremental_mode=False) needs an id for set()")
            record_id = max(1, lookup.capacity)
            prev = NO_LOCATION
        else:
            self._check_id(record_id)
            prev = lookup.get(record_id)
            self._check_update(record_id, bool(prev), lookup.capacity)
        self._check_fresh_id(record_id)
        record = encode_record(data, prev)
        self._maybe_rotate()
        position = self._end
        self._check_position(position)
        where = f"OurDB {self.path}: writing {self._current}.db"
        pwrite_exactly(self._fd(self._current), record, position, where, undo_append=True)
        self._end = position + len(record)
        self._dirty_files.add(self._current)
        lookup.set(record_id, Location(self._current, position))
        self._write_seq += 1
        return record_id

    @staticmethod
    def _check_id(record_id: int) -> None:
        if record_id < 0 or record_id > MAX_ID:
            raise ValueError(f"OurDB id must be from 0 to {MAX_ID} (got {record_id})")

    def _check_update(self, record_id: int, held: bool, capacity: int) -> None:
        """In incremental mode only an id that holds a record takes a new version."""
        if self.incremental_mode and not held:
            state = "was deleted" if 0 < record_id < capacity else "was never inserted"
            raise RecordNotFoundError(
                f"OurDB {self.path}: cannot update id {record_id}: it {state}; insert with set(data) without an id"
            )

    def _check_fresh_id(self, record_id: int) -> None:
        if record_id > MAX_ID:
            raise DatabaseFullError(f"OurDB {self.path}: no ids left (the highest id is {MAX_ID})")

    def _check_position(self, position: int) -> None:
        """A lookup entry of keysize 2 to 4 holds a position below 2**(8*keysize): none past it is written."""
        if self.keysize < 6 and position >= 1 << (8 * self.keysize):
            raise DatabaseFullError(
                f"OurDB {self.path}: keysize {self.keysize} can address only {1 << (8 * self.keysize)} bytes "
                "of data; create the database with keysize=6"
            )

    def _maybe_rotate(self) -> None:
        if self._end < self.file_size or self.keysize != 6:
            return
        if self._current >= MAX_FILE_NR:
            raise DatabaseFullError(f"OurDB {self.path}: all {MAX_FILE_NR + 1} data files are full")
        sync(self._fd(self._current), f"OurDB {self.path}: syncing {self._current}.db")  # durable before moving on
        fd = self._fd(self._current + 1)
        try:
            os.ftruncate(fd, 0)
        except OSError as exc:
            raise storage_error(f"OurDB {self.path}: starting {self._current + 1}.db", exc) from None
        pwrite_exactly(fd, b"\x00", 0, f"OurDB {self.path}: starting {self._current + 1}.db")
        self._current += 1  # only once the new file has its first byte: a failure leaves writing where it was
        self._end = 1
        self._dirty_files.add(self._current)
        self._sync_dir()

    def delete(self, id: int) -> None:
        """Zero every version of `id` (header and data) and clear its lookup entry.

        The reference zeroes only the newest version; its older ones stay readable on disk, and a lookup
        table rebuilt from the data files would bring the id back. Zeroing the whole chain makes a delete
        final (retention means gone) and keeps every intact record on disk reachable, which is what
        `check` relies on. Zeroed records read as deleted in the reference too."""
        self._check_writable()
        with self._lock:
            loc = self._lookup.get(id)
            if not loc:
                raise RecordNotFoundError(f"OurDB {self.path}: no record with id {id}")
            while loc:
                header = self._read_header(id, loc)
                where = f"OurDB {self.path}: deleting id {id} in {loc.file_nr}.db"
                pwrite_exactly(self._fd(loc.file_nr), bytes(HEADER_SIZE + header.size), loc.position, where)
                self._dirty_files.add(loc.file_nr)
                loc = header.prev if header.prev and header.prev < loc else NO_LOCATION
            self._lookup.set(id, NO_LOCATION)
            self._write_seq += 1
            seq = self._write_seq
        if not self._deferring():
            self._commit(seq)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group the writes of this block into one commit: durable when the block ends."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0 and not self._closed:
                self.sync()

    def sync(self) -> None:
        """Make every write so far durable."""
        if self.readonly:
            return
        with self._lock:
            seq = self._write_seq
        if self.fsync == "always":
            with self._sync_lock, self._lock:
                self._commit_locked()
        else:
            self._commit(seq)

    def _deferring(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def _commit(self, seq: int) -> None:
        """Group commit: whoever gets the sync lock syncs every write made so far, for all waiters."""
        with self._sync_lock:
            if self._synced_seq >= seq:
                return
            self._commit_locked()

    def _commit_locked(self) -> None:
        with self._lock:
            target = self._write_seq
            files = [self._fds[nr] for nr in sorted(self._dirty_files)]
            self._dirty_files.clear()
            entries = self._lookup.take_pending()
        if self.fsync != "never":
            try:
                for fd in files:
                    sync(fd, f"OurDB {self.path}: syncing a data file")
                if entries:
                    self._lookup.write_entries(entries)
                    self._lookup.sync()
            except StorageError:
                with self._lock:  # not durable yet: the next commit tries these again
                    self._dirty_files.update(nr for nr, fd in self._fds.items() if fd in files)
                    self._lookup.restore_pending(entries)
                raise
        self._synced_seq = target

    def _commit_all(self) -> None:
        with self._sync_lock:
            self._commit_locked()

    def _check_writable(self) -> None:
        if self._closed:
            raise OurDBError(f"OurDB {self.path}: database is closed")
        if self.readonly:
            raise OurDBError(f"OurDB {self.path}: database was opened read-only")

    # ----------------------------------------------------------------- reading

    def get(self, id: int) -> bytes:
        """The newest version of `id`; RecordNotFoundError if none, CorruptRecordError on a bad CRC."""
        with self._lock:
            loc = self._lookup.get(id)
            if not loc:
                raise RecordNotFoundError(f"OurDB {self.path}: no record with id {id}")
            return self._read(id, loc)[1]

    def exists(self, id: int) -> bool:
        with self._lock:
            return bool(self._lookup.get(id))

    def get_history(self, id: int, depth: int = 0, *, intact: bool = False) -> list[bytes]:
        """The newest `depth` versions of `id` (0 = all), newest first.

        With `intact`, damage does not raise: damaged newest versions are skipped (their headers still
        lead to the older ones) and a damaged older version ends the history there."""
        versions: list[bytes] = []
        with self._lock:
            loc = self._lookup.get(id)
            if not loc:
                raise RecordNotFoundError(f"OurDB {self.path}: no record with id {id}")
            while loc and (depth <= 0 or len(versions) < depth):
                try:
                    header, data = self._read(id, loc)
                except CorruptRecordError as exc:
                    if not intact:
                        raise
                    damaged = self._header_or_none(loc)
                    if versions or damaged is None or not damaged.prev or damaged.prev >= loc:
                        if not versions:
                            raise
                        log.warning("OurDB %s: history of id %d ends at a damaged version: %s", self.path, id, exc)
                        break
                    log.warning("OurDB %s: id %d: newest version damaged, reading an older one: %s", self.path, id, exc)
                    loc = damaged.prev
                    continue
                versions.append(data)
                loc = self._older(id, loc, header)
        return versions

    def _older(self, record_id: int, loc: Location, header: Header) -> Location:
        """Where the version before the one at `loc` is: its header's prev, which must point back."""
        if header.prev and header.prev >= loc:
            raise CorruptRecordError(
                f"OurDB {self.path}: record for id {record_id} at {loc.file_nr}.db:{loc.position} points "
                f"forward to {header.prev.file_nr}.db:{header.prev.position}"
            )
        return header.prev

    def get_intact(self, id: int) -> bytes:
        """The newest version of `id` that reads intact (see `get_history(intact=True)`)."""
        return self.get_history(id, 1, intact=True)[0]

    def _header_or_none(self, loc: Location) -> Header | None:
        sizes = {loc.file_nr: os.fstat(self._fd(loc.file_nr)).st_size}
        return self._raw_header(loc, sizes)

    def end_position(self) -> tuple[int, int, int]:
        """(data file number, its end, its inode): where the next record will be written. An index kept
        beside the database records this to know what it has read; a compaction writes new files, so
        a changed inode says the positions before it mean nothing any more."""
        with self._lock:
            return self._current, self._end, os.fstat(self._fd(self._current)).st_ino

    def data_file_inode(self, file_nr: int) -> int | None:
        """The inode of data file `file_nr` (None = there is none)."""
        try:
            return (self.path / f"{file_nr}.db").stat().st_ino
        except FileNotFoundError:
            return None

    def records_after(self, file_nr: int, offset: int) -> Iterator[bytes]:
        """The data of every intact record written from (`file_nr`, `offset`) up to the end as it is now,
        in write order (deleted and torn bytes are stepped over)."""
        last, end, _ = self.end_position()
        for number in range(file_nr, last + 1):
            path = self.path / f"{number}.db"
            if path.exists():
                start = offset if number == file_nr else 1
                for record in scan_file(path, number, start=start, end=end if number == last else None):
                    yield record.data

    def ids(self, *, reverse: bool = False) -> list[int]:
        """Every id with a live record, ascending (or newest first with reverse=True)."""
        with self._lock:
            return self._lookup.ids(reverse=reverse)

    def __len__(self) -> int:
        return len(self.ids())

    def _read_header(self, record_id: int, loc: Location) -> Header:
        raw = os.pread(self._fd(loc.file_nr), HEADER_SIZE, loc.position)
        if len(raw) < HEADER_SIZE:
            raise CorruptRecordError(
                f"OurDB {self.path}: record for id {record_id} in {loc.file_nr}.db at position {loc.position} "
                "lies past the end of the file"
            )
        header = decode_header(raw)
        if header.is_zeroed:
            raise RecordNotFoundError(f"OurDB {self.path}: record for id {record_id} was deleted")
        return header

    def _read(self, record_id: int, loc: Location) -> tuple[Header, bytes]:
        # One pread for the header and (for most records) the data: half the system calls of reading them apart.
        fd = self._fd(loc.file_nr)
        raw = os.pread(fd, HEADER_SIZE + SPECULATIVE_READ, loc.position)
        if len(raw) < HEADER_SIZE:
            raise CorruptRecordError(
                f"OurDB {self.path}: record for id {record_id} in {loc.file_nr}.db at position {loc.position} "
                "lies past the end of the file"
            )
        header = decode_header(raw[:HEADER_SIZE])
        if header.is_zeroed:
            raise RecordNotFoundError(f"OurDB {self.path}: record for id {record_id} was deleted")
        if header.size <= SPECULATIVE_READ:
            data = raw[HEADER_SIZE : HEADER_SIZE + header.size]
        else:
            data = os.pread(fd, header.size, loc.position + HEADER_SIZE)
        if len(data) != header.size:
            raise CorruptRecordError(
                f"OurDB {self.path}: record for id {record_id} in {loc.file_nr}.db at position {loc.position} "
                f"is cut short ({len(data)} of {header.size} bytes)"
            )
        actual = crc32(data)
        if actual != header.crc:
            raise CorruptRecordError(
                f"OurDB {self.path}: record for id {record_id} in {loc.file_nr}.db at position {loc.position} "
                f"is corrupt (CRC32 stored {header.crc:#010x}, computed {actual:#010x}); "
                f"run `python -m heroagent.ourdb check {self.path}`"
            )
        return header, data

    def check(self) -> CheckReport:
        """Verify every version of every id (header bounds, CRC, history links), then the data files
        themselves: intact records that no id reaches mean the lookup table lost entries."""
        report = CheckReport()
        damage = self._lookup.damage()
        if damage:
            report.problems.append(f"{damage}; open the database for writing to rebuild it from the data files")
        reachable: set[Location] = set()
        for record_id in self.ids():
            report.ids += 1
            try:
                locations = self._chain(record_id)
                reachable.update(locations)
                report.records += len(locations)
            except (CorruptRecordError, RecordNotFoundError) as exc:
                report.problems.append(str(exc))
        stray = [r.location for r in scan(self.path) if r.location not in reachable]
        if stray:
            shown = ", ".join(f"{loc.file_nr}.db:{loc.position}" for loc in stray[:5])
            report.problems.append(
                f"{len(stray)} intact record(s) in the data files belong to no id ({shown}"
                f"{' ...' if len(stray) > 5 else ''}): {LOOKUP_FILE} lost entries; open the database for "
                "writing with a rebuild, or restore lookup.idx"
            )
        return report

    def _chain(self, record_id: int) -> list[Location]:
        """Every version's location of `record_id`, newest first, each read and CRC-checked."""
        found: list[Location] = []
        with self._lock:
            loc = self._lookup.get(record_id)
            while loc:
                header, _ = self._read(record_id, loc)
                found.append(loc)
                if header.prev and header.prev >= loc:
                    raise CorruptRecordError(f"OurDB {self.path}: record for id {record_id} points forward")
                loc = header.prev
        return found


def _checked(data: bytes) -> bytes:
    """`data` as a record holds it (bytes, copied only if it is not), or RecordTooLargeError (empty data is
    refused too: zeros mark a delete)."""
    if type(data) is not bytes:
        data = bytes(data)
    if not data:
        raise RecordTooLargeError("OurDB cannot store empty data (a zeroed record marks a deletion)")
    if len(data) > MAX_DATA_SIZE:
        raise RecordTooLargeError(
            f"OurDB record of {len(data)} bytes is too large: a record holds at most {MAX_DATA_SIZE} bytes"
        )
    return data


def _checked_write(write: Write) -> Write:
    """The write with its data checked (see _checked); the same tuple when its data is bytes already."""
    data = _checked(write.data)
    return write if data is write.data else write._replace(data=data)


def _short_list(items: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "") if items else "none"


@contextlib.contextmanager
def _held(lock: AbstractContextManager[Any] | None) -> Iterator[None]:
    """`with lock:` when there is one."""
    if lock is None:
        yield
    else:
        with lock:
            yield


def _set_aside(path: Path) -> Path:
    """`path` renamed to `<name>.broken-<unix time>` beside it (kept for a look, never read again)."""
    aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
    os.replace(path, aside)
    return aside
