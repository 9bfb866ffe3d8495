"""Opening a folder that herolib (the V reference) wrote: its data files, perhaps its lookup export.

herolib keeps its lookup table in memory. A folder it leaves behind holds `<n>.db` data files and, if
it exported its table, a sparse export (`[id u32 LE][keysize-byte location]` entries) with the next id
as decimal text in `<export>.inc`. `import_foreign` reads such a folder without changing a byte of its
data files and writes HeroAgent's own `lookup.idx` and `ourdb.json` beside them, only once everything
was read and checked; after that the folder opens as any OurDB here.

Ids come from the export when there is one (each entry checked: its location must hold an intact
record). Without it they are counted as incremental mode gave them, 1, 2, 3 ... in the order of each
id's first insert, with updates joined to their id through their prev pointers. That count is only
sure while no record was deleted: herolib zeroes a deleted id's newest record, size included, so a
zeroed stretch may have held one id's first insert or several, and the ids after it cannot be told.
Such a folder is refused with the places of the stretches, never renumbered silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from heroagent.ourdb import layout
from heroagent.ourdb.errors import OurDBError
from heroagent.ourdb.lookup import VALID_KEYSIZES, LookupTable
from heroagent.ourdb.record import Location
from heroagent.ourdb.scan import ScannedRecord, scan

IMPORT_KEYSIZE = 6  # HeroAgent's own table addresses every data file


class ForeignDatabaseError(OurDBError):
    """A folder herolib wrote cannot be imported as it is (the message says why and what to do)."""


@dataclass
class ForeignScan:
    """What the data files of a foreign folder hold (for `check` and for import)."""

    records: list[ScannedRecord] = field(default_factory=list)
    gaps: list[Location] = field(default_factory=list)  # where zeroed or unreadable stretches start
    data_files: int = 0

    def summary(self) -> str:
        gaps = f"; {len(self.gaps)} zeroed or damaged stretch(es)" if self.gaps else ""
        return f"{self.data_files} data file(s), {len(self.records)} intact record(s){gaps}"


@dataclass
class ImportReport:
    ids: int = 0
    records: int = 0
    next_id: int = 1
    source: str = ""  # "lookup export <file>" or "data files"

    def summary(self) -> str:
        return f"{self.ids} id(s) with {self.records} record(s) from the {self.source}; next id {self.next_id}"


def is_foreign(path: Path) -> bool:
    """Data files without HeroAgent's lookup table and metadata: a folder another OurDB wrote."""
    return (
        bool(layout.data_files(path))
        and not (path / layout.LOOKUP_FILE).exists()
        and not (path / layout.META_FILE).exists()
    )


def scan_foreign(path: Path) -> ForeignScan:
    found = ForeignScan(data_files=len(layout.data_files(path)))
    found.records = list(scan(path, found.gaps))
    return found


def find_export(path: Path) -> Path | None:
    """herolib's lookup export in the folder: a file `<name>` beside `<name>.inc` (None = there is none)."""
    for inc in sorted(path.glob("*.inc")):
        export = inc.with_suffix("")
        if export.is_file():
            return export
    return None


def import_foreign(
    path: str | os.PathLike[str], export: str | os.PathLike[str] | None = None, keysize: int | None = None
) -> ImportReport:
    """Write HeroAgent's lookup table for a folder herolib wrote; its data files are only read.

    `export`: herolib's lookup export (default: found in the folder); `keysize`: the export's entry
    size when its length fits more than one. ForeignDatabaseError says what is ambiguous."""
    folder = Path(path)
    if (folder / layout.LOOKUP_FILE).exists():
        raise ForeignDatabaseError(f"{folder}: already a HeroAgent OurDB ({layout.LOOKUP_FILE} exists); open it")
    report, newest = plan_import(folder, export, keysize)
    slots = max(report.next_id, 1)
    LookupTable.write_new(folder / layout.LOOKUP_FILE, IMPORT_KEYSIZE, newest, slots)
    meta = {"version": layout.FORMAT_VERSION, "incremental_mode": True, "imported_from": report.source}
    layout.write_synced(folder / layout.META_FILE, (json.dumps(meta) + "\n").encode())
    # A clean-close record of the files as found: the first open checks nothing it did not write.
    sizes = {int(p.stem): p.stat().st_size for p in layout.data_files(folder)}
    last = max(sizes)
    layout.write_synced(folder / layout.CLOSED_FILE, (json.dumps({"file": last, "end": sizes[last]}) + "\n").encode())
    layout.sync_dir(folder)
    return report


def plan_import(
    folder: Path, export: str | os.PathLike[str] | None = None, keysize: int | None = None
) -> tuple[ImportReport, dict[int, Location]]:
    """What an import would find (the report, and id -> newest location), writing nothing."""
    if not layout.data_files(folder):
        raise ForeignDatabaseError(f"{folder}: no OurDB data files (<n>.db) here")
    found = scan_foreign(folder)
    by_location = {record.location: record for record in found.records}
    export_path = Path(export) if export is not None else find_export(folder)
    report = ImportReport()
    if export_path is not None:
        newest, next_id = _from_export(export_path, by_location, keysize)
        report.source = f"lookup export {export_path.name}"
    else:
        newest, next_id = _from_chains(folder, found)
        report.source = "data files"
    for record_id, location in newest.items():
        _check_chain(folder, record_id, location, by_location)
        report.records += _chain_length(location, by_location)
    report.ids = len(newest)
    report.next_id = next_id
    return report, newest


def _from_export(
    export: Path, by_location: dict[Location, ScannedRecord], keysize: int | None
) -> tuple[dict[int, Location], int]:
    raw = export.read_bytes()
    inc = export.with_name(export.name + ".inc")
    try:
        next_id = int(inc.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ForeignDatabaseError(f"{inc}: the next id is not readable decimal text ({exc})") from None
    candidates = [keysize] if keysize else [k for k in (6, 4, 3, 2) if len(raw) % (4 + k) == 0]
    if keysize is not None and keysize not in VALID_KEYSIZES:
        raise ForeignDatabaseError(f"keysize {keysize}: must be one of 2, 3, 4, 6")
    fits: list[dict[int, Location]] = []
    for size in candidates:
        entries = _decode_export(raw, size)
        if entries is not None and all(loc in by_location for loc in entries.values()):
            fits.append(entries)
    if not fits:
        raise ForeignDatabaseError(
            f"{export}: its entries do not point at intact records of the data files with any key size "
            f"({', '.join(map(str, candidates)) or 'none fits its length of ' + str(len(raw)) + ' bytes'}); "
            "is it the export of this folder?"
        )
    if len(fits) > 1 and any(f != fits[0] for f in fits):
        raise ForeignDatabaseError(
            f"{export}: its entries read validly with more than one key size; pass the keysize herolib used"
        )
    entries = fits[0]
    if entries and next_id <= max(entries):
        raise ForeignDatabaseError(f"{inc}: next id {next_id} is not above the highest id {max(entries)} in {export}")
    return entries, next_id


def _decode_export(raw: bytes, keysize: int) -> dict[int, Location] | None:
    width = 4 + keysize
    entries: dict[int, Location] = {}
    for start in range(0, len(raw), width):
        record_id = int.from_bytes(raw[start : start + 4], "little")
        location = Location.decode(raw[start + 4 : start + width])
        if record_id == 0 or record_id in entries or not location:
            return None
        entries[record_id] = location
    return entries


def _from_chains(folder: Path, found: ForeignScan) -> tuple[dict[int, Location], int]:
    if found.gaps:
        where = ", ".join(f"{g.file_nr}.db:{g.position}" for g in found.gaps[:5])
        raise ForeignDatabaseError(
            f"{folder}: the data files hold {len(found.gaps)} zeroed or damaged stretch(es) (at {where}): "
            "deleted records whose size herolib zeroed too, so the ids of the records after them cannot be "
            "counted. Import with herolib's lookup export (a file beside its .inc next-id file; "
            "`heroagent ourdb import PATH --export FILE`)"
        )
    owner: dict[Location, int] = {}
    newest: dict[int, Location] = {}
    next_id = 1
    for record in found.records:
        prev = record.header.prev
        if prev:
            record_id = owner.get(prev)
            if record_id is None or newest[record_id] != prev:
                state = "no record" if record_id is None else f"an older version of id {record_id}"
                raise ForeignDatabaseError(
                    f"{folder}: the record at {record.location.file_nr}.db:{record.location.position} updates "
                    f"{state} (at {prev.file_nr}.db:{prev.position}); the version chains cannot be rebuilt"
                )
        else:
            record_id = next_id
            next_id += 1
        owner[record.location] = record_id
        newest[record_id] = record.location
    return newest, next_id


def _check_chain(folder: Path, record_id: int, location: Location, by_location: dict[Location, ScannedRecord]) -> None:
    """Every version of the id is an intact record, and the chain goes back in write order."""
    seen = 0
    while location:
        record = by_location.get(location)
        if record is None:
            raise ForeignDatabaseError(
                f"{folder}: id {record_id}: a version at {location.file_nr}.db:{location.position} is not an "
                "intact record (zeroed or damaged)"
            )
        prev = record.header.prev
        if prev and prev >= location:
            raise ForeignDatabaseError(f"{folder}: id {record_id}: its history points forward at {prev}")
        location = prev
        seen += 1


def _chain_length(location: Location, by_location: dict[Location, ScannedRecord]) -> int:
    count = 0
    while location:
        count += 1
        location = by_location[location].header.prev
    return count
