"""The WebDAV share against real clients: litmus (every suite), cadaver, and raw HTTP for the policy."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from heroagent.errors import ServiceError
from heroagent.webdav import WebDAVServer
from tests.conftest import make_config

pytestmark = pytest.mark.skipif(shutil.which("litmus") is None, reason="scripts/test.sh installs litmus")


@pytest.fixture
def share(data_dir: Path) -> Iterator[WebDAVServer]:
    server = WebDAVServer(make_config(data_dir, webdav={"users": {"alice": "secret"}}))
    server.start()
    yield server
    server.stop()


def run_litmus(url: str, *auth: str, cwd: Path) -> str:
    result = subprocess.run(["litmus", url, *auth], capture_output=True, text=True, timeout=300, cwd=cwd)
    return result.stdout + result.stderr


def assert_litmus_passes(output: str) -> None:
    summaries = _pairs(output)
    failed = {suite: n for suite, (_, n) in summaries.items() if n != "0"}
    assert set(summaries) == {"basic", "copymove", "props", "locks", "http"}, output[-2000:]
    assert not failed, output[-4000:]
    assert "WARNING" not in output, output[-4000:]


def _pairs(output: str) -> dict[str, tuple[str, str]]:
    return {
        suite: (run, failed)
        for suite, run, failed in re.findall(
            r"summary for `(\w+)': of (\d+) tests run: \d+ passed, (\d+) failed", output
        )
    }


def test_litmus_all_suites_with_users(share: WebDAVServer, tmp_path: Path) -> None:
    assert_litmus_passes(run_litmus(share.url, "alice", "secret", cwd=tmp_path))


def test_litmus_all_suites_anonymous_on_loopback(data_dir: Path, tmp_path: Path) -> None:
    server = WebDAVServer(make_config(data_dir))
    server.start()
    try:
        assert_litmus_passes(run_litmus(server.url, cwd=tmp_path))
    finally:
        server.stop()


def test_cadaver_uploads_lists_and_downloads(share: WebDAVServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1\nlogin alice\npassword secret\n")
    netrc.chmod(0o600)
    local = tmp_path / "backup.sh"
    local.write_text("#!/bin/sh\necho backing up\n")
    commands = f"put {local} scripts/backup.sh\nls scripts\nget scripts/backup.sh {tmp_path / 'back.sh'}\nquit\n"
    result = subprocess.run(
        ["cadaver", share.url],
        input=commands,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, HOME=str(home)),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backup.sh" in result.stdout
    assert (share.root / "scripts" / "backup.sh").read_text() == local.read_text()
    assert (tmp_path / "back.sh").read_text() == local.read_text()


def request(
    server: WebDAVServer, method: str, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.config.webdav.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    return conn.getresponse()


def basic(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_share_has_a_scripts_folder(share: WebDAVServer) -> None:
    assert (share.root / "scripts").is_dir()


def test_auth_is_required_and_digest_is_offered(share: WebDAVServer) -> None:
    response = request(share, "PROPFIND", "/", {"Depth": "1"})
    assert response.status == 401
    assert response.getheader("WWW-Authenticate", "").startswith("Digest ")
    assert request(share, "PROPFIND", "/", {"Depth": "1", **basic("alice", "wrong")}).status == 401
    assert request(share, "PROPFIND", "/", {"Depth": "1", **basic("alice", "secret")}).status == 207


def test_digest_auth_with_a_real_client(share: WebDAVServer) -> None:
    (share.root / "scripts" / "hello.sh").write_text("echo hello\n")
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, share.url, "alice", "secret")
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager))
    with opener.open(share.url + "scripts/hello.sh") as response:
        assert response.read() == b"echo hello\n"


def test_no_version_strings(share: WebDAVServer) -> None:
    response = request(share, "OPTIONS", "/", basic("alice", "secret"))
    server_header = response.getheader("Server", "")
    assert "HeroAgent" in server_header
    assert not re.search(r"\d+\.\d+", server_header), server_header
    body = request(share, "GET", "/missing", basic("alice", "secret")).read().decode()
    assert "WsgiDAV/" not in body and "Cheroot/" not in body


def test_paths_cannot_escape_the_share(share: WebDAVServer, data_dir: Path) -> None:
    secret = data_dir / "outside.txt"
    secret.write_text("top secret")
    (share.root / "scripts" / "link.txt").symlink_to(secret)
    (share.root / "dirlink").symlink_to(data_dir)
    auth = basic("alice", "secret")
    for path in (
        "/../outside.txt",
        "/scripts/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/scripts/link.txt",
        "/dirlink/outside.txt",
    ):
        response = request(share, "GET", path, auth)
        body = response.read()
        assert b"top secret" not in body, path
        assert response.status in (400, 403, 404), (path, response.status)


def test_readonly_share_refuses_writes(data_dir: Path) -> None:
    server = WebDAVServer(make_config(data_dir, webdav={"readonly": True}))
    server.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.config.webdav.port, timeout=10)
        conn.request("PUT", "/scripts/x.sh", body=b"echo x")
        assert conn.getresponse().status == 403
        assert not (server.root / "scripts" / "x.sh").exists()
    finally:
        server.stop()


def test_refuses_anonymous_on_a_public_address(data_dir: Path) -> None:
    server = WebDAVServer(make_config(data_dir, webdav={"host": "0.0.0.0"}))
    with pytest.raises(ServiceError, match=r"without users.*\[webdav.users\]"):
        server.start()


def test_port_in_use(share: WebDAVServer, data_dir: Path) -> None:
    other = WebDAVServer(make_config(data_dir / "b", webdav={"port": share.config.webdav.port}))
    with pytest.raises(ServiceError, match=r"webdav: port \d+ on 127.0.0.1 is already in use.*\[webdav\] port"):
        other.start()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test certificate")
def test_tls_share_with_basic_auth(data_dir: Path) -> None:
    import base64
    import ssl

    cert, key = data_dir / "cert.pem", data_dir / "key.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*make_cert, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    config = make_config(data_dir, webdav={"users": {"alice": "secret"}, "tls_cert": str(cert), "tls_key": str(key)})
    server = WebDAVServer(config)
    server.start()
    try:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", config.webdav.port, timeout=10, context=context)
        auth = "Basic " + base64.b64encode(b"alice:secret").decode()
        conn.request("PROPFIND", "/", headers={"Depth": "1", "Authorization": auth})
        assert conn.getresponse().status == 207
        plain = http.client.HTTPConnection("127.0.0.1", config.webdav.port, timeout=5)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/")
            plain.getresponse().read()
    finally:
        server.stop()


def test_bad_tls_files_are_a_clear_error(data_dir: Path) -> None:
    (data_dir / "bad.pem").write_text("not a certificate")
    config = make_config(data_dir, webdav={"tls_cert": str(data_dir / "bad.pem"), "tls_key": str(data_dir / "bad.pem")})
    with pytest.raises(ServiceError, match="cannot load TLS certificate"):
        WebDAVServer(config).start()


def test_wrong_logins_in_a_row_are_slowed_down(share: WebDAVServer) -> None:
    """Issue 10, item 13: WebDAV logins were not throttled."""
    import time

    assert request(share, "PROPFIND", "/", {"Depth": "0"}).status == 401  # the challenge: not a failure
    statuses = [request(share, "PROPFIND", "/", {"Depth": "0", **basic("alice", "guess")}).status for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = request(share, "PROPFIND", "/", {"Depth": "0", **basic("alice", "secret")})
    assert refused.status == 429 and int(refused.getheader("Retry-After") or 0) >= 1
    time.sleep(2.1)
    assert request(share, "PROPFIND", "/", {"Depth": "0", **basic("alice", "secret")}).status == 207


def test_every_answer_of_the_share_carries_security_headers_so_its_html_runs_no_script(share: WebDAVServer) -> None:
    """Issue 31, item 8: the share served uploaded HTML with no CSP, as an origin next to the dashboard's."""
    (share.root / "page.html").write_text("<script>fetch('http://127.0.0.1:9021/api/jobs')</script>")
    for method, path, headers in (
        ("GET", "/page.html", basic("alice", "secret")),
        ("PROPFIND", "/", {"Depth": "1", **basic("alice", "secret")}),
        ("GET", "/page.html", {}),  # the 401 too
        ("GET", "/../etc/passwd", basic("alice", "secret")),  # and the refusal of a path escape
    ):
        response = request(share, method, path, headers)
        csp = response.getheader("Content-Security-Policy", "")
        assert "default-src 'none'" in csp and "sandbox" in csp, (method, path, response.status)
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert response.getheader("X-Frame-Options") == "DENY"


def _send(server: WebDAVServer, method: str, path: str, body: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.config.webdav.port, timeout=10)
    try:
        conn.request(method, path, body=body.encode(), headers={"Content-Type": "application/xml", **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def proppatch(name: str, value: str) -> str:
    return (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop>'
        f"<Z:{name}>{value}</Z:{name}></D:prop></D:set></D:propertyupdate>"
    )


def test_dead_properties_and_locks_are_bounded(share: WebDAVServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 31, item 9: the share's properties and locks grew without bound (memory, as any writer likes)."""
    from heroagent.webdav import stores

    auth = basic("alice", "secret")
    (share.root / "notes.txt").write_text("hi")
    too_big = _send(share, "PROPPATCH", "/notes.txt", proppatch("big", "x" * 70_000), auth)
    assert too_big == 207 or too_big == 507
    monkeypatch.setattr(stores, "MAX_PROPERTIES", 3)
    statuses = [_send(share, "PROPPATCH", "/notes.txt", proppatch(f"p{i}", "v"), auth) for i in range(5)]
    assert statuses[:3] == [207, 207, 207], statuses
    listing = request(share, "PROPFIND", "/notes.txt", {"Depth": "0", **auth}).read().decode()
    assert "p2" in listing and "p3" not in listing and "p4" not in listing and "big" not in listing
    monkeypatch.setattr(stores, "MAX_LOCKS", 2)
    lock = (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope>'
        "<D:locktype><D:write/></D:locktype><D:owner>o</D:owner></D:lockinfo>"
    )
    for name in ("a", "b", "c"):
        (share.root / f"{name}.txt").write_text(name)
    locks = [_send(share, "LOCK", f"/{name}.txt", lock, {"Timeout": "Second-600", **auth}) for name in "abc"]
    assert locks[:2] == [200, 200] and locks[2] == 507, locks
