"""Idempotency keys (issue 14, item 3): a retried submit never makes a second job.

Same key twice (sequential, from 10 processes at once, across a restart, after Redis lost its data):
one job. The key is kept in the job's record, so the history answers for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import IdempotencyKeyConflictError
from tests.conftest import REPO, child_env, make_config, redis_cli, ui_url


def test_the_same_key_gives_the_same_job(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        first = jm.create_job("pay", "!!fake.return_success message:charge", idempotency_key="order-17")
        again = jm.create_job("pay", "!!fake.return_success message:charge", idempotency_key="order-17")
        assert again.job_id == first.job_id
        other = jm.create_job("pay", "!!fake.return_success", idempotency_key="order-18")
        assert other.job_id != first.job_id
        batch = jm.create_jobs([{"topic": "pay", "params": "!!fake.return_success", "idempotency_key": "b-1"}] * 3)
        assert len({j.job_id for j in batch}) == 1
        body = {"topic": "pay", "params": "!!fake.return_success", "idempotency_key": "web-1"}
        made = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5)
        repeat = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5)
        assert (made.status_code, repeat.status_code) == (201, 200)
        assert made.json()["job_id"] == repeat.json()["job_id"] and repeat.json()["idempotency_key"] == "web-1"
        bad = requests.post(ui_url(agent, "/api/jobs"), json={**body, "idempotency_key": "has space"}, timeout=5)
        assert bad.status_code == 400 and bad.json()["error"].startswith("idempotency_key:")
        assert jm.wait_for_job(first.job_id, timeout=15).status is JobStatus.DONE
        redis_cli(agent, "FLUSHALL")  # Redis loses everything: the history still knows the key, and its job
        charge = "!!fake.return_success message:charge"
        assert jm.create_job("pay", charge, idempotency_key="order-17").job_id == first.job_id
        with pytest.raises(IdempotencyKeyConflictError, match=f"job {first.job_id} was created with it"):
            jm.create_job("pay", "!!fake.return_success", idempotency_key="order-17")  # other params: a conflict
    with HeroAgent(config) as agent:  # and so does the next start
        jm = agent.get_job_manager()
        assert jm.create_job("pay", charge, idempotency_key="order-17").job_id == first.job_id
        total = len(jm.list_jobs(limit=1000))
        assert total == 4  # order-17, order-18, b-1, web-1


def test_ten_processes_submitting_the_same_key_at_once_make_one_job(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    config_file = data_dir / "c.toml"
    config_file.write_text(to_toml(config))
    code = (
        "import sys, time; from heroagent import load_config; from heroagent.client import JobClient\n"
        "client = JobClient.from_config(load_config(sys.argv[1]))\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "print(client.create_job('once', '!!fake.return_success', idempotency_key='same').job_id)\n"
    )
    with HeroAgent(config) as agent:
        start_at = str(time.time() + 1.5)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(config_file), start_at],
                stdout=subprocess.PIPE,
                text=True,
                env={"PYTHONPATH": str(REPO)},
            )
            for _ in range(10)
        ]
        ids = {int(p.communicate(timeout=60)[0].strip()) for p in procs}
        assert len(ids) == 1
        assert [j.job_id for j in agent.get_job_manager().list_jobs(topic="once")] == list(ids)


def test_a_key_is_free_again_after_the_window(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"idempotency_window": 0.5})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        first = jm.create_job("w", "!!fake.return_success", idempotency_key="k")
        assert jm.create_job("w", "!!fake.return_success", idempotency_key="k").job_id == first.job_id
        time.sleep(0.7)
        assert jm.create_job("w", "!!fake.return_success", idempotency_key="k").job_id != first.job_id


def test_the_cli_takes_a_key(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    config_file = data_dir / "c.toml"
    config_file.write_text(to_toml(config))
    cli = [
        sys.executable,
        "-m",
        "heroagent",
        "job",
        "submit",
        "--config",
        str(config_file),
        "t",
        "!!fake.return_success",
    ]
    with HeroAgent(config):
        runs = [
            subprocess.run(
                [*cli, "--key", "cli-1", "--json"], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}
            )
            for _ in range(2)
        ]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert json.loads(runs[0].stdout)["job_id"] == json.loads(runs[1].stdout)["job_id"]


def test_a_deleted_jobs_key_makes_a_new_job(web_agent: Callable[..., HeroAgent]) -> None:
    """Deleting a job frees its key (the job it named is gone for good): the same create again makes a
    new job, by API and Python, where it was a 404 "no job with id N" answering a create (schemathesis)."""
    agent = web_agent(webdav={"enabled": False})
    jm = agent.get_job_manager()
    first = jm.create_job("pay", "!!fake.return_success", idempotency_key="order-9")
    jm.wait_for_job(first.job_id, timeout=10)
    jm.delete_job(first.job_id)
    again = jm.create_job("pay", "!!fake.return_success", idempotency_key="order-9")
    assert again.job_id != first.job_id and again.idempotency_key == "order-9"
    assert jm.create_job("pay", "!!fake.return_success", idempotency_key="order-9").job_id == again.job_id
    body = {"topic": "pay", "params": "!!fake.return_success", "idempotency_key": "web-9"}
    made = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5).json()
    jm.wait_for_job(made["job_id"], timeout=10)
    assert requests.delete(ui_url(agent, f"/api/jobs/{made['job_id']}"), timeout=5).status_code == 204
    remade = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5)
    assert remade.status_code == 201 and remade.json()["job_id"] not in (made["job_id"], first.job_id)


def test_a_key_naming_a_job_that_is_gone_is_a_409_not_a_404(web_agent: Callable[..., HeroAgent]) -> None:
    """Should a key still name a job that is gone (deleted by another process between the two steps,
    or by hand), the create says so and creates nothing, rather than "no job with id N"."""
    agent = web_agent(webdav={"enabled": False})
    jm = agent.get_job_manager()
    redis_cli(agent, "SET", "hero:idem:ghost", "424242", "PX", "60000")
    body = {"topic": "pay", "params": "!!fake.return_success", "idempotency_key": "ghost"}
    r = requests.post(ui_url(agent, "/api/jobs"), json=body, timeout=5)
    assert r.status_code == 409, r.text
    assert r.json()["error"].startswith("idempotency_key 'ghost': it names job 424242, which is gone")
    assert jm.list_jobs() == []


def test_retention_frees_the_keys_of_the_jobs_it_removes(agent: HeroAgent) -> None:
    jm = agent.get_job_manager()
    old = jm.create_job("pay", "!!fake.return_success", idempotency_key="nightly-1")
    kept = jm.create_job("pay", "!!fake.return_success", idempotency_key="nightly-2")
    jm.wait_for_job(old.job_id, timeout=10)
    jm.wait_for_job(kept.job_id, timeout=10)
    assert jm.wait_recorded(kept.job_id)
    redis_cli(agent, "SET", "hero:idem:nightly-2", "999999", "PX", "60000")  # taken again since: left
    assert jm.cleanup_history(older_than_days=0)["jobs"] == 2
    assert redis_cli(agent, "EXISTS", "hero:idem:nightly-1") == "0"
    assert redis_cli(agent, "GET", "hero:idem:nightly-2") == "999999"
    again = jm.create_job("pay", "!!fake.return_success", idempotency_key="nightly-1")
    assert again.job_id not in (old.job_id, kept.job_id)


def test_the_same_key_with_other_params_is_a_conflict_naming_the_first_job(web_agent: Callable[..., HeroAgent]) -> None:
    """A key names one job: a create with it and other params was silently answered with the first job."""
    agent = web_agent()
    jm = agent.get_job_manager()
    first = jm.create_job("k", "!!fake.return_success message:one", idempotency_key="order-7")
    assert jm.create_job("k", "!!fake.return_success message:one", idempotency_key="order-7").job_id == first.job_id
    before = jm.queue_stats()
    with pytest.raises(IdempotencyKeyConflictError, match=rf"'order-7': job {first.job_id} was created with it"):
        jm.create_job("k", "!!fake.return_success message:two", idempotency_key="order-7")
    with pytest.raises(IdempotencyKeyConflictError):
        jm.create_job("other", "!!fake.return_success message:one", idempotency_key="order-7")
    with pytest.raises(IdempotencyKeyConflictError, match="an earlier job of this call has it"):  # all or nothing
        jm.create_jobs(
            [
                {"topic": "k", "params": "!!fake.return_success", "idempotency_key": "batch-1"},
                {"topic": "k", "params": "!!fake.return_error", "idempotency_key": "batch-1"},
            ]
        )
    r = requests.post(
        ui_url(agent, "/api/jobs"),
        json={"topic": "k", "params": "!!fake.return_success message:three", "idempotency_key": "order-7"},
        timeout=5,
    )
    assert r.status_code == 409 and f"job {first.job_id} was created with it" in r.json()["error"]
    made = {job.job_id for topic in ("k", "other") for job in jm.list_jobs(topic=topic, limit=100)}
    assert made == {first.job_id}, (made, before)  # nothing was made by any of them


def test_a_job_is_found_by_its_key_from_every_edge(web_agent: Callable[..., HeroAgent]) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    job = jm.create_job("k", "!!fake.return_success", idempotency_key="invoice/2026/7")
    assert jm.get_job_by_idempotency_key("invoice/2026/7").job_id == job.job_id
    r = requests.get(ui_url(agent, "/api/jobs/by-key/invoice/2026/7"), timeout=5)
    assert r.status_code == 200 and r.json()["job_id"] == job.job_id
    missing = requests.get(ui_url(agent, "/api/jobs/by-key/nope"), timeout=5)
    assert missing.status_code == 404 and "no job with idempotency_key 'nope'" in missing.json()["error"]
    agent.get_job_manager().wait_for_job(job.job_id, timeout=15)
    redis_cli(agent, "DEL", "hero:idem:invoice/2026/7")  # the window passed: the history still knows it
    assert jm.get_job_by_idempotency_key("invoice/2026/7").job_id == job.job_id
    env = {"HEROAGENT_REDIS_URL": "", "HEROAGENT_DATA_DIR": str(agent.config.data_path)}
    config_file = agent.config.data_path / "k.toml"
    config_file.write_text(to_toml(agent.config))
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "heroagent",
            "job",
            "get",
            "--key",
            "invoice/2026/7",
            "--json",
            "--config",
            str(config_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**child_env(), **env},
    )
    assert shown.returncode == 0 and json.loads(shown.stdout)["job_id"] == job.job_id, shown.stderr
