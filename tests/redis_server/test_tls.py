"""TLS to an external Redis (issue 28, item 1): `rediss://` with `[redis] tls_ca`, `tls_cert`, `tls_key`,
`tls_verify`, for the server, `heroagent worker`, JobClient and the CLI.

Real parts: Debian's redis-server (built with TLS; scripts/test.sh installs it) on 127.0.0.1 with certificates
this test makes with openssl: a CA, a server certificate for 127.0.0.1, a client certificate.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from heroagent import HeroAgent
from heroagent.client import JobClient
from heroagent.errors import ServiceError
from heroagent.jobs import JobStatus
from tests.conftest import free_port, make_config, run_cli, start_worker, wait_until

DEBIAN_REDIS = Path("/usr/bin/redis-server")
pytestmark = pytest.mark.skipif(not DEBIAN_REDIS.exists(), reason="scripts/test.sh installs Debian's redis-server")
PASSWORD = "tls-test-password"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path, name: str) -> dict[str, Path]:
    """A CA, and a server and a client certificate it signed (the server's for IP 127.0.0.1)."""
    folder.mkdir(parents=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name} CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}.key",
                "-out", f"{who}.csr", cwd=folder)  # fmt: skip
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "san.ext", "-out", f"{who}.crt", cwd=folder)  # fmt: skip
    return {p.stem + p.suffix.replace(".", "_"): p for p in folder.iterdir()}


@dataclass
class TlsRedis:
    port: int
    certs: Path
    other_ca: Path

    @property
    def url(self) -> str:
        return f"rediss://:{PASSWORD}@127.0.0.1:{self.port}/0"


@pytest.fixture
def tls_redis(data_dir: Path) -> Iterator[TlsRedis]:
    certs = data_dir / "certs"
    make_certificates(certs, "heroagent-test")
    make_certificates(data_dir / "other", "someone-else")
    port = free_port()
    workdir = data_dir / "tls-redis"
    workdir.mkdir()
    proc = subprocess.Popen(
        [str(DEBIAN_REDIS), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(certs / "server.crt"), "--tls-key-file", str(certs / "server.key"),
         "--tls-ca-cert-file", str(certs / "ca.crt"), "--tls-auth-clients", "optional",
         "--requirepass", PASSWORD, "--dir", str(workdir), "--save", "", "--appendonly", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        ready = redis.Redis(
            host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=str(certs / "ca.crt")
        )
        assert wait_until(lambda: _answers(ready), timeout=20), "the TLS redis-server did not start"
        ready.close()
        yield TlsRedis(port, certs, data_dir / "other" / "ca.crt")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        time.sleep(0.1)
        return False


def test_the_server_a_worker_a_client_and_the_cli_work_over_tls(data_dir: Path, tls_redis: TlsRedis) -> None:
    certs = tls_redis.certs
    tls = {"tls_ca": str(certs / "ca.crt"), "tls_cert": str(certs / "client.crt"), "tls_key": str(certs / "client.key")}
    config = make_config(
        data_dir / "srv", redis={"url": tls_redis.url, **tls}, webdav={"enabled": False}, ui={"enabled": False},
        jobs={"topics": ["local"]},
    )  # fmt: skip
    toml = data_dir / "tls.toml"
    toml.write_text(
        f'data_dir = "{data_dir / "cli"}"\n[redis]\nurl = "{tls_redis.url}"\n'
        + "".join(f'{k} = "{v}"\n' for k, v in tls.items())
    )
    worker = None
    try:
        with HeroAgent(config) as agent:
            jm = agent.get_job_manager()
            job = jm.create_job("local", "!!fake.return_success message:secure")
            assert jm.wait_for_job(job.job_id, timeout=20).result == ["secure"]
            worker = start_worker(tls_redis.url, "remote", "--config", str(toml))
            client = JobClient.from_config(config)
            remote = client.create_job("remote", "!!fake.return_success message:far")
            assert jm.wait_for_job(remote.job_id, timeout=30).status is JobStatus.DONE
            client.close()
            submitted = run_cli(
                "job", "submit", "local", "!!fake.return_success", "--config", str(toml), "--wait", "--json"
            )
            assert submitted.returncode == 0, submitted.stderr
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


def test_a_wrong_ca_or_a_plain_url_is_one_clear_error_naming_the_setting(data_dir: Path, tls_redis: TlsRedis) -> None:
    wrong = make_config(
        data_dir / "a", redis={"url": tls_redis.url, "tls_ca": str(tls_redis.other_ca)},
        webdav={"enabled": False}, ui={"enabled": False},
    )  # fmt: skip
    with pytest.raises(ServiceError, match=r"not signed by \[redis\] tls_ca"):
        HeroAgent(wrong).start()
    plain = make_config(
        data_dir / "b", redis={"url": tls_redis.url.replace("rediss://", "redis://")},
        webdav={"enabled": False}, ui={"enabled": False},
    )  # fmt: skip
    with pytest.raises(ServiceError, match=r"TLS port given a plain redis:// url|cannot reach Redis"):
        HeroAgent(plain).start()
    insecure = make_config(
        data_dir / "c", redis={"url": tls_redis.url, "tls_verify": False},
        webdav={"enabled": False}, ui={"enabled": False}, jobs={"enabled": False},
    )  # fmt: skip
    with HeroAgent(insecure) as agent:  # tls_verify = false: a self-signed server, knowingly
        assert agent.health()["redis"] == "running"
    assert shutil.which("openssl")
