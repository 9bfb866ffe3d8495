"""JobClient: the manager's calls from outside the server process, through Redis."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from heroagent import HeroAgent
from heroagent.client import JobClient, ServerUnavailableError
from heroagent.jobs import InvalidJobError, InvalidTransitionError, JobNotFoundError, JobStatus, keys
from heroagent.jobs.live.queue import JobQueue
from heroagent.redis_connect import redis_url_for
from tests.conftest import external_redis, make_config

KEYS = keys.KeyLayout()  # the unprefixed layout: the keys every HeroAgent had before key prefixes


def test_client_does_what_the_manager_does(agent: HeroAgent) -> None:
    client = JobClient.from_config(agent.config)
    assert client.url.startswith("unix://")
    job = client.create_job("remote", "!!fake.return_success message:'from afar'", log=True)
    final = client.wait_for_job(job.job_id, timeout=10)
    assert final.status is JobStatus.DONE and final.result == ["from afar"]
    assert [v.status.value for v in client.get_history(job.job_id)] == ["new", "active", "done"]
    assert client.list_jobs(topic="remote")[0].job_id == job.job_id
    assert "started on worker" in client.get_log(job.job_id)
    assert "remote" in client.queue_stats()
    many = client.create_jobs([{"topic": "remote", "params": "!!fake.return_success"}] * 3)
    assert len({j.job_id for j in many}) == 3
    with pytest.raises(InvalidJobError, match="topic"):
        client.create_job("bad topic", "!!fake.return_success")
    with pytest.raises(JobNotFoundError):
        client.get_job(424242)
    with pytest.raises(InvalidTransitionError, match="already done"):
        client.cancel_job(job.job_id)
    client.delete_job(job.job_id)
    with pytest.raises(JobNotFoundError):
        client.get_job(job.job_id)


def test_unknown_operations_are_refused(agent: HeroAgent) -> None:
    client = JobClient.from_config(agent.config)
    with pytest.raises(Exception, match="unknown operation 'reconcile'"):
        client.call("reconcile")


def test_no_server_is_a_clear_error(data_dir: Path, agent: HeroAgent) -> None:
    # A Redis with no HeroAgent server reading requests: the agent's Redis, a topic-less request key.
    client = JobClient(redis_url_for(agent.config), timeout=0.5)
    agent.jobs.rpc.stop()  # type: ignore[union-attr]
    with pytest.raises(ServerUnavailableError, match="no HeroAgent server answered"):
        client.get_job(1)
    assert agent.redis.client().llen(KEYS.RPC_REQUESTS) == 0  # type: ignore[union-attr]
    unreachable = JobClient.from_config(make_config(data_dir / "none", redis={"url": "redis://127.0.0.1:1/0"}))
    with pytest.raises(ServerUnavailableError, match="cannot reach Redis"):
        unreachable.get_job(1)


def test_a_request_its_caller_gave_up_on_is_never_run(data_dir: Path) -> None:
    """Issue 14, item 5: a submit that timed out (or was killed) while the server was down ran when the
    server came back, so a user who retried got the job twice. Requests carry a deadline now."""
    import signal
    import subprocess
    import sys
    import time

    from heroagent.config import to_toml
    from tests.conftest import REPO

    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    with HeroAgent(config) as agent:  # the Redis and its password exist; the job system is what goes away
        assert agent.jobs is not None
        jm = agent.get_job_manager()
        finished = jm.create_job("late", "!!fake.return_success")
        jm.wait_for_job(finished.job_id, timeout=10)
        agent.jobs.rpc.stop()  # type: ignore[union-attr]  # no server answers requests now
        client = JobClient.from_config(config, timeout=0.5)
        with pytest.raises(ServerUnavailableError):
            client.retry_job(finished.job_id)
        (data_dir / "c.toml").write_text(to_toml(config))
        code = (
            "import sys; from heroagent import load_config; from heroagent.client import JobClient\n"
            "JobClient.from_config(load_config(sys.argv[1]), timeout=1.0).retry_job(int(sys.argv[2]))"
        )
        killed = subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir / "c.toml"), str(finished.job_id)], env={"PYTHONPATH": str(REPO)}
        )
        assert wait_for(lambda: jm.client.llen(KEYS.RPC_REQUESTS) >= 1)
        killed.send_signal(signal.SIGKILL)  # the caller dies before it can take its request back
        killed.wait()
        time.sleep(1.2)  # both deadlines pass
        agent.jobs.rpc.start()  # type: ignore[union-attr]  # the server is back
        assert wait_for(lambda: jm.client.llen(KEYS.RPC_REQUESTS) == 0)
        time.sleep(0.5)
        assert [v.status.value for v in jm.get_history(finished.job_id)] == ["new", "active", "done"]  # neither ran
        assert client.retry_job(finished.job_id).job_id == finished.job_id  # in time: it runs
        assert jm.wait_for_job(finished.job_id, timeout=10).attempts == 2


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    from tests.conftest import wait_until

    return wait_until(predicate, timeout=timeout)  # type: ignore[arg-type]


def test_waiting_from_another_process_is_woken_by_the_server_not_by_polling(agent: HeroAgent) -> None:
    """Issue 14, item 4: run-and-await from another process polled every 0.2 s."""
    client = JobClient.from_config(agent.config)
    listener = agent.get_job_manager().client.pubsub(ignore_subscribe_messages=True)
    job = client.create_job("w", "!!fake.sleep seconds:0.3")
    listener.subscribe(KEYS.job_done(job.job_id))
    final = client.wait_for_job(job.job_id, timeout=15, poll=60)  # no look-again timer would fire in time
    assert final.status is JobStatus.DONE
    message = None
    for _ in range(50):
        message = listener.get_message(timeout=0.1)
        if message:
            break
    assert message is not None and json.loads(message["data"])["status"] == "done"  # the final job, published
    listener.close()
    sleeping = client.create_job("w", "!!fake.sleep seconds:5")
    with pytest.raises(TimeoutError, match="is still"):
        client.wait_for_job(sleeping.job_id, timeout=0.3)
    client.cancel_job(sleeping.job_id)  # else the stop gives it its grace to end


def test_without_published_defaults_a_client_does_not_look_for_them_at_every_create(data_dir: Path) -> None:
    """A server that never published its `[jobs]` defaults (or a Redis that lost them) cost every create
    an extra round trip: the client looked again each time. It looks again after a while instead. A Redis
    of its own, with no server on it: every HGETALL it counts is the client's."""
    external = external_redis(data_dir)
    admin = redis.Redis.from_url(external.url)
    client = JobClient(external.url)
    try:
        JobQueue(admin, KEYS).seed(1)  # what a server does first; this one then stops before publishing defaults
        admin.config_resetstat()
        jobs = client.create_jobs([{"topic": "d", "params": "!!fake.return_success"}])
        jobs += [client.create_job("d", "!!fake.return_success") for _ in range(20)]
        assert len({j.job_id for j in jobs}) == 21
        looked: dict[str, int] = admin.info("commandstats").get("cmdstat_hgetall", {"calls": 0})
        assert looked["calls"] == 1
    finally:
        client.close()
        admin.close()
        external.stop()


class ReplyDroppingProxy:
    """A TCP proxy to Redis that, the first time a request carrying `marker` passes, lets Redis run it and
    then closes the client's connection before the answer reaches it: a create answered with an error
    (a lost connection) that was made all the same."""

    def __init__(self, upstream_port: int, marker: bytes) -> None:
        import socket
        import threading

        self.upstream_port, self.marker, self.dropped = upstream_port, marker, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        import socket
        import threading

        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for source, target, watch in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pipe, args=(source, target, watch, client, upstream))
                thread.daemon = True
                thread.start()
                self._threads.append(thread)

    def _pipe(self, source: Any, target: Any, watch: bool, client: Any, upstream: Any) -> None:
        import time

        try:
            while data := source.recv(65536):
                target.sendall(data)
                if watch and self.marker in data and not self.dropped:
                    self.dropped += 1
                    time.sleep(0.3)  # Redis runs it
                    client.close()  # and its answer never arrives
                    upstream.close()
                    return
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._stop.set()
        self.server.close()


def test_a_create_whose_answer_is_lost_is_sent_again_and_makes_one_job(data_dir: Path) -> None:
    """Issue 31, item 4: a create answered with an error could still be made; a client that retried without
    a key made a duplicate. JobClient now keys every create and retries with the key."""
    redis_server = external_redis(data_dir)
    proxy = ReplyDroppingProxy(redis_server.port, b"lost-answer-marker")
    config = make_config(data_dir, redis={"url": redis_server.url}, webdav={"enabled": False}, ui={"enabled": False})
    try:
        with HeroAgent(config) as agent:
            client = JobClient(redis_server.url.replace(str(redis_server.port), str(proxy.port)), timeout=3)
            job = client.create_job("lost", "!!fake.return_success message:lost-answer-marker")
            assert proxy.dropped == 1  # the first try's answer was lost: the job was made all the same
            assert job.idempotency_key.startswith("client-")
            jm = agent.get_job_manager()
            assert jm.wait_for_job(job.job_id, timeout=15).status is JobStatus.DONE
            assert [j.job_id for j in jm.list_jobs(topic="lost")] == [job.job_id]  # one job, not two
            client.close()
    finally:
        proxy.close()
        redis_server.stop()


def test_a_bulk_change_is_asked_of_the_server(agent: HeroAgent) -> None:
    """Issue 30, item 2: JobClient.bulk_jobs goes to the server (it writes the history) and answers its counts."""
    jm = agent.get_job_manager()
    jm.pause_topic("remote-bulk", create=True)
    ids = [j.job_id for j in jm.create_jobs([{"topic": "remote-bulk", "params": "!!fake.return_success"}] * 2)]
    client = JobClient.from_config(agent.config)
    try:
        answer = client.bulk_jobs("cancel", [*ids, 123_456_789])
        assert (answer["done"], answer["skipped_ids"], answer["next_before"]) == (2, [123_456_789], None)
        with pytest.raises(InvalidJobError, match="action: 'explode'"):
            client.bulk_jobs("explode", ids)
    finally:
        client.close()
    assert all(jm.get_job(i).status is JobStatus.CANCELED for i in ids)
