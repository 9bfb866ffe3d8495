"""The byte layout of one record and of a location, exactly as herolib's OurDB writes them.

Record = 12-byte header + data. Header: data size u16 LE, CRC32 of the data u32 LE, then the
location of the previous version of the same id, 6 bytes big-endian (file_nr u16, position u32).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

HEADER_SIZE = 12
MAX_DATA_SIZE = 0xFFFF
_HEADER = struct.Struct("<HI6s")
_LOCATION = struct.Struct(">HI")


class Location(NamedTuple):
    """Where a record starts: a data file number and a byte offset in it. (0, 0) means none."""

    file_nr: int
    position: int

    def __bool__(self) -> bool:
        return self.file_nr != 0 or self.position != 0

    def to_bytes(self) -> bytes:
        return _LOCATION.pack(self.file_nr, self.position)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Location:
        file_nr, position = _LOCATION.unpack(raw)
        return cls(file_nr, position)

    def encode(self, keysize: int) -> bytes:
        """The lookup-table form: keysize 6 carries the file number, 2 to 4 only the position."""
        if keysize == 6:
            return self.to_bytes()
        return self.position.to_bytes(keysize, "big")

    @classmethod
    def decode(cls, raw: bytes) -> Location:
        if len(raw) == 6:
            return cls.from_bytes(raw)
        return cls(0, int.from_bytes(raw, "big"))


NO_LOCATION = Location(0, 0)


class Header(NamedTuple):
    size: int
    crc: int
    prev: Location

    @property
    def is_zeroed(self) -> bool:
        """A deleted record: its header (and data) were overwritten with zeros."""
        return self.size == 0 and self.crc == 0 and not self.prev


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_record(data: bytes, prev: Location) -> bytes:
    return _HEADER.pack(len(data), crc32(data), prev.to_bytes()) + data


def decode_header(raw: bytes) -> Header:
    size, crc, prev = _HEADER.unpack(raw)
    return Header(size, crc, Location.from_bytes(prev))
