"""Recurring schedules: config and run time, every and cron, pause/resume/remove, restarts, misfires, upkeep."""

from __future__ import annotations

import itertools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from heroagent import HeroAgent
from heroagent.config import load_config, to_toml
from heroagent.errors import ConfigError
from heroagent.jobs import JobStatus
from heroagent.schema.schedule import Schedule, ScheduleError
from tests.conftest import make_config, wait_until

TICK = {"name": "tick", "every": 0.5, "topic": "ticks", "params": "!!fake.return_success message:tick"}


def schedule_config(data_dir: Path, *schedules: dict[str, Any], **sections: dict[str, object]) -> Any:
    config = make_config(
        data_dir,
        webdav={"enabled": False},
        ui={"enabled": False},
        scheduler={"lease_seconds": 1.0, "sweep_every": 0.5, **sections.pop("scheduler", {})},
        **sections,
    )
    config.schedules = [dict(s) for s in schedules]
    return config


def made_by(agent: HeroAgent, name: str) -> list[int]:
    return agent.get_schedules().get(name).recent_jobs


def test_every_schedule_from_the_config_makes_a_job_each_interval(data_dir: Path) -> None:
    with HeroAgent(schedule_config(data_dir, TICK)) as agent:
        jm = agent.get_job_manager()
        assert wait_until(lambda: len(made_by(agent, "tick")) >= 4, timeout=10)
        info = agent.get_schedules().get("tick")
        jobs = [jm.wait_for_job(i, timeout=10) for i in info.recent_jobs]
        assert {(j.topic, j.status) for j in jobs} == {("ticks", JobStatus.DONE)}
        created = sorted(j.time_created for j in jobs)
        gaps = [b - a for a, b in itertools.pairwise(created)]
        assert all(0.3 < gap < 1.5 for gap in gaps), gaps  # one per run: none doubled, none lost
        assert info.state.runs >= 4 and info.state.last_job == info.recent_jobs[0]
        assert info.next_run is not None and info.state.last_run < info.next_run <= time.time() + 0.6
        assert info.to_dict()["source"] == "config" and info.to_dict()["trigger"] == "every 0.5s"


def test_cron_expressions_are_parsed_in_utc() -> None:
    nightly = Schedule.from_dict({"name": "n", "cron": "30 3 * * *", "topic": "t", "params": "!!x.y"})
    midnight = 1_800_000_000 - 1_800_000_000 % 86400  # a UTC midnight
    assert nightly.next_run(midnight) == midnight + 3 * 3600 + 30 * 60
    assert nightly.next_run(midnight + 3 * 3600 + 30 * 60) == midnight + 86400 + 3 * 3600 + 30 * 60
    quarter = Schedule.from_dict({"name": "q", "cron": "*/15 * * * *", "topic": "t", "params": "!!x.y"})
    assert quarter.previous_run(midnight + 20 * 60) == midnight + 15 * 60


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"cron": "* * * *"}, r"schedule 'nightly': cron = '\* \* \* \*': Wrong number of fields"),
        ({"cron": "61 * * * *"}, r"schedule 'nightly': cron = '61 \* \* \* \*':.*higher than the maximum"),
        ({"cron": "0 3 * * *", "every": 5}, "schedule 'nightly': give either cron"),
        ({}, "schedule 'nightly': give either cron"),
        ({"every": "often"}, "schedule 'nightly': every: 'often' must be a number"),
        ({"every": 5, "misfire": "later"}, "schedule 'nightly': misfire: 'later' is not one of run_once, skip"),
        ({"every": 5, "colour": "red"}, "schedule 'nightly': colour: unknown field"),
        ({"every": 5, "params": "!!x.y a:'open"}, "schedule 'nightly': params: HeroScript syntax error at line 1"),
        ({"cron": "0 0 31 2,4,6,9,11 *"}, r"schedule 'nightly': cron = '0 0 31 2,4,6,9,11 \*': never fires"),
        ({"cron": "0 0 30 2 *"}, r"schedule 'nightly': cron = '0 0 30 2 \*': never fires"),
    ],
)
def test_bad_schedules_in_the_config_name_the_schedule(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    config_file = tmp_path / "heroagent.toml"
    entry = {"name": "nightly", "topic": "backup", "params": "!!fake.sleep", **table}
    config_file.write_text("[[schedules]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in entry.items()))
    with pytest.raises(ConfigError, match=rf"heroagent.toml: \[\[schedules\]\] number 1: {message}"):
        load_config(config_file)


def test_config_round_trips_through_toml(data_dir: Path) -> None:
    config = schedule_config(data_dir, TICK, {**TICK, "name": "nightly", "every": 0.0, "cron": "0 3 * * *"})
    (data_dir / "c.toml").write_text(to_toml(config))
    assert load_config(data_dir / "c.toml").schedules == config.schedules


def test_schedules_made_at_run_time_pause_resume_and_remove(data_dir: Path) -> None:
    with HeroAgent(schedule_config(data_dir)) as agent:
        with pytest.raises(ScheduleError, match="schedule 'bad': params: HeroScript syntax error at line 1"):
            agent.get_schedules().add("bad", "t", "!!fake.sleep seconds:'unclosed", every=1)
        with pytest.raises(ScheduleError, match="schedule 'bad': cron = 'soon'"):
            agent.get_schedules().add("bad", "t", "!!fake.sleep", cron="soon")
        info = agent.get_schedules().add("beat", "beats", "!!fake.return_success", every=0.3)
        assert info.schedule.source == "runtime" and not info.paused
        with pytest.raises(ScheduleError, match="already exists"):
            agent.get_schedules().add("beat", "beats", "!!fake.return_success", every=5)
        assert wait_until(lambda: len(made_by(agent, "beat")) >= 2, timeout=10)

        assert agent.get_schedules().pause("beat").paused
        time.sleep(0.4)  # a run already under way may still land
        count = len(made_by(agent, "beat"))
        time.sleep(1.2)
        assert len(made_by(agent, "beat")) == count and agent.get_schedules().get("beat").next_run is None
        assert not agent.get_schedules().resume("beat").paused
        assert wait_until(lambda: len(made_by(agent, "beat")) > count, timeout=10)

        def saved() -> dict[str, Any]:  # plain JSON on disk, never a pickle
            return dict(json.loads(agent.config.schedules_path.read_text()))

        # the run's job is made before its state is saved: the file follows a moment later
        assert wait_until(lambda: saved()["state"]["beat"]["runs"] >= 3, timeout=10)
        assert saved()["schedules"]["beat"]["every"] == 0.3

        agent.get_schedules().remove("beat")
        assert "beat" not in {i.schedule.name for i in agent.get_schedules().list()}
        assert "beat" not in json.loads(agent.config.schedules_path.read_text())["schedules"]


def test_config_schedules_cannot_be_removed_but_can_be_paused(data_dir: Path) -> None:
    with HeroAgent(schedule_config(data_dir, {**TICK, "enabled": False})) as agent:
        assert agent.get_schedules().get("tick").paused  # enabled = false: defined, not firing
        with pytest.raises(ScheduleError, match="comes from the config file and cannot be removed here"):
            agent.get_schedules().remove("tick")
        time.sleep(1.2)
        assert made_by(agent, "tick") == []
        agent.get_schedules().resume("tick")
        assert wait_until(lambda: len(made_by(agent, "tick")) >= 1, timeout=10)


def test_run_time_schedules_come_back_after_a_restart_even_if_redis_lost_its_data(data_dir: Path) -> None:
    config = schedule_config(data_dir)
    with HeroAgent(config) as agent:
        agent.get_schedules().add("hourly", "h", "!!fake.return_success", cron="0 * * * *")
        agent.get_schedules().pause("hourly")
    shutil.rmtree(config.redis_dir)  # Redis starts empty: the JSON file brings the schedules back
    with HeroAgent(config) as agent:
        info = agent.get_schedules().get("hourly")
        assert (info.schedule.cron, info.paused, info.schedule.source) == ("0 * * * *", True, "runtime")


@pytest.mark.parametrize(("misfire", "expected"), [("run_once", 1), ("skip", 0)])
def test_a_run_missed_while_down_is_run_once_or_skipped(data_dir: Path, misfire: str, expected: int) -> None:
    config = schedule_config(data_dir)
    with HeroAgent(config) as agent:
        agent.get_schedules().add("daily", "d", "!!fake.return_success", every=3600, misfire=misfire)
        agent.get_schedules().book.update_state("daily", last_run=time.time() - 3 * 3600)  # as if down for hours
        agent.get_schedules().book.save()
    with HeroAgent(config) as agent:
        if expected:
            assert wait_until(lambda: len(made_by(agent, "daily")) == expected, timeout=10)
        time.sleep(1.5)  # and no more than that
        assert len(made_by(agent, "daily")) == expected


def test_upkeep_tasks_are_listed_like_other_schedules(data_dir: Path) -> None:
    config = schedule_config(data_dir, jobs={"history_days": 30})
    with HeroAgent(config) as agent:
        names = {i.schedule.name: i for i in agent.get_schedules().list()}
        assert {"upkeep.sweep", "upkeep.retention", "upkeep.compact"} <= set(names)
        assert names["upkeep.compact"].schedule.cron == "30 3 * * *"
        assert wait_until(lambda: agent.get_schedules().get("upkeep.sweep").state.runs >= 1, timeout=10)
        assert "job hashes" in agent.get_schedules().get("upkeep.sweep").state.last_result


def test_a_schedule_makes_json_jobs_checked_against_their_handler(data_dir: Path) -> None:
    """A dict as params (or a TOML inline table) makes json jobs; their contract is checked when the
    schedule is added, as a job's is at create (issue 26, items 3 and 6)."""
    with HeroAgent(schedule_config(data_dir)) as agent:

        @agent.handler("greetings")
        def greet(name: str) -> str:
            return f"hello {name}"

        schedules = agent.get_schedules()
        with pytest.raises(
            ScheduleError, match=r"schedule 'bad': params \(action greetings\.greet\): name: expected a text"
        ):
            schedules.add("bad", "greetings", {"name": 5}, every=1)
        info = schedules.add("hello", "greetings", {"name": "ann"}, every=0.3)
        assert (info.schedule.params_type, info.schedule.params) == ("json", '{"name": "ann"}')
        assert wait_until(lambda: made_by(agent, "hello"), timeout=10)
        job = agent.get_job_manager().wait_for_job(made_by(agent, "hello")[0], timeout=10)
        assert (job.action, job.result) == ("greetings.greet", "hello ann")
        schedules.remove("hello")


def test_schedule_add_has_an_option_for_every_field_of_a_schedule() -> None:
    from heroagent.cli import cli
    from heroagent.schema.schedule import SCHEDULE

    add = cli.commands["schedule"].commands["add"]  # type: ignore[attr-defined]
    options = {p.name for p in add.params}
    assert {f.name for f in SCHEDULE.fields} - {"enabled"} <= options


def test_a_cron_that_never_fires_is_a_400_and_costs_no_cpu(web_agent: Any) -> None:
    """Issue 31, item 6: eight never-firing crons made GET /api/schedules take 8 s at 100% CPU."""
    import requests

    from tests.conftest import ui_url

    agent = web_agent()
    body = {"name": "never", "cron": "0 0 31 2,4,6,9,11 *", "topic": "t", "params": "!!fake.sleep"}
    started = time.process_time()
    for _ in range(8):
        r = requests.post(ui_url(agent, "/api/schedules"), json=body, timeout=10)
        assert r.status_code == 400 and "never fires" in r.json()["error"], r.text
    assert requests.get(ui_url(agent, "/api/schedules"), timeout=10).status_code == 200
    print(f"8 refused adds and a listing: {time.process_time() - started:.3f} s of this process's CPU")


def test_a_schedule_named_like_a_dashboard_page_is_refused_naming_why() -> None:
    with pytest.raises(ScheduleError, match=r"schedule 'new': name: 'new' is the dashboard's page"):
        Schedule.from_dict({"name": "new", "every": 60, "topic": "t", "params": "!!x.y"})
