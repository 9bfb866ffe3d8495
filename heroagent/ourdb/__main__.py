"""`python -m heroagent.ourdb check PATH`: verify every record of a database; `import PATH`: make a
folder herolib wrote (data files, perhaps its lookup export) a HeroAgent OurDB, reading its data files only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heroagent.ourdb.damage import DamageLedger, describe
from heroagent.ourdb.db import OurDB
from heroagent.ourdb.errors import OurDBError
from heroagent.ourdb.foreign import import_foreign, is_foreign, plan_import, scan_foreign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heroagent.ourdb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="verify the CRC and history links of every record")
    check.add_argument("path")
    imp = sub.add_parser("import", help="write HeroAgent's lookup table for a folder herolib wrote")
    imp.add_argument("path")
    imp.add_argument("--export", default=None, help="herolib's lookup export (default: found beside its .inc file)")
    imp.add_argument("--keysize", type=int, default=None, help="the export's key size if its length is ambiguous")
    args = parser.parse_args(argv)
    if args.command == "import":
        return run_import(args.path, args.export, args.keysize)
    return run_check(args.path)


def run_import(path: str, export: str | None = None, keysize: int | None = None) -> int:
    try:
        report = import_foreign(path, export, keysize)
    except OurDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: imported {report.summary()}; its data files are unchanged")
    return 0


def run_check(path: str, fix: bool = False) -> int:
    """Open read-only (works while a server holds the database) and report; exit 1 on any problem.
    A folder herolib wrote (data files, no lookup table) is scanned instead, saying what an import finds.
    The damage ledger's events (what a recovery lost, damage.py) are shown; `fix` acknowledges them, so
    health is no longer degraded by them (they are kept in damage.acknowledged.json)."""
    if is_foreign(Path(path)):
        return check_foreign(Path(path))
    try:
        with OurDB(path, readonly=True) as db:
            report = db.check()
    except OurDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"problem: {problem}")
    ledger = DamageLedger(Path(path))
    for entry in ledger.entries():
        print(f"damage: {describe(entry)}")
    if fix:
        count = ledger.acknowledge()
        print(f"acknowledged {count} damage event(s)" if count else "no damage to acknowledge")
    state = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"{path}: {report.ids} ids, {report.records} records checked: {state}")
    return 0 if report.ok else 1


def check_foreign(path: Path) -> int:
    found = scan_foreign(path)
    print(f"{path}: no HeroAgent lookup table; the data files hold {found.summary()}")
    try:
        report, _ = plan_import(path)
    except OurDBError as exc:
        print(f"problem: {exc}")
        return 1
    print(f"`heroagent ourdb import {path}` would give {report.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
