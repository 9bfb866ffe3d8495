"""Bench only: `heroagent serve` whose recorder reads, parses and acks every event but writes nothing.

    python -m bench._serve_unrecorded serve --config FILE     (or call `leave_out_history_writes()`)

An upper bound, never a mode to run: it prices the history's writes (OurDB, the SQLite index, the
stats) in the server's process by leaving them out. Everything else is the real server: the events
are read from the stream and parsed as the recorder does, and `queue.recorded` acks them and deletes
the finished jobs' hashes, so the bench's stop rule (no job hash left, the stream empty) holds.
"""

from __future__ import annotations

from typing import Any

from heroagent.cli import main
from heroagent.jobs.history import recorder
from heroagent.jobs.history.store import RecordedEvent


def _parse_and_forget(self: recorder.Recorder, entries: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """What `Recorder._store_events` returns, with nothing written: (written, every event, every id)."""
    events = [RecordedEvent.from_stream(fields) for _, fields in entries if fields]
    return [], events, [entry_id for entry_id, _ in entries]


def leave_out_history_writes() -> None:
    """From now on, every recorder in this process writes nothing (see the module's docstring)."""
    recorder.Recorder._store_events = _parse_and_forget  # type: ignore[method-assign]


if __name__ == "__main__":
    leave_out_history_writes()
    main()
