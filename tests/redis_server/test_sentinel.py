"""Redis Sentinel (issue 28, item 3): `[redis] sentinels`, `sentinel_master`, `sentinel_password` for the
server, `heroagent worker`, JobClient and the CLI, and `[redis] min_replicas`: with it, kill -9 of the
primary while jobs flow loses no acknowledged job.

Real parts: Debian's redis-server and redis-sentinel (scripts/test.sh installs them) on 127.0.0.1: a primary,
two replicas and three sentinels (quorum 2) with passwords, started here and stopped at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.config import Config, to_toml
from heroagent.errors import ServiceError
from heroagent.jobs import JobStatus
from tests.conftest import child_env, free_port, make_config, present, run_cli, start_worker, wait_until
from tests.redis_server.failover import kill_primary_while_jobs_flow
from tests.redis_server.test_tls import make_certificates

DEBIAN_REDIS = Path("/usr/bin/redis-server")
DEBIAN_SENTINEL = Path("/usr/bin/redis-sentinel")
pytestmark = pytest.mark.skipif(
    not (DEBIAN_REDIS.exists() and DEBIAN_SENTINEL.exists()),
    reason="scripts/test.sh installs Debian's redis-server and redis-sentinel",
)
PASSWORD = "sentinel-test-primary"
SENTINEL_PASSWORD = "sentinel-test-sentinels"
MASTER = "heromaster"


@dataclass
class SentinelSet:
    """A primary, its replicas and the sentinels watching them: processes by port."""

    folder: Path
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    sentinels: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    certs: Path | None = None  # everything on TLS ports only (a CA and the certificates it signed), when given

    @property
    def tls(self) -> dict[str, Any]:
        """redis-py's options for a connection to one of them."""
        return {"ssl": True, "ssl_ca_certs": str(self.certs / "ca.crt")} if self.certs else {}

    def tls_args(self) -> list[str]:
        """A server's or a sentinel's TLS settings (no plain port), replication over TLS too."""
        if self.certs is None:
            return []
        return ["--tls-cert-file", str(self.certs / "server.crt"), "--tls-key-file", str(self.certs / "server.key"),
                "--tls-ca-cert-file", str(self.certs / "ca.crt"), "--tls-auth-clients", "optional",
                "--tls-replication", "yes"]  # fmt: skip

    @property
    def sentinel_list(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.sentinels]

    def master_port(self) -> int | None:
        """The primary's port as the first answering sentinel names it (None: none answers)."""
        for port in self.sentinels:
            probe = redis.Redis(port=port, password=SENTINEL_PASSWORD, socket_timeout=1, **self.tls)
            try:
                address: Any = probe.sentinel_get_master_addr_by_name(MASTER)
                return int(address[1]) if address else None
            except redis.RedisError:
                continue
            finally:
                probe.close()
        return None

    def server(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=PASSWORD, socket_timeout=2, **self.tls)

    def replicas_of(self, port: int) -> int:
        client = self.server(port)
        try:
            info: Any = client.info("replication")
            if info.get("role") != "master":
                return -1
            return sum(
                1
                for key, value in info.items()
                if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
            )
        except redis.RedisError:
            return -1
        finally:
            client.close()

    def config(self, data_dir: Path, **redis_extra: object) -> Config:
        return make_config(
            data_dir,
            redis={
                "sentinels": self.sentinel_list,
                "sentinel_master": MASTER,
                "sentinel_password": SENTINEL_PASSWORD,
                "password": PASSWORD,
                **redis_extra,
            },
            webdav={"enabled": False},
            ui={"enabled": False},
        )

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _start_server(group: SentinelSet, port: int, replica_of: int | None) -> None:
    workdir = group.folder / f"redis-{port}"
    workdir.mkdir()
    follow = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
    listen = ["--port", "0", "--tls-port", str(port), *group.tls_args()] if group.certs else ["--port", str(port)]
    group.servers[port] = subprocess.Popen(
        [str(DEBIAN_REDIS), *listen, "--bind", "127.0.0.1", "--requirepass", PASSWORD,
         "--masterauth", PASSWORD, "--dir", str(workdir), "--save", "", "--appendonly", "yes",
         "--repl-diskless-sync-delay", "0", *follow],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _start_sentinel(group: SentinelSet, port: int, primary: int) -> None:
    workdir = group.folder / f"sentinel-{port}"
    workdir.mkdir()
    conf = workdir / "sentinel.conf"  # a sentinel rewrites its own file: one each
    args = group.tls_args()
    tls = "".join(f"{args[i].removeprefix('--')} {args[i + 1]}\n" for i in range(0, len(args), 2))
    listen = f"port 0\ntls-port {port}\n{tls}" if group.certs else f"port {port}\n"
    conf.write_text(
        f"{listen}bind 127.0.0.1\ndir {workdir}\nrequirepass {SENTINEL_PASSWORD}\n"
        f"sentinel sentinel-pass {SENTINEL_PASSWORD}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\nsentinel auth-pass {MASTER} {PASSWORD}\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\nsentinel failover-timeout {MASTER} 4000\n"
        f"sentinel parallel-syncs {MASTER} 2\n"
    )
    group.sentinels[port] = subprocess.Popen(
        [str(DEBIAN_SENTINEL), str(conf)], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.fixture
def sentinel_set(data_dir: Path) -> Iterator[SentinelSet]:
    group = SentinelSet(data_dir / "sentinel-set")
    try:
        _make_set(group)
        yield group
    finally:
        group.stop()


@pytest.fixture
def tls_sentinel_set(data_dir: Path) -> Iterator[SentinelSet]:
    """The same on TLS ports only: the servers, the sentinels, replication and the sentinels' own links."""
    certs = data_dir / "certs"
    make_certificates(certs, "heroagent-sentinel")
    group = SentinelSet(data_dir / "tls-sentinel-set", certs=certs)
    try:
        _make_set(group)
        yield group
    finally:
        group.stop()


def _make_set(group: SentinelSet) -> None:
    group.folder.mkdir()
    primary = free_port()
    _start_server(group, primary, None)
    for _ in range(2):
        _start_server(group, free_port(), primary)
    assert wait_until(lambda: group.replicas_of(primary) == 2, timeout=30), "the replicas did not attach"
    for _ in range(3):
        _start_sentinel(group, free_port(), primary)
    assert wait_until(lambda: _sentinels_agree(group), timeout=30), "the sentinels did not find each other"


def _sentinels_agree(group: SentinelSet) -> bool:
    """Every sentinel sees the other two and both replicas."""
    for port in group.sentinels:
        probe = redis.Redis(port=port, password=SENTINEL_PASSWORD, socket_timeout=1, decode_responses=True, **group.tls)
        try:
            state: Any = probe.sentinel_master(MASTER)
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 2:
                return False
        except (redis.RedisError, KeyError):
            return False
        finally:
            probe.close()
    return True


def test_the_server_a_worker_a_client_and_the_cli_work_through_sentinels(
    data_dir: Path, sentinel_set: SentinelSet
) -> None:
    config = sentinel_set.config(data_dir / "srv", min_replicas=1)
    toml = data_dir / "sentinel.toml"
    toml.write_text(to_toml(sentinel_set.config(data_dir / "cli", min_replicas=1)))
    worker = None
    try:
        with HeroAgent(config) as agent:
            assert agent.health()["redis"] == "running"
            jm = agent.get_job_manager()
            job = jm.create_job("local", "!!fake.return_success message:watched")
            assert jm.wait_for_job(job.job_id, timeout=20).result == ["watched"]
            worker = start_worker(None, "remote", "--config", str(toml))
            client = JobClient.from_config(config)
            remote = client.create_job("remote", "!!fake.return_success message:far")
            assert jm.wait_for_job(remote.job_id, timeout=30).status is JobStatus.DONE
            client.close()
            submitted = run_cli(
                "job", "submit", "local", "!!fake.return_success", "--config", str(toml), "--wait", "--json"
            )
            assert submitted.returncode == 0, submitted.stderr
            listed = run_cli("schedule", "list", "--config", str(toml))
            assert listed.returncode == 0, listed.stderr
            assert SENTINEL_PASSWORD not in submitted.stdout + submitted.stderr + listed.stdout + listed.stderr
    finally:
        if worker is not None:
            worker.terminate()
            _, err = worker.communicate(timeout=30)
            assert PASSWORD not in err


@pytest.mark.slow
def test_kill_9_of_the_primary_with_min_replicas_loses_no_acknowledged_job(
    data_dir: Path, sentinel_set: SentinelSet
) -> None:
    config = sentinel_set.config(data_dir / "srv", min_replicas=1)
    config.jobs.topics = ["flow"]  # "far" is the remote worker's
    toml = data_dir / "submitter.toml"
    toml.write_text(to_toml(sentinel_set.config(data_dir / "sub", min_replicas=1)))
    first = sentinel_set.master_port()
    assert first is not None
    with HeroAgent(config) as agent:  # the server's workers take "flow", a `heroagent worker` "far"
        kill_primary_while_jobs_flow(
            agent,
            toml,
            ("flow", "far"),
            kill=lambda: os.kill(sentinel_set.servers[first].pid, signal.SIGKILL),
            failed_over=lambda: sentinel_set.master_port() not in (None, first),
            logs=data_dir,
        )


def test_a_dead_sentinel_in_the_list_is_skipped_and_a_wrong_name_is_one_clear_error(
    data_dir: Path, sentinel_set: SentinelSet
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    config = sentinel_set.config(data_dir / "a", sentinels=[dead, *sentinel_set.sentinel_list])
    config.jobs.enabled = False
    with HeroAgent(config) as agent:
        assert agent.health()["redis"] == "running"
    wrong = sentinel_set.config(data_dir / "b", sentinel_master="nosuchmaster")
    with pytest.raises(
        ServiceError, match=r"no master called 'nosuchmaster' \(they monitor: heromaster\).*sentinel_master"
    ):
        HeroAgent(wrong).start()
    nobody = sentinel_set.config(data_dir / "c", sentinels=[dead])
    with pytest.raises(ServiceError, match=r"no sentinel of \[redis\] sentinels answered"):
        HeroAgent(nobody).start()
    bad_password = sentinel_set.config(data_dir / "d", sentinel_password="wrong-password")
    with pytest.raises(ServiceError, match=r"sentinel_password"):
        HeroAgent(bad_password).start()


def test_without_enough_replicas_a_create_is_refused_saying_it_may_exist(
    data_dir: Path, sentinel_set: SentinelSet
) -> None:
    config = sentinel_set.config(data_dir / "srv", min_replicas=3, replica_timeout=0.2)  # there are 2
    with HeroAgent(config) as agent:
        client = JobClient.from_config(config, timeout=2.0)
        started = time.monotonic()
        with pytest.raises(Exception, match=r"only 2 of the 3 replicas.*min_replicas") as caught:
            client.create_job("local", "!!fake.return_success")
        assert "may" in str(caught.value)
        assert time.monotonic() - started < 30
        client.close()
        # the job was made on the primary; the recorder waits for 3 replicas and records nothing meanwhile
        assert wait_until(lambda: "min_replicas" in str(agent.problems()), timeout=20), agent.problems()
        assert agent.health()["jobs"] == "degraded"


def _paused_replicas_then_failover(
    sentinel_set: SentinelSet, client: JobClient, count: int, pause: float
) -> tuple[list[int], int]:
    """Replicas cut off (SIGSTOP), `count` creates tried, the primary killed, the replicas back: a failover
    to a replica that never saw those creates. (ids acknowledged, creates refused)."""
    first = sentinel_set.master_port()
    assert first is not None
    replicas = [proc for port, proc in sentinel_set.servers.items() if port != first]
    for proc in replicas:
        os.kill(proc.pid, signal.SIGSTOP)
    acknowledged, refused = [], 0
    try:
        for _ in range(count):
            try:
                acknowledged.append(client.create_job("cut", "!!fake.return_success").job_id)
            except Exception:
                refused += 1
        time.sleep(pause)  # the recorder records what it may
        os.kill(sentinel_set.servers[first].pid, signal.SIGKILL)
    finally:
        for proc in replicas:
            os.kill(proc.pid, signal.SIGCONT)
    assert wait_until(lambda: sentinel_set.master_port() not in (None, first), timeout=60), "no failover"
    return acknowledged, refused


@pytest.mark.slow
@pytest.mark.parametrize("min_replicas", [0, 1])
def test_creates_the_replicas_never_saw(data_dir: Path, sentinel_set: SentinelSet, min_replicas: int) -> None:
    """Replicas cut off from the primary, creates, the primary killed: the new primary never had them.
    With min_replicas none was acknowledged. Without it each was, and what the recorder had recorded
    before the kill the server queues again from the history (it reconciles when the primary's run id
    changes) with the id counter above them; what it had not (the last ~20 ms) is the window."""
    config = sentinel_set.config(data_dir / "srv", min_replicas=min_replicas, replica_timeout=0.3)
    config.jobs.topics = ["other"]  # nothing runs the creates: they wait in their queue
    with HeroAgent(config) as agent:
        client = JobClient.from_config(config, timeout=2.0)
        acknowledged, refused = _paused_replicas_then_failover(sentinel_set, client, 5, pause=0.5)
        jm = agent.get_job_manager()
        if min_replicas:
            assert (acknowledged, refused) == ([], 5)
        else:
            assert len(acknowledged) == 5 and not refused
            assert wait_until(lambda: _queued(jm, "cut") == 5, timeout=30)
            assert all(present(jm.get_job(job_id)).status is JobStatus.NEW for job_id in acknowledged)
        after = _create_when_possible(client)
        assert after > max(acknowledged, default=0)
        client.close()


def _queued(jm: Any, topic: str) -> int:
    """Jobs waiting in `topic` (-1 while there is no master to ask)."""
    try:
        return int(jm.queue.stats().get(topic, {}).get("queued", 0))
    except redis.RedisError:
        return -1


def _create_when_possible(client: JobClient) -> int:
    """The id of a job created as soon as the new primary takes it."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return client.create_job("cut", "!!fake.return_success").job_id
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_tls_through_sentinels_with_client_certificates(data_dir: Path, tls_sentinel_set: SentinelSet) -> None:
    certs = present(tls_sentinel_set.certs)
    tls = {"tls_ca": str(certs / "ca.crt"), "tls_cert": str(certs / "client.crt"), "tls_key": str(certs / "client.key")}
    config = tls_sentinel_set.config(data_dir / "srv", sentinel_tls=True, **tls)
    toml = data_dir / "tls-sentinel.toml"
    toml.write_text(to_toml(tls_sentinel_set.config(data_dir / "cli", sentinel_tls=True, **tls)))
    worker = None
    try:
        with HeroAgent(config) as agent:
            assert agent.health()["redis"] == "running"
            jm = agent.get_job_manager()
            job = jm.create_job("local", "!!fake.return_success message:sealed")
            assert jm.wait_for_job(job.job_id, timeout=20).result == ["sealed"]
            worker = start_worker(None, "remote", "--config", str(toml))
            client = JobClient.from_config(config)
            remote = client.create_job("remote", "!!fake.return_success message:far")
            assert jm.wait_for_job(remote.job_id, timeout=30).status is JobStatus.DONE
            client.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.communicate(timeout=30)
    plain = tls_sentinel_set.config(data_dir / "plain")  # TLS ports, no sentinel_tls: one clear error
    with pytest.raises(ServiceError, match=r"no sentinel .* answered.*sentinel_tls = true if they speak TLS"):
        HeroAgent(plain).start()


def _no_master_named(group: SentinelSet) -> bool:
    """The sentinels' answer now is "no master up" (a failover under way), as a client finds it."""
    probe = Sentinel([("127.0.0.1", port) for port in group.sentinels], sentinel_kwargs={"password": SENTINEL_PASSWORD})
    try:
        probe.discover_master(MASTER)
        return False
    except MasterNotFoundError:
        return True


@pytest.mark.slow
def test_a_worker_started_during_a_failover_waits_for_the_new_primary(
    data_dir: Path, sentinel_set: SentinelSet
) -> None:
    config = sentinel_set.config(data_dir / "srv")
    config.jobs.topics = ["local"]
    toml = data_dir / "worker.toml"
    toml.write_text(to_toml(sentinel_set.config(data_dir / "wrk")))
    first = sentinel_set.master_port()
    assert first is not None
    with HeroAgent(config) as agent:
        os.kill(sentinel_set.servers[first].pid, signal.SIGKILL)
        assert wait_until(lambda: _no_master_named(sentinel_set), timeout=30), "the sentinels kept naming it"
        worker = subprocess.Popen(
            [sys.executable, "-m", "heroagent", "worker", "--topics", "late", "--config", str(toml), "--id", "late"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env(),
        )  # fmt: skip
        try:
            jm = agent.get_job_manager()
            assert wait_until(lambda: sentinel_set.master_port() not in (None, first), timeout=30), "no failover"
            assert wait_until(lambda: _listed(jm, "late"), timeout=60), "the worker did not come up"
            job = jm.create_job("late", "!!fake.return_success message:after")
            assert jm.wait_for_job(job.job_id, timeout=30).result == ["after"]
        finally:
            worker.terminate()
            _, err = worker.communicate(timeout=30)
        assert "failover seems under way" in err, err[-2000:]


def _listed(jm: Any, name: str) -> bool:
    try:
        return any(w["id"].startswith(f"{name}:") for w in jm.list_workers())
    except redis.RedisError:
        return False
