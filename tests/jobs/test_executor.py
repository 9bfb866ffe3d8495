"""The executor's parse cache (heroagent/jobs/executor.py): repeated short scripts parse once; long
params are never kept (512 texts of up to 16 MiB each would be 8 GiB)."""

from __future__ import annotations

from heroagent.jobs import executor


def test_short_scripts_are_parsed_once_and_long_params_are_not_kept() -> None:
    executor._parse_cached.cache_clear()
    short = "!!fake.return_success"
    long = "!!fake.return_success note:'" + "x" * 100_000 + "'"
    assert executor.parse_actions(short) is executor.parse_actions(short)  # from the cache
    assert executor.parse_actions(long)[0].params["note"] == "x" * 100_000
    assert executor.parse_actions(long) is not executor.parse_actions(long)  # parsed each time
    assert executor._parse_cached.cache_info().currsize == 1  # the short one only
