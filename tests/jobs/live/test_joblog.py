"""JobLogs on real files: reading from an offset and reading the tail that the job page shows."""

from __future__ import annotations

from pathlib import Path

from heroagent.jobs.live.joblog import JobLogs


def test_read_tail_returns_the_end_and_says_when_it_cut(data_dir: Path) -> None:
    logs = JobLogs(data_dir / "logs")
    assert logs.read_tail(1, 100) == ("", False)  # no log file yet
    logs.append_raw(1, "first line\n")
    assert logs.read_tail(1, 100) == ("first line\n", False)
    logs.append_raw(1, "x" * 200 + "\nlast line\n")
    text, cut = logs.read_tail(1, 50)
    assert cut and len(text.encode()) == 50 and text.endswith("x\nlast line\n")
    assert logs.read(1, len("first line\n")).startswith("xxx")
