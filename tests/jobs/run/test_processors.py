"""Every params type with real endpoints on 127.0.0.1: JSON-RPC over HTTP and a Unix socket, an
OpenAI-compatible chat server, and a rhai runner command."""

from __future__ import annotations

import json
import shlex
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from tests.conftest import make_config

SEEN: list[dict[str, Any]] = []


class Endpoints(BaseHTTPRequestHandler):
    """/rpc: a JSON-RPC 2.0 calculator; /v1/chat/completions: an OpenAI-style chat that echoes."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SEEN.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if self.path == "/rpc":
            if body["method"] == "add":
                answer = {"jsonrpc": "2.0", "id": body["id"], "result": sum(body["params"])}
            else:
                answer = {"jsonrpc": "2.0", "id": body["id"], "error": {"code": -32601, "message": "Method not found"}}
        elif self.path == "/v1/chat/completions":
            last = body["messages"][-1]["content"]
            answer = {"choices": [{"message": {"role": "assistant", "content": f"{body['model']} says: {last}"}}]}
        else:
            self.send_error(404)
            return
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def unix_rpc_server(path: Path, stop: threading.Event) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen()
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                request = json.loads(conn.makefile().readline())
                reply = {"jsonrpc": "2.0", "id": request["id"], "result": {"upper": request["params"]["text"].upper()}}
                conn.sendall(json.dumps(reply).encode())


RHAI_RUNNER = "import sys; src = sys.stdin.read(); print('ran', len(src), 'chars'); sys.exit(3 if 'fail' in src else 0)"


@pytest.fixture
def endpoints_agent(data_dir: Path) -> Iterator[HeroAgent]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), Endpoints)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    sock = data_dir / "rpc.sock"
    stop = threading.Event()
    unix = threading.Thread(target=unix_rpc_server, args=(sock, stop), daemon=True)
    unix.start()
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False})
    config.jobs.openrpc = {"calc": f"{base}/rpc", "text": f"unix://{sock}"}
    config.jobs.rhai.command = f"{shlex.quote(sys.executable)} -c {shlex.quote(RHAI_RUNNER)}"
    config.jobs.ai.base_url = f"{base}/v1"
    config.jobs.ai.model = "tiny-model"
    config.jobs.ai.api_key = "sk-test"
    SEEN.clear()
    try:
        with HeroAgent(config) as agent:
            yield agent
    finally:
        stop.set()
        http.shutdown()
        http.server_close()
        unix.join(timeout=2)


def run(agent: HeroAgent, topic: str, params: str, params_type: str, **kw: Any) -> Any:
    jm = agent.get_job_manager()
    return jm.wait_for_job(jm.create_job(topic, params, params_type=params_type, **kw).job_id, timeout=15)


def test_openrpc_over_http(endpoints_agent: HeroAgent) -> None:
    done = run(endpoints_agent, "calc", '{"jsonrpc": "2.0", "method": "add", "params": [2, 3], "id": 7}', "openrpc")
    assert done.status is JobStatus.DONE and done.result == 5
    assert SEEN[-1]["body"]["id"] == 7
    failed = run(endpoints_agent, "calc", '{"jsonrpc": "2.0", "method": "nope", "id": 1}', "openrpc")
    assert failed.status is JobStatus.ERROR and failed.error == "JSON-RPC error -32601: Method not found"
    bad = run(endpoints_agent, "calc", '{"method": "add"}', "openrpc")
    assert "must be a JSON-RPC 2.0 request" in bad.error


def test_openrpc_over_a_unix_socket(endpoints_agent: HeroAgent) -> None:
    params = '{"jsonrpc": "2.0", "method": "shout", "params": {"text": "hi"}, "id": 1}'
    done = run(endpoints_agent, "text", params, "openrpc")
    assert done.status is JobStatus.DONE, done.error
    assert done.result == {"upper": "HI"}


def test_openrpc_without_an_endpoint_calls_a_local_actor(endpoints_agent: HeroAgent) -> None:
    @endpoints_agent.actor("math")
    class Math:
        def mul(self, a: int, b: int) -> int:
            return a * b

    done = run(
        endpoints_agent, "local", '{"jsonrpc": "2.0", "method": "math.mul", "params": {"a": 6, "b": 7}}', "openrpc"
    )
    assert done.status is JobStatus.DONE and done.result == 42
    missing = run(endpoints_agent, "local", '{"jsonrpc": "2.0", "method": "nothing"}', "openrpc")
    assert "no endpoint is configured for topic 'local'" in missing.error


def test_unreachable_endpoint(endpoints_agent: HeroAgent) -> None:
    endpoints_agent.config.jobs.openrpc["gone"] = "http://127.0.0.1:1/rpc"
    failed = run(endpoints_agent, "gone", '{"jsonrpc": "2.0", "method": "x"}', "openrpc")
    assert failed.status is JobStatus.ERROR and "cannot be reached" in failed.error


def test_rhaiscript_runs_the_configured_command(endpoints_agent: HeroAgent) -> None:
    done = run(endpoints_agent, "r", "let x = 40 + 2; print(x);", "rhaiscript")
    assert done.status is JobStatus.DONE and done.result.strip() == "ran 25 chars"
    failed = run(endpoints_agent, "r", "fail()", "rhaiscript")
    assert failed.status is JobStatus.ERROR and "exit code 3" in failed.error


def test_ai_prompt_and_chat_request(endpoints_agent: HeroAgent) -> None:
    done = run(endpoints_agent, "ai", "Say hello", "ai")
    assert done.status is JobStatus.DONE and done.result == "tiny-model says: Say hello"
    assert SEEN[-1]["auth"] == "Bearer sk-test"
    chat = json.dumps(
        {"model": "other", "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]}
    )
    assert run(endpoints_agent, "ai", chat, "ai").result == "other says: hi"


def test_unconfigured_types_say_how_to_configure(agent: HeroAgent) -> None:
    rhai = run(agent, "r", "1 + 1", "rhaiscript")
    assert rhai.status is JobStatus.ERROR and "[jobs.rhai] command" in rhai.error
    ai = run(agent, "a", "hello", "ai")
    assert "[jobs.ai] base_url" in ai.error


def test_every_type_has_a_timeout(endpoints_agent: HeroAgent) -> None:
    endpoints_agent.config.jobs.rhai.command = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'"
    slow = run(endpoints_agent, "r", "loop {}", "rhaiscript", timeout=0.5)
    assert slow.status is JobStatus.TIMEOUT and "timed out after 0.5 seconds" in slow.error


def test_an_endpoint_error_never_shows_a_password_in_its_url(endpoints_agent: HeroAgent) -> None:
    """A job's error is shown on the dashboard and kept in the history: an ai `base_url` or an openrpc
    endpoint with user:password@ is named with the password as ***."""
    endpoints_agent.config.jobs.ai.base_url = "http://bob:pw-s3cret@127.0.0.1:1/v1"
    failed = run(endpoints_agent, "ai", "hello", "ai")
    assert failed.status is JobStatus.ERROR and "ai endpoint" in failed.error, failed.error
    assert "pw-s3cret" not in failed.error and "127.0.0.1:1" in failed.error, failed.error
    endpoints_agent.config.jobs.openrpc["calc"] = "http://bob:pw-s3cret@127.0.0.1:1/rpc"
    failed = run(endpoints_agent, "calc", '{"jsonrpc": "2.0", "method": "add", "params": [2, 3], "id": 7}', "openrpc")
    assert failed.status is JobStatus.ERROR and "openrpc endpoint" in failed.error, failed.error
    assert "pw-s3cret" not in failed.error and "127.0.0.1:1" in failed.error, failed.error
