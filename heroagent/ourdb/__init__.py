"""OurDB, the Hero ecosystem's file database, in Python: `from heroagent.ourdb import OurDB`."""

from heroagent.ourdb.compact import CompactReport
from heroagent.ourdb.db import CheckReport, OurDB, RecoveryReport, Write
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
from heroagent.ourdb.record import Location

__all__ = [
    "CheckReport",
    "CompactReport",
    "CorruptRecordError",
    "DatabaseFullError",
    "DatabaseLockedError",
    "InvalidIdError",
    "Location",
    "OurDB",
    "OurDBError",
    "RecordNotFoundError",
    "RecordTooLargeError",
    "RecoveryReport",
    "StorageError",
    "Write",
]
