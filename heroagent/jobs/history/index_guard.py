"""The history's index behind a guard: a read or write that finds the index damaged repairs it and goes again.

The index is derived data (store.py builds it from OurDB), so damage must never stop the server or fail a
request for good: SQLite saying "database disk image is malformed" on some page (a bad sector, a torn
write, a user's editor) makes the store move the file aside, build the index again from the history, and
answer the call from the new one. Errors that are not damage (busy, locked, a full disk) pass through.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from heroagent.jobs.history.history_index import HistoryIndex, IndexError_, is_damage


class GuardedIndex:
    """Calls `current()`'s methods; on damage calls `repair(error)` once, then the method again."""

    def __init__(self, current: Callable[[], HistoryIndex], repair: Callable[[BaseException], None]) -> None:
        self._current = current
        self._repair = repair

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return getattr(self._current(), name)(*args, **kwargs)
            except (sqlite3.DatabaseError, IndexError_) as exc:
                if not is_damage(exc):
                    raise
                self._repair(exc)
                return getattr(self._current(), name)(*args, **kwargs)

        return call

    def __len__(self) -> int:
        result: int = self.__getattr__("__len__")()
        return result
