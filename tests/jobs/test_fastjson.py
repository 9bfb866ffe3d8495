"""The hot path's JSON (heroagent/jobs/fastjson.py): what orjson will not take still reads and writes as
the standard library did, and what it takes means the same."""

from __future__ import annotations

import json
import math

import pytest

from heroagent.jobs import fastjson


def test_a_job_document_round_trips_compact_and_unescaped() -> None:
    doc = {"jobid": 7, "params": "!!x.y name:'é 🎉 \u2028'", "time_created": 1732400000.125, "log": True, "n": None}
    raw = fastjson.dumps(doc)
    assert raw.startswith(b'{"jobid":7,"params":')  # compact
    assert "é 🎉".encode() in raw  # UTF-8, not \\u escapes
    assert fastjson.loads(raw) == doc == json.loads(raw)


def test_what_orjson_refuses_to_write_is_written_by_the_standard_library() -> None:
    assert fastjson.dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'
    for dumps in (fastjson.dumps, lambda doc: json.dumps(doc, ensure_ascii=False).encode()):
        with pytest.raises(UnicodeEncodeError):  # a lone surrogate is refused as it always was
            dumps({"lone": "\ud800"})


def test_what_orjson_refuses_to_read_is_read_by_the_standard_library() -> None:
    nested = b'{"a": [1, {"b": [123456789012345678901234567890]}], "c": 1.5}'
    for big in (b'{"big": 123456789012345678901234567890}', '{"big": -123456789012345678901234567890}', nested):
        assert fastjson.loads(big) == json.loads(big)  # exact, not orjson's float
    assert isinstance(fastjson.loads(nested)["a"][1]["b"][0], int)
    assert fastjson.loads(b"[1e300, 2.5]") == [1e300, 2.5]  # a large float is still a float
    assert math.isnan(fastjson.loads('{"x": NaN}')["x"])  # a foreign producer's non-standard JSON, as before
    try:
        fastjson.loads(b"{not json")
    except ValueError as exc:  # still the standard library's error, as callers catch it
        assert isinstance(exc, json.JSONDecodeError)
    else:
        raise AssertionError("bad JSON was read")
