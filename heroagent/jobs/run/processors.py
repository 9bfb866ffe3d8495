"""How `rhaiscript`, `openrpc` and `ai` jobs run. Each returns the job's result text or raises JobFailed.

Every call is bounded by the job's deadline (`ctx.remaining`); the worker's supervisor enforces it too.
"""

from __future__ import annotations

import json
import shlex
import socket
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from heroagent.config import JobsConfig
from heroagent.heroscript import Action
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.run.actors import ActorRegistry
from heroagent.jobs.run.context import JobContext
from heroagent.jobs.run.processes import run_process
from heroagent.redaction import redacted

MAX_REPLY = 8 * 1024 * 1024


def run_rhai(ctx: JobContext, config: JobsConfig) -> str:
    if not config.rhai.command:
        raise JobFailed(
            'rhaiscript jobs need a runner: set [jobs.rhai] command (e.g. "rhai-run") to a program that runs '
            "the script it reads on stdin"
        )
    command = shlex.split(config.rhai.command)
    code, output = run_process(command, ctx, label=f"rhai runner {command[0]}", stdin_data=ctx.job.params.encode())
    if code != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise JobFailed(f"rhai script failed (exit code {code})" + (f":\n{tail}" if tail else ""))
    return output


def parse_jsonrpc(params: str) -> dict[str, Any]:
    try:
        request = json.loads(params)
    except ValueError as exc:
        raise JobFailed(f"openrpc params are not JSON: {exc}") from None
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        raise JobFailed('openrpc params must be a JSON-RPC 2.0 request: {"jsonrpc": "2.0", "method": "...", ...}')
    if "params" in request and not isinstance(request["params"], list | dict):
        raise JobFailed("openrpc params: 'params' must be an array or an object")
    request.setdefault("id", 1)
    return request


def run_openrpc(ctx: JobContext, config: JobsConfig, registry: ActorRegistry) -> str:
    request = parse_jsonrpc(ctx.job.params)
    endpoint = config.openrpc.get(ctx.job.topic) or config.openrpc.get("*")
    if endpoint:
        reply = _send_jsonrpc(endpoint, request, max(0.1, ctx.remaining))
    else:
        reply = _call_local(request, ctx, registry)
    if not isinstance(reply, dict):
        raise JobFailed(f"openrpc endpoint answered something that is not a JSON-RPC response: {str(reply)[:200]}")
    if reply.get("error") is not None:
        error = reply["error"]
        if isinstance(error, dict):
            raise JobFailed(f"JSON-RPC error {error.get('code')}: {error.get('message')}")
        raise JobFailed(f"JSON-RPC error: {error}")
    if "result" not in reply:
        raise JobFailed("openrpc endpoint answered without a result or an error")
    return json.dumps(reply["result"], ensure_ascii=False)


def _call_local(request: dict[str, Any], ctx: JobContext, registry: ActorRegistry) -> dict[str, Any]:
    """No endpoint for the topic: call the actor method named by `method` ("actor.name")."""
    method = request["method"]
    actor, _, name = method.rpartition(".")
    if not actor:
        raise JobFailed(
            f"openrpc method {method!r}: no endpoint is configured for topic {ctx.job.topic!r} ([jobs.openrpc]) "
            "and a local method must be named 'actor.name'"
        )
    params = request.get("params", {})
    action = Action(
        actor=actor,
        name=name,
        params={str(k): v for k, v in params.items()} if isinstance(params, dict) else {},
        args=list(params) if isinstance(params, list) else [],
    )
    try:
        return {"jsonrpc": "2.0", "id": request["id"], "result": registry.call(action, ctx)}
    except JobFailed as exc:
        return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32000, "message": str(exc)}}


def _send_jsonrpc(endpoint: str, request: dict[str, Any], timeout: float) -> Any:
    body = json.dumps(request).encode()
    if endpoint.startswith("unix://"):
        return _send_unix(endpoint[len("unix://") :], body, timeout)
    http_request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": "application/json"})
    return _http_json(http_request, timeout, f"openrpc endpoint {redacted(endpoint)}")


def _send_unix(path: str, body: bytes, timeout: float) -> Any:
    """JSON-RPC over a Unix socket: the request as one JSON document, the answer read until it parses."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(body + b"\n")
            data = b""
            while len(data) < MAX_REPLY:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                try:
                    return json.loads(data)
                except ValueError:
                    continue
        except TimeoutError:
            raise JobFailed(f"openrpc endpoint unix://{path} did not answer in time") from None
        except OSError as exc:
            raise JobFailed(f"openrpc endpoint unix://{path}: {exc.strerror or exc}") from None
    raise JobFailed(f"openrpc endpoint unix://{path} closed the connection without a JSON answer")


def _http_json(request: urllib.request.Request, timeout: float, what: str) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_REPLY)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode(errors="replace")
        try:  # a JSON-RPC error may come with a non-200 status
            return json.loads(detail)
        except ValueError:
            raise JobFailed(f"{what} answered HTTP {exc.code}: {detail[:200]}") from None
    except urllib.error.URLError as exc:
        raise JobFailed(f"{what} cannot be reached: {exc.reason}") from None
    except TimeoutError:
        raise JobFailed(f"{what} did not answer in time") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise JobFailed(f"{what} answered with something that is not JSON: {raw[:200]!r}") from None


def run_ai(ctx: JobContext, config: JobsConfig) -> str:
    ai = config.ai
    if not ai.base_url:
        raise JobFailed("ai jobs need an endpoint: set [jobs.ai] base_url (OpenAI-compatible), model and api_key")
    params = ctx.job.params.strip()
    chat: dict[str, Any]
    if params.startswith("{"):
        try:
            chat = json.loads(params)
        except ValueError as exc:
            raise JobFailed(f"ai params look like JSON but do not parse: {exc}") from None
        if not isinstance(chat.get("messages"), list):
            raise JobFailed('ai params as JSON must be a chat request with "messages": [...]')
    else:
        chat = {"messages": [{"role": "user", "content": ctx.job.params}]}
    chat.setdefault("model", ai.model)
    if not chat["model"]:
        raise JobFailed('ai jobs need a model: set [jobs.ai] model or give "model" in the request')
    headers = {"Content-Type": "application/json"}
    if ai.api_key:
        headers["Authorization"] = f"Bearer {ai.api_key}"
    url = ai.base_url.rstrip("/") + "/chat/completions"
    reply = _http_json(
        urllib.request.Request(url, data=json.dumps(chat).encode(), headers=headers),
        max(0.1, ctx.remaining),
        f"ai endpoint {urlparse(redacted(url)).netloc}",  # a job's error is shown: no password in it
    )
    if isinstance(reply, dict) and reply.get("error"):
        error = reply["error"]
        raise JobFailed(f"ai endpoint error: {error.get('message') if isinstance(error, dict) else error}")
    try:
        return str(reply["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        raise JobFailed(f"ai endpoint answered without choices[0].message.content: {str(reply)[:200]}") from None
