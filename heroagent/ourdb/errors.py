"""OurDB's errors, each saying which database, id or file is concerned."""

from __future__ import annotations

from heroagent.errors import HeroAgentError


class OurDBError(HeroAgentError):
    """Base for every OurDB problem."""


class RecordNotFoundError(OurDBError, KeyError):
    """No live record for that id (never written, or deleted)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CorruptRecordError(OurDBError):
    """A record's bytes do not match its CRC32 or its header points outside its file."""


class DatabaseLockedError(OurDBError):
    """Another process has the database open for writing."""


class RecordTooLargeError(OurDBError, ValueError):
    """Data larger than one record can hold (65,535 bytes), or empty data."""


class InvalidIdError(OurDBError, ValueError):
    """An id given to `insert_at` that was handed out already, or that would skip too many ids."""


class DatabaseFullError(OurDBError):
    """The key size cannot address any more data or ids."""


class StorageError(OurDBError):
    """The disk refused a write or a sync (full, I/O error, file size limit). What the failed write had
    begun is undone, so nothing half-written stays; the database stays usable once the cause is gone."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
