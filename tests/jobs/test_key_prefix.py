"""`[redis] key_prefix` (issue 28, item 5): several HeroAgents (and other programs) share one Redis without
touching each other's keys, each kept to its own by an ACL user (`~<prefix>* &<prefix>*`, the README's rule).

Real parts: one Redis, two servers in this process with prefixes "a:" and "b:" (each with its own ACL user),
a `heroagent worker --key-prefix` process, JobClient with a prefix, a hero supervisor, the dashboard.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from heroagent import HeroAgent
from heroagent.client import JobClient, ServerUnavailableError
from heroagent.config import Config
from heroagent.errors import InvalidInputError
from heroagent.jobs import JobStatus
from heroagent.jobs.errors import JobIdsNotSeededError
from heroagent.jobs.keys import KeyLayout, prefix_of
from heroagent.jobs.live.queue import JobQueue
from heroagent.redis_server import EmbeddedRedis
from tests.conftest import (
    child_env,
    external_redis,
    free_port,
    make_config,
    readme_acl_rule,
    start_worker,
    ui_url,
    wait_until,
)

PREFIXES = ("a:", "b:")
FAKE = "!!fake.return_success message:"


def acl_rule(prefix: str, secret: str) -> tuple[str, ...]:
    """The README's rule for a HeroAgent with a key prefix, without +info: its keys and channels only."""
    return readme_acl_rule("heroagent-a", secret, prefix)


def user_url(server: EmbeddedRedis, prefix: str) -> str:
    """A URL of the ACL user kept to `prefix`'s keys (made here, on the admin connection)."""
    name, secret = f"user-{prefix.rstrip(':')}", f"secret-{prefix.rstrip(':')}-0123456789"
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", name, *acl_rule(prefix, secret))
    return f"redis://{name}:{secret}@127.0.0.1:{server.port}/0"


@pytest.fixture
def shared_redis(data_dir: Path) -> Iterator[EmbeddedRedis]:
    server = external_redis(data_dir)
    try:
        yield server
    finally:
        server.stop()


def server_config(data_dir: Path, url: str, prefix: str, **sections: dict[str, object]) -> Config:
    return make_config(
        data_dir / prefix.rstrip(":"),
        redis={"url": url, "key_prefix": prefix},
        webdav={"enabled": False},
        **sections,
    )


def test_a_layout_is_todays_keys_without_a_prefix_and_the_prefix_in_front_of_every_key_with_one() -> None:
    plain, prefixed = KeyLayout(), KeyLayout("a:")
    assert (plain.job("t", 1), plain.queue("t"), plain.EVENTS, plain.JOB_ID_COUNTER) == (
        "herojobs:t:1",
        "heroqueue:t",
        "hero:events",
        "hero:jobid",
    )
    assert (plain.hero_job("h"), plain.hero_work("heroscript"), plain.job_done(7)) == (
        "hero:job:h",
        "hero:q:work:type:heroscript",
        "hero:done:7",
    )
    for name, value in vars(plain).items():
        if name.isupper() and isinstance(value, str):  # the keys (PARTITION, PARTITIONS are numbers)
            assert getattr(prefixed, name) == f"a:{value}", name
    assert prefixed.hero_job("h") == "a:hero:job:h" and prefixed.every_job_pattern() == "a:herojobs:*"
    assert prefixed.parse_job(prefixed.job("x:y", 3)) == ("x:y", 3)
    assert KeyLayout("a:") == prefixed and hash(KeyLayout("a:")) == hash(prefixed) and prefixed != plain
    with pytest.raises(AttributeError, match="does not change"):
        prefixed.EVENTS = "hero:events"
    with pytest.raises(InvalidInputError, match=r"key_prefix 'a': must end with ':'"):
        KeyLayout("a")
    found = ("hero:jobid", "a:b:hero:jobid", "x hero:jobid", "xhero:jobid", "hero:jobids")
    assert [prefix_of(key, "hero:jobid") for key in found] == ["", "a:b:", None, None, None]


def test_a_client_or_worker_given_a_hostile_prefix_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError, match=r"key_prefix 'a b:': may only hold"):
        JobClient("redis://127.0.0.1:1/0", key_prefix="a b:")
    out = subprocess.run(
        [sys.executable, "-m", "heroagent", "worker", "--redis", "redis://127.0.0.1:1/0", "--key-prefix", "*"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert out.returncode == 2 and "error: --key-prefix '*': may only hold letters" in out.stderr, out.stderr


def test_two_heroagents_with_prefixes_share_one_redis_each_kept_to_its_keys(
    data_dir: Path, shared_redis: EmbeddedRedis
) -> None:
    """Jobs, ids, idempotency keys, pause, limits, schedules, workers, events, webhooks, job logs, the hero
    layout and the request server stay apart. A runs as an ACL user that may touch only its prefix's keys and
    channels (a key it got wrong would be refused); B as Redis's admin, and at the end every key in Redis is
    under one of the two prefixes (or the other app's): a key B got wrong would be found there."""
    admin = shared_redis.client()
    admin.set("other-app:secret", "theirs")
    url_a, url_b = user_url(shared_redis, "a:"), shared_redis.url
    hook = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: the delivery waits in the outbox
    config_a = server_config(
        data_dir,
        url_a,
        "a:",
        jobs={"topics": ["shared", "hero.heroscript"], "webhook_allow_private": True},
        hero={"enabled": True},
    )
    config_b = server_config(data_dir, url_b, "b:", jobs={"topics": ["shared"]}, ui={"enabled": False})
    worker = None
    try:
        with HeroAgent(config_a) as agent_a, HeroAgent(config_b) as agent_b:
            ja, jb = agent_a.get_job_manager(), agent_b.get_job_manager()
            # Ids and idempotency keys are each layout's own: the same key makes a job in each.
            x = ja.create_job("shared", FAKE + "from-a", idempotency_key="same", callback_url=hook)
            y = jb.create_job("shared", FAKE + "from-b", idempotency_key="same")
            assert x.job_id == y.job_id == 1
            assert ja.wait_for_job(x.job_id, timeout=20).result == ["from-a"]
            assert jb.wait_for_job(y.job_id, timeout=20).result == ["from-b"]
            assert ja.get_job(1).params.endswith("from-a") and jb.get_job(1).params.endswith("from-b")
            assert wait_until(lambda: admin.keys("a:hero:webhook:*"), timeout=10)  # A's outbox, prefixed

            # A paused: its job waits, B's runs. Limits on A are A's.
            ja.pause_topic("shared")
            waiting = ja.create_job("shared", FAKE + "paused")
            assert jb.wait_for_job(jb.create_job("shared", FAKE + "b-runs").job_id, timeout=20).status is JobStatus.DONE
            assert ja.get_job(waiting.job_id).status is JobStatus.NEW
            assert ja.topic_state("shared")["paused"] and not jb.topic_state("shared")["paused"]
            ja.resume_topic("shared")
            assert ja.wait_for_job(waiting.job_id, timeout=20).status is JobStatus.DONE
            ja.set_topic_limits("shared", max_running=3)
            assert "shared" in ja.topic_limits() and jb.topic_limits() == {}

            # A schedule of A makes A's jobs only.
            agent_a.get_schedules().add("beat", "shared", FAKE + "beat", every=0.5)
            assert wait_until(lambda: agent_a.get_schedules().get("beat").recent_jobs, timeout=15)
            assert "beat" not in [s.schedule.name for s in agent_b.get_schedules().list()]

            # A worker process with B's prefix serves B's jobs only.
            worker = start_worker(url_b, "remote", "--key-prefix", "b:", "--id", "far-b")
            for_a = ja.create_job("remote", FAKE + "never-here")
            for_b = jb.create_job("remote", FAKE + "there")
            done = jb.wait_for_job(for_b.job_id, timeout=30)
            assert done.result == ["there"] and done.worker.startswith("far-b"), done.worker
            logged = jb.create_job("remote", "!!fake.sleep seconds:0.05", log=True)  # its lines go through Redis
            assert jb.wait_for_job(logged.job_id, timeout=30).status is JobStatus.DONE
            assert wait_until(lambda: "sleeping" in jb.get_log(logged.job_id), timeout=15)
            assert any(w["id"].startswith("far-b") for w in jb.list_workers())
            assert not any(w["id"].startswith("far-b") for w in ja.list_workers())
            time.sleep(0.5)
            assert ja.get_job(for_a.job_id).status is JobStatus.NEW  # nobody serves A's "remote"

            # JobClient with a prefix: creates in Redis, waits on its layout's channel, asks its server.
            with_a = JobClient(url_a, timeout=5, key_prefix="a:")
            made = with_a.create_job("shared", FAKE + "client-a")
            assert with_a.wait_for_job(made.job_id, timeout=20).result == ["client-a"]
            listed = with_a.list_jobs(topic="shared", limit=500)
            assert listed and all("from-b" not in j.params and "b-runs" not in j.params for j in listed)
            with_a.close()

            # The hero queue layout is prefixed too: a hero supervisor with A's prefix gets its answer.
            admin.hset("a:hero:job:h1", mapping={"id": "h1", "script": FAKE + "hero", "script_type": "heroscript"})
            admin.lpush("a:hero:q:work:type:heroscript", "h1")
            reply = admin.blpop(["a:hero:q:reply:h1"], timeout=30)
            assert reply is not None and json.loads(reply[1])["status"] == "finished"

            assert agent_a.addresses()["redis key prefix"] == "a:"  # the banner and the overview say it
            for agent in (agent_a, agent_b):
                health = agent.health()
                assert (health["redis"], health["jobs"]) == ("running", "running"), agent.problems()
            for path in ("/", "/jobs", f"/jobs/{x.job_id}", "/schedules", "/api/queues"):
                assert requests.get(ui_url(agent_a, path), timeout=10).status_code == 200, path

            found = sorted(k.decode() for k in admin.scan_iter("*", count=1000))
            by_prefix = {prefix: [k for k in found if k.startswith(prefix)] for prefix in PREFIXES}
            assert [k for k in found if not k.startswith(PREFIXES)] == ["other-app:secret"]
            for prefix, names in by_prefix.items():
                for key in ("hero:jobid", "hero:epoch", "hero:events", "hero:topics", "hero:workers"):
                    assert prefix + key in names, (prefix, key)
                assert any(k.startswith(f"{prefix}hero:idem:") for k in names), prefix
            assert f"a:{KeyLayout().SCHEDULES_STATE}" in by_prefix["a:"]
            assert any(k.startswith("a:hero:limits:") for k in by_prefix["a:"])
            assert not any(k.startswith("b:hero:limits:") for k in by_prefix["b:"])
        assert admin.get("other-app:secret") == b"theirs"
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        admin.close()


def test_a_process_with_the_wrong_prefix_says_so(data_dir: Path, shared_redis: EmbeddedRedis) -> None:
    """A worker or a client with no prefix (or another) on a Redis that holds only another layout's jobs does
    not wait in silence: the worker warns at start, the client's errors name [redis] key_prefix."""
    url = shared_redis.url
    with HeroAgent(server_config(data_dir, url, "a:", ui={"enabled": False})):
        lost = start_worker(url, "shared")  # no --key-prefix
        try:
            with redis.Redis.from_url(url) as admin:
                assert wait_until(lambda: admin.zcard("hero:workers"), timeout=30)  # it runs, in the wrong layout
        finally:
            lost.terminate()
            _, err = lost.communicate(timeout=30)
        assert "another key layout ('a:')" in err and "is [redis] key_prefix right?" in err, err
        with redis.Redis.from_url(url) as admin:  # stale keys of the unprefixed layout: no server records it
            admin.set("hero:jobid", 5)
            hint = JobQueue(admin, KeyLayout()).layout_hint()
            assert hint.startswith("a HeroAgent server records another key layout ('a:') and none this one"), hint
            admin.delete("hero:jobid")
        client = JobClient(url, timeout=1)
        with pytest.raises(JobIdsNotSeededError, match=r"another key layout \('a:'\).*\[redis\] key_prefix"):
            client.create_job("shared", FAKE + "lost")
        with pytest.raises(ServerUnavailableError, match=r"records another key layout \('a:'\).*key_prefix right"):
            client.list_jobs()
        client.close()
        right = JobClient(url, timeout=5, key_prefix="a:")
        assert (
            right.wait_for_job(right.create_job("shared", FAKE + "found").job_id, timeout=20).status is JobStatus.DONE
        )
        right.close()
