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


def test_last_lines_start_at_a_line_and_lines_from_end_at_one(data_dir: Path) -> None:
    logs = JobLogs(data_dir / "logs")
    assert logs.last_lines(1, 100).text == "" and logs.lines_from(1, 0, 100).text == ""
    logs.append_raw(1, "".join(f"line {i:02d}\n" for i in range(10)))  # 8 bytes each
    tail = logs.last_lines(1, 20)  # the cut falls inside line 07: the part of it is left out
    assert (tail.text, tail.start, tail.end, tail.size) == ("line 08\nline 09\n", 64, 80, 80)
    assert logs.last_lines(1, 1000).text.startswith("line 00\n") and logs.last_lines(1, 1000).start == 0
    logs.append_raw(1, "line 10\nhalf")
    part = logs.lines_from(1, 80, 100)
    assert (part.text, part.end) == ("line 10\n", 88)  # the line being written waits
    assert logs.lines_from(1, 88, 100).text == ""
    assert logs.lines_from(1, 88, 100, partial=True).text == "half"  # unless nothing more will come
    assert logs.lines_from(1, 0, 12).text == "line 00\n"  # at most max_bytes, whole lines
    logs.append_raw(2, "x" * 50)
    assert logs.lines_from(2, 0, 20).text == "x" * 20  # a line longer than max_bytes comes in pieces
    assert logs.last_lines(2, 20).text == "x" * 20  # and its end is shown
