"""Job types (issue 12, item 5): an actor declares its jobs' defaults; `[job_types.<name>]` overrides
them; a job's own fields win; `GET /api/job-types` lists them with counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

import heroagent
from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.config import load_config, to_toml
from heroagent.errors import ConfigError
from heroagent.jobs import InvalidJobError, JobContext
from tests.conftest import make_config, ui_url

StartAgent = Callable[..., HeroAgent]


def test_a_job_takes_its_types_defaults_unless_it_says_otherwise(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, scheduler={"enabled": False})
    config.job_types = {"mail": {"max_retries": 2}}  # the operator's word over the actor's
    agent = HeroAgent(config)

    @agent.actor("mail", timeout=30, max_retries=5, retry_delay=4)
    class Mail:
        def send(self, ctx: JobContext, to: str = "") -> str:
            return f"sent to {to}"

    with agent:
        jm = agent.get_job_manager()
        typed = jm.create_job("m", "!!mail.send to:ann")
        assert (typed.timeout, typed.max_retries, typed.retry_delay) == (30.0, 2, 4.0)
        own = jm.create_job("m", "!!mail.send to:bob", timeout=5, max_retries=0)
        assert (own.timeout, own.max_retries, own.retry_delay) == (5.0, 0, 4.0)
        plain = jm.create_job("m", "!!fake.return_success")
        assert plain.timeout == config.jobs.default_timeout
        # Another process gets the same defaults: the server published them in Redis.
        remote = JobClient(agent.redis.url).create_job("m", "!!mail.send to:cid")  # type: ignore[union-attr]
        assert (remote.timeout, remote.max_retries) == (30.0, 2)
        for job in (typed, own, plain, remote):
            jm.wait_for_job(job.job_id, timeout=15)
        listed = requests.get(ui_url(agent, "/api/job-types"), timeout=5).json()["types"]
        mail = next(t for t in listed if t["name"] == "mail")
        expected = {"timeout": 30.0, "max_retries": 2, "retry_delay": 4.0, "priority": 0, "no_overlap": False}
        assert mail["defaults"] == expected and mail["jobs"] == 3
        assert any(t["name"] == "fake" and t["jobs"] == 1 for t in listed)


def test_bad_type_defaults_are_refused(data_dir: Path) -> None:
    agent = HeroAgent(make_config(data_dir))
    with pytest.raises(ValueError, match="job type x: timeout: -1 must be greater than 0"):
        agent.actor("x", timeout=-1)(object)
    with pytest.raises(TypeError):
        agent.actor("x", colour=3)(object)  # not a job-type default: refused, not ignored
    with pytest.raises(ValueError, match="job type x: priority: 10 must be at most 9"):
        agent.actor("x", priority=10)(object)
    with pytest.raises(ValueError, match="job type x: no_overlap: 'yes' must be true or false"):
        agent.actor("x", no_overlap="yes")(object)
    config = make_config(data_dir)
    config.job_types = {"mail": {"timeout": float("nan")}}
    (data_dir / "c.toml").write_text(to_toml(config).replace("nan", "-1.0"))
    with pytest.raises(ConfigError, match=r"\[job_types.mail\]: job type mail: timeout"):
        load_config(data_dir / "c.toml")


def test_a_job_type_names_the_topic_of_jobs_that_give_none(data_dir: Path) -> None:
    @heroagent.actor("mailer", topic="outbox", priority=2)  # declared before the server starts, as modules are
    class Mailer:
        def send(self, to: str = "") -> str:
            return f"sent to {to}"

    agent = HeroAgent(make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})).start()
    try:
        check_topic_defaults(agent)
    finally:
        agent.stop()


def check_topic_defaults(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    job = jm.create_job(None, "!!mailer.send to:ann")
    assert (job.topic, job.priority) == ("outbox", 2)
    assert jm.create_job("elsewhere", "!!mailer.send to:bob").topic == "elsewhere"  # its own wins
    with pytest.raises(InvalidJobError, match="topic: required"):
        jm.create_job(None, "!!fake.return_success")
    with pytest.raises(ValueError, match="job type bad: topic: 'a b' may only contain"):
        heroagent.actor("bad", topic="a b")(object)
    assert jm.wait_for_job(job.job_id, timeout=15).result == ["sent to ann"]
