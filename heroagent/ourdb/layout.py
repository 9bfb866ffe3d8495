"""The files of an OurDB folder, and the compaction swap that both opening and compacting need.

A compaction is committed by a marker file; what comes after the marker (old data files out, new ones
in) is `finish_swap`, which `compact.py` runs right after committing and `OurDB` runs at open when a
kill interrupted it (`recover_swap`). Keeping it here lets both import it without importing each other.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

META_FILE = "ourdb.json"
FORMAT_VERSION = 1  # layout version written in ourdb.json
LOOKUP_FILE = "lookup.idx"
LOCK_FILE = "ourdb.lock"
DIRTY_FILE = "ourdb.dirty"
CLOSED_FILE = "ourdb.closed"  # written at a clean close: which data file ended where
NEW_DIR = "compact.new"
COMMIT_FILE = "compact.commit"
OLD_DIR = "compact.old"  # the replaced data files, linked here so freeing their space happens after the swap

# Test hook: called with a stage name ("written", "committed", "swapping"), so a test can kill the
# process at an exact point. None in normal use.
stage_hook: Callable[[str], None] | None = None


def stage(name: str) -> None:
    if stage_hook is not None:
        stage_hook(name)


def is_database(path: Path) -> bool:
    """Whether `path` holds an OurDB database (its lookup table or data files)."""
    return (path / LOOKUP_FILE).is_file() or bool(data_files(path))


def data_files(path: Path) -> list[Path]:
    """The data files `<n>.db` of the database in `path`, by name."""
    return sorted(p for p in path.glob("*.db") if p.stem.isascii() and p.stem.isdigit())


def write_synced(file: Path, data: bytes) -> None:
    with open(file, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover_swap(path: Path) -> str:
    """At open: finish a committed compaction, or throw away an uncommitted one. Returns what it did."""
    shutil.rmtree(path / OLD_DIR, ignore_errors=True)  # a compaction's replaced files, not yet freed
    if (path / COMMIT_FILE).exists():
        finish_swap(path)
        return "finished a compaction that was interrupted after it was committed"
    if (path / NEW_DIR).exists():
        shutil.rmtree(path / NEW_DIR, ignore_errors=True)
        return "discarded a compaction that was interrupted before it was committed; the old files are in use"
    return ""


def finish_swap(path: Path, keep_old: bool = False) -> None:
    """Old data files out, new files in, marker gone. Safe to run again after a kill. With `keep_old`,
    the old files are first hard-linked into `compact.old/`, so that the swap itself frees no disk
    blocks (slow for large files): the caller deletes that folder after it let go of its locks."""
    new_dir = path / NEW_DIR
    names = set((path / COMMIT_FILE).read_text().split())
    if keep_old:
        old_dir = path / OLD_DIR
        old_dir.mkdir(exist_ok=True)
        for old in data_files(path):
            if not (old_dir / old.name).exists():
                os.link(old, old_dir / old.name)
    for old in data_files(path):
        if old.name not in names:  # those in `names` are overwritten (or already were) by the renames below
            old.unlink()
    stage("swapping")
    if new_dir.exists():
        for name in [*sorted(names), LOOKUP_FILE]:
            if (new_dir / name).exists():
                os.replace(new_dir / name, path / name)
        sync_dir(path)
        shutil.rmtree(new_dir, ignore_errors=True)
    (path / COMMIT_FILE).unlink()
    sync_dir(path)
