"""The parse cache (heroagent/heroscript/parser.py `parse_cached`), shared by creators (a job's type) and
the executor (its actions): repeated short scripts parse once; long params are never kept (512 texts of
up to 16 MiB each would be 8 GiB); a bad script is parsed again each time."""

from __future__ import annotations

import pytest

from heroagent.heroscript import HeroScriptError, parser
from heroagent.jobs.model import check_job_spec_and_type


def test_short_scripts_are_parsed_once_and_long_params_are_not_kept() -> None:
    parser._parse_short.cache_clear()
    short = "!!fake.return_success"
    long = "!!fake.return_success note:'" + "x" * 100_000 + "'"
    assert parser.parse_cached(short) is parser.parse_cached(short)  # from the cache
    assert parser.parse_cached(long)[0].params["note"] == "x" * 100_000
    assert parser.parse_cached(long) is not parser.parse_cached(long)  # parsed each time
    assert parser._parse_short.cache_info().currsize == 1  # the short one only


def test_a_creator_parses_a_short_script_once_and_a_bad_one_every_time() -> None:
    parser._parse_short.cache_clear()

    def job_type(params: str) -> str:
        return check_job_spec_and_type({"topic": "t", "params": params})[1]

    assert job_type("!!mail.send to:x") == "mail"
    assert job_type("!!mail.send to:y") == "mail"
    assert job_type("!!mail.send to:x") == "mail"
    assert parser._parse_short.cache_info().hits == 1
    long = "!!mail.send body:'" + "x" * 100_000 + "'"
    assert job_type(long) == "mail"
    assert parser._parse_short.cache_info().currsize == 2  # the long one is not kept
    for _ in range(2):
        with pytest.raises(HeroScriptError):
            parser.parse_job_cached("!!mail.send to:'unclosed")


def test_a_job_with_no_action_is_refused_from_the_cache_too() -> None:
    for _ in range(2):
        with pytest.raises(HeroScriptError, match="no action found"):
            parser.parse_job_cached("only prose here")
