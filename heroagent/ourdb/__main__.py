"""`python -m heroagent.ourdb check PATH`: verify every record of a database."""

from __future__ import annotations

import argparse
import sys

from heroagent.ourdb.db import OurDB
from heroagent.ourdb.errors import OurDBError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heroagent.ourdb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="verify the CRC and history links of every record")
    check.add_argument("path")
    args = parser.parse_args(argv)
    return run_check(args.path)


def run_check(path: str) -> int:
    """Open read-only (works while a server holds the database) and report; exit 1 on any problem."""
    try:
        with OurDB(path, readonly=True) as db:
            report = db.check()
    except OurDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(f"problem: {problem}")
    state = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    print(f"{path}: {report.ids} ids, {report.records} records checked: {state}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
