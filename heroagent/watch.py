"""Following the server's live event stream (`GET /api/events`) from another process: `heroagent job watch`.

The CLI's other job commands reach the server through Redis (`JobClient`). The event feed lives in the
server's memory (jobs/server/feed.py: it costs Redis nothing), so watching goes through the dashboard's HTTP
API instead, at the address and with the token the same config gives (`[ui] host`, `port`, `api_token`), or
a URL given. The standard library's http.client only: a client loads no web stack and no server part.

`EventWatcher.events()` is an EventSource of its own: it follows the stream's ids, connects again after the
server ends a stream (it does every 120 s) or the connection drops, sending `Last-Event-ID`, so nothing the
server still holds is missed or seen twice; a server that restarted meanwhile answers with a `reset` event.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from heroagent.config import Config
from heroagent.errors import HeroAgentError
from heroagent.hosts import WILDCARD_BINDS

READ_TIMEOUT = 45.0  # the server writes at least every 15 s (a heartbeat): silence this long is a dead connection
FIRST_RETRY = 1.0  # seconds before connecting again after a failure, doubling up to
MOST_RETRY = 30.0
EVENTS_PATH = "/api/events"


class WatchError(HeroAgentError):
    """The stream cannot be followed, and trying again will not help (a bad filter, a wrong token, no server)."""


@dataclass(frozen=True)
class StreamEvent:
    """One event of the stream: `kind` "job" (data: the job's new state) or "reset" (data: reason, missed)."""

    kind: str
    id: str
    data: dict[str, Any]


def api_url(config: Config) -> str:
    """The dashboard's address for a client on this machine (a wildcard bind is reached on loopback)."""
    host = config.ui.host
    if host in WILDCARD_BINDS:
        host = "::1" if host == "::" else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{config.ui.port}"


@dataclass
class EventWatcher:
    """Follows `<base_url>/api/events` with `filters` (topic, job, group, status), forever (see the module).

    `note` is told what happens to the connection (lost, refused for now, connected again), one line each."""

    base_url: str
    token: str = ""
    filters: Mapping[str, str | int] = field(default_factory=dict)
    last_id: str | None = None  # the place to resume from (the last id the stream gave)
    note: Callable[[str], None] = lambda line: None
    sleep: Callable[[float], None] = time.sleep

    def events(self) -> Iterator[StreamEvent]:
        """Every event, as it comes. WatchError when the server refuses the stream for good, or is not there
        when the watch begins; once the watch has begun, a server away is waited for."""
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise WatchError(f"--url {self.base_url[:100]!r}: give the dashboard's address, like http://127.0.0.1:9021")
        wait = FIRST_RETRY
        connected_once = False
        while True:
            try:
                response = self._open(parts.hostname, parts.port or 80)
            except (OSError, http.client.HTTPException) as exc:
                if not connected_once:
                    raise WatchError(
                        f"cannot reach the server's API at {self.base_url} ({exc}); is `heroagent serve` running "
                        "with [ui] enabled, and is this its config (or give --url)?"
                    ) from None
                self.note(f"cannot reach {self.base_url} ({exc}); trying again in {wait:g} s")
                self.sleep(wait)
                wait = min(MOST_RETRY, wait * 2)
                continue
            if response is None:  # refused for now (503): _open said why and how long to wait
                continue
            if connected_once:
                self.note(f"connected again; resuming after {self.last_id or 'the start'}")
            connected_once = True
            try:
                for event in self._read(response):
                    wait = FIRST_RETRY
                    yield event
            except (OSError, http.client.HTTPException) as exc:
                self.note(f"the connection dropped ({exc or type(exc).__name__}); connecting again in {wait:g} s")
                self.sleep(wait)
                wait = min(MOST_RETRY, wait * 2)
            finally:
                response.close()
            # A stream the server ended (its time was up): connect again at once, from the last id.

    def _open(self, host: str, port: int) -> http.client.HTTPResponse | None:
        """The stream's response (200), None after waiting out a 503, or WatchError for a refusal."""
        conn = http.client.HTTPConnection(host, port, timeout=READ_TIMEOUT)
        query = urlencode({k: v for k, v in self.filters.items() if v not in (None, "")})
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        try:
            conn.request("GET", EVENTS_PATH + (f"?{query}" if query else ""), headers=headers)
            response = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        if response.status == 200:
            return response
        message = _error_of(response)
        conn.close()
        if response.status == 503:
            after = _seconds(response.getheader("Retry-After"))
            self.note(f"the server cannot stream now ({message}); trying again in {after:g} s")
            self.sleep(after)
            return None
        hint = ""
        if response.status == 401 and not self.token:
            hint = "; set [ui] api_token in this config (the server's token)"
        raise WatchError(f"the server refused the event stream ({response.status}: {message}){hint}")

    def _read(self, response: http.client.HTTPResponse) -> Iterator[StreamEvent]:
        """The events of one stream, as text/event-stream frames them; returns when the server ends it."""
        kind, data, event_id = "", [], None
        while True:
            raw = response.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    event_id = value
                elif name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
                continue  # a comment (":..."), retry: or a field of another kind
            if event_id is not None:
                self.last_id = event_id  # an id alone moves the place, as in a browser
            if data:
                try:
                    decoded = json.loads("\n".join(data))
                except ValueError:
                    decoded = {"text": "\n".join(data)}
                yield StreamEvent(kind or "message", self.last_id or "", decoded if isinstance(decoded, dict) else {})
            kind, data, event_id = "", [], None


def _error_of(response: http.client.HTTPResponse) -> str:
    """The `error` of a JSON error answer, or its status line."""
    try:
        body = json.loads(response.read(64 * 1024) or b"{}")
    except (ValueError, OSError, http.client.HTTPException):
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if error else response.reason


def _seconds(header: str | None) -> float:
    try:
        return min(MOST_RETRY, max(1.0, float(header or "")))
    except ValueError:
        return FIRST_RETRY * 5
