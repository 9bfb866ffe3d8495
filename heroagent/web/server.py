"""The dashboard's service: the Flask app from `create_app`, served by cheroot on [ui] host:port."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from heroagent.config import MIN_TOKEN_LENGTH, Config
from heroagent.errors import ServiceError
from heroagent.http_server import ThreadedWSGIServer, http_url
from heroagent.net import is_loopback

if TYPE_CHECKING:
    from heroagent.web.context import Agent
    from heroagent.web.events import EventStreams

log = logging.getLogger(__name__)

SERVICE = "ui"
THREADS = 16  # cheroot's pool: the pages' requests, the API's and the event streams
STREAMS = THREADS // 2  # event streams open at once: the other half always answers pages and the API


class UIServer:
    def __init__(self, config: Config, agent: Agent) -> None:
        self.config = config
        self.agent = agent
        self._http: ThreadedWSGIServer | None = None
        self._streams: EventStreams | None = None

    @property
    def url(self) -> str:
        return http_url(self.config.ui.host, self.config.ui.port)

    def preflight(self) -> None:
        ui = self.config.ui
        if ui.api_token and len(ui.api_token) < MIN_TOKEN_LENGTH:  # checked here: `config show` output still loads
            raise ServiceError(
                SERVICE,
                f"[ui] api_token must be at least {MIN_TOKEN_LENGTH} characters (a short token can be guessed); "
                "make one with `openssl rand -hex 16`",
            )
        if not is_loopback(ui.host) and not (ui.password and ui.api_token):
            raise ServiceError(
                SERVICE,
                f"refusing to serve the dashboard on non-loopback address {ui.host} without auth; "
                'set [ui] password and [ui] api_token (or [ui] host = "127.0.0.1")',
            )

    def start(self) -> None:
        self.preflight()
        ui = self.config.ui
        from heroagent.web import create_app
        from heroagent.web.events import STREAMS as STREAMS_KEY

        app = create_app(self.agent, max_streams=STREAMS)
        hosts = app.extensions["heroagent.hosts"]
        self._streams = app.extensions[STREAMS_KEY]
        self._http = ThreadedWSGIServer(
            SERVICE, app, ui.host, ui.port, port_setting="[ui] port", hosts=hosts, threads=THREADS
        )
        self._http.start()
        log.info("ui: dashboard at %s", self.url)

    def stop(self) -> None:
        if self._streams is not None:
            self._streams.close()  # open event streams end now: cheroot's stop would wait for their threads
            self._streams = None
        if self._http is not None:
            self._http.stop()
            self._http = None
            log.info("ui: stopped")
