"""JSON jobs (issue 26, item 3): a JSON object as params, run by the handler of its topic or the action it
names, with the object's keys as keyword arguments, checked against the handler's signature at create.
Results are values (item 4): what the action returned, not a text holding JSON.

Real parts: a Redis, the server, a `heroagent worker` process with a module the server does not have, the
JSON API over HTTP, the CLI.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from heroagent import HeroAgent
from heroagent.jobs import InvalidJobError, JobStatus
from heroagent.jobs.live.jobtypes import read_live
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import child_env, external_redis, make_config, present, start_worker, ui_url, wait_until

CLI = (sys.executable, "-m", "heroagent", "job")
MAIL = textwrap.dedent(
    """
    import heroagent

    @heroagent.handler("mail", max_retries=2)
    def deliver(to: str, count: int = 1, urgent: bool = False, tags: list[str] | None = None) -> dict:
        return {"to": to, "count": count, "urgent": urgent, "tags": tags, "types": [type(count).__name__]}

    @heroagent.actor("billing", handler="charge")
    class Billing:
        def charge(self, cents: int) -> int:
            return cents * 2

        def refund(self, cents: int) -> str:
            return f"refunded {cents}"
    """
)


@pytest.fixture
def fleet(data_dir: Path) -> Iterator[HeroAgent]:
    """A server whose own pool serves "local", and a `heroagent worker` serving "mail" and "billing" with the
    module `mail_handlers` (which the server does not import)."""
    redis_server: EmbeddedRedis = external_redis(data_dir)
    modules = data_dir / "modules"
    modules.mkdir()
    (modules / "mail_handlers.py").write_text(MAIL)
    config = make_config(
        data_dir,
        redis={"url": redis_server.url},
        webdav={"enabled": False},
        ui={"enabled": False},
        jobs={"topics": ["local"], "lease_seconds": 2.0},
    )
    worker = None
    try:
        worker = start_worker(
            redis_server.url,
            "mail,billing",
            "--module",
            "mail_handlers",
            PYTHONPATH=f"{modules}:{child_env()['PYTHONPATH']}",
        )
        with HeroAgent(config) as agent:
            manager = agent.get_job_manager()
            client, layout = manager.client, manager.layout
            assert wait_until(lambda: "billing" in read_live(client, layout), timeout=30), present(worker.stderr).read()
            yield agent
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        redis_server.stop()


def test_a_remote_handler_runs_a_json_job_with_typed_values_and_its_defaults(fleet: HeroAgent) -> None:
    jm = fleet.get_job_manager()
    job = jm.create_job("mail", {"to": "ann@example.com", "count": 3, "tags": ["a", "b"]})
    assert (job.params_type.value, job.action, job.max_retries) == ("json", "mail.deliver", 2)
    final = jm.wait_for_job(job.job_id, timeout=30)
    assert final.status is JobStatus.DONE, final.error
    assert final.result == {"to": "ann@example.com", "count": 3, "urgent": False, "tags": ["a", "b"], "types": ["int"]}
    assert final.result_type == "json"


def test_the_seed_style_create_with_json_text_is_a_json_job(fleet: HeroAgent) -> None:
    """The server factory doc's `CreateJob("email", '{"to": ...}')`: text starting with '{' is JSON."""
    jm = fleet.get_job_manager()
    job = jm.create_job("mail", '{"to": "user@example.com", "urgent": true}')
    assert job.params_type.value == "json"
    final = jm.wait_for_job(job.job_id, timeout=30)
    assert final.status is JobStatus.DONE and final.result["urgent"] is True


def test_an_actor_names_its_handler_and_a_job_may_name_another_action(fleet: HeroAgent) -> None:
    jm = fleet.get_job_manager()
    charged = jm.create_job("billing", {"cents": 21})
    refunded = jm.create_job("billing", {"cents": 5}, action="billing.refund")
    assert (charged.action, refunded.action) == ("billing.charge", "billing.refund")
    assert jm.wait_for_job(charged.job_id, timeout=30).result == 42
    assert jm.wait_for_job(refunded.job_id, timeout=30).result == "refunded 5"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"to": "ann", "count": "3"}, "count: expected a whole number, got '3'"),  # JSON values keep their type
        ({"to": "ann", "count": 2.5}, "count: expected a whole number, got 2.5"),
        ({"to": "ann", "urgent": "false"}, "urgent: expected true or false, got 'false'"),
        ({"to": "ann", "msg": "hi"}, "unknown param(s) msg; accepted: to, count, urgent, tags"),
        ({"count": 1}, "missing required param(s) to"),
        ({"to": "ann", "count": 10**400}, "does not fit 64 bits"),
        ({"to": "ann", "count": math.nan}, "not a finite number"),
        ({"to": "ann", "count": math.inf}, "not a finite number"),
        ({"to": "\ud800"}, "lone surrogate"),
        ({"\udc00": 1}, "lone surrogate"),
        ('{"to": "ann", "count": NaN}', "NaN is not a JSON number"),
        ('{"to": "ann", "count": 1e400}', "not a finite number"),
        ('{"to": "ann", "count": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"to": ' + "[" * 1000 + "]" * 1000 + "}", "nested more than"),
        ('{"to": "ann", ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_a_json_job_that_breaks_its_handlers_contract_is_refused_and_nothing_is_made(
    fleet: HeroAgent, params: Any, says: str
) -> None:
    jm = fleet.get_job_manager()
    before = jm.queue_stats().get("mail", {}).get("queued", 0)
    with pytest.raises(InvalidJobError) as refused:
        jm.create_job("mail", params, params_type="json")
    assert says in str(refused.value) and str(refused.value).startswith("params"), refused.value
    assert jm.queue_stats().get("mail", {}).get("queued", 0) == before


def test_a_topic_without_handler_or_an_unknown_action_is_refused(fleet: HeroAgent) -> None:
    jm = fleet.get_job_manager()
    with pytest.raises(InvalidJobError, match=r"topic 'nowhere' has no handler .*@heroagent.handler\('nowhere'\)"):
        jm.create_job("nowhere", {"a": 1})
    with pytest.raises(InvalidJobError, match="actor 'billing' has no action 'steal'"):
        jm.create_job("billing", {"cents": 1}, action="billing.steal")
    with pytest.raises(InvalidJobError, match="no live worker serves actor 'ghost'"):
        jm.create_job("billing", {"cents": 1}, action="ghost.walk")
    with pytest.raises(InvalidJobError, match=r"action: 'Bad Name' must be actor\.action"):
        jm.create_job("billing", {"cents": 1}, action="Bad Name")
    with pytest.raises(InvalidJobError, match="only a json job names its action"):
        jm.create_job("billing", "!!billing.charge cents:1", action="billing.charge")


def test_the_cli_submits_a_json_job_and_prints_its_result_as_a_value(fleet: HeroAgent) -> None:
    url = fleet.config.redis.url
    done = subprocess.run(
        [*CLI, "submit", "billing", "--type", "json", '{"cents": 4}', "--wait", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(HEROAGENT_REDIS_URL=url, HEROAGENT_DATA_DIR=str(fleet.config.data_path)),
    )
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert (job["status"], job["action"], job["result"], job["result_type"]) == ("done", "billing.charge", 8, "json")
    refused = subprocess.run(
        [*CLI, "submit", "billing", '{"cents": "four"}'],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(HEROAGENT_REDIS_URL=url, HEROAGENT_DATA_DIR=str(fleet.config.data_path)),
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: params (action billing.charge): cents: expected a whole number, got 'four'"


def test_the_json_api_takes_an_object_and_answers_values(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()

    @agent.handler("greet")
    def hello(name: str, times: int = 1) -> list[str]:
        return [f"hello {name}"] * times

    jm = agent.get_job_manager()
    r = requests.post(
        ui_url(agent, "/api/jobs"), json={"topic": "greet", "params": {"name": "bo", "times": 2}}, timeout=10
    )
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    assert jm.wait_for_job(job_id, timeout=15).status is JobStatus.DONE
    got = requests.get(ui_url(agent, f"/api/jobs/{job_id}"), timeout=10).json()
    assert got["result"] == ["hello bo", "hello bo"] and got["params_type"] == "json" and got["action"] == "greet.hello"
    download = requests.get(ui_url(agent, f"/api/jobs/{job_id}/result"), timeout=10)
    assert download.headers["Content-Type"] == "application/json"
    assert f"job-{job_id}-result.json" in download.headers["Content-Disposition"]
    assert download.json() == ["hello bo", "hello bo"]
    bad = requests.post(
        ui_url(agent, "/api/jobs"), json={"topic": "greet", "params": {"name": "bo", "times": "2"}}, timeout=10
    )
    assert bad.status_code == 400 and "times: expected a whole number" in bad.json()["error"]
    page = requests.get(ui_url(agent, f"/jobs/{job_id}"), timeout=10).text
    assert "result-download" in page and "&#34;hello bo&#34;" in page


def test_a_text_result_stays_text_and_a_result_json_cannot_carry_fails_clearly(agent: HeroAgent) -> None:
    @agent.handler("odd")
    def odd(kind: str) -> Any:
        return math.nan if kind == "nan" else "42"

    jm = agent.get_job_manager()
    text = jm.wait_for_job(jm.create_job("odd", {"kind": "text"}).job_id, timeout=15)
    assert text.result == "42" and text.result_text == '"42"'  # a JSON text: the string, not the number
    nan = jm.wait_for_job(jm.create_job("odd", {"kind": "nan"}, max_retries=0).job_id, timeout=15)
    assert nan.status is JobStatus.ERROR and "NaN or an infinity" in nan.error
    by_hand = jm.create_job("odd", {"kind": "text"}, delay=3600)
    assert jm.complete_job(by_hand.job_id, {"done": True}).result == {"done": True}
