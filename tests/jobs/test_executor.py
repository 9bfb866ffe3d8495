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


def test_a_creator_parses_a_short_script_once_and_a_bad_one_every_time() -> None:
    from heroagent.heroscript import HeroScriptError
    from heroagent.jobs import model

    model._job_type_cached.cache_clear()
    assert model.job_type_of("!!mail.send to:x") == "mail"
    assert model.job_type_of("!!mail.send to:y") == "mail"
    assert model.job_type_of("!!mail.send to:x") == "mail"
    assert model._job_type_cached.cache_info().hits == 1
    long = "!!mail.send body:'" + "x" * 100_000 + "'"
    assert model.job_type_of(long) == "mail"
    assert model._job_type_cached.cache_info().currsize == 2  # the long one is not kept
    for _ in range(2):
        try:
            model.job_type_of("!!mail.send to:'unclosed")
        except HeroScriptError:
            pass
        else:
            raise AssertionError("a bad script was taken")
