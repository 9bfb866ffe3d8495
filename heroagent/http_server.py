"""A cheroot WSGI server run in a background thread: shared by the WebDAV share and the dashboard."""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from heroagent.errors import ServiceError
from heroagent.hosts import HostAllowList
from heroagent.net import check_port_free

log = logging.getLogger(__name__)

WSGIApp = Callable[..., Any]
LISTEN_BACKLOG = 1024  # the kernel caps it at net.core.somaxconn
# cheroot's selector waits this long between looks at its stop flag (and at idle connections): its
# default of 0.5 s made every stop of a server take up to half a second. Each look costs CPU while idle.
# Measured (an agent with both servers, 8 stops each; idle CPU over 20 s): at 0.5 s a stop took 1.03 s
# (median) and idle CPU was 1.40-1.50% of a core; at 0.1 s, 0.42 s and 1.50-1.70%; at 0.05 s, 0.37 s
# and 1.95-2.05%.
SELECT_INTERVAL = 0.1
# The WSGI environ's key of a callable that says whether the client closed its connection (see `client_gone`):
# a response that streams for minutes (the event stream) asks it while it has nothing to write, so a client
# that went away frees its thread at once, not at the next write.
CLIENT_GONE = "heroagent.client_gone"


def client_gone(sock: socket.socket) -> bool:
    """Whether the peer has closed this connection: its end of file waits to be read. Nothing is taken from
    the socket and nothing blocks. Unknown (False) over TLS, where a peek is not allowed."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        events = poller.poll(0)
        if not events:
            return False
        if events[0][1] & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
        return sock.recv(1, socket.MSG_PEEK) == b""  # readable: data (a client still there) or its end
    except (OSError, ValueError):  # closed meanwhile
        return True


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, with `CLIENT_GONE` in each request's environ."""

    # cheroot's type stubs say its get_environ returns None; it returns the environ.
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]
        environ: dict[str, Any] = super().get_environ()  # type: ignore[no-untyped-call]
        environ[CLIENT_GONE] = partial(client_gone, self.req.conn.socket)
        return environ


def http_url(host: str, port: int, *, tls: bool = False) -> str:
    """The URL a browser uses for a server on host:port (IPv6 hosts in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}/"


class ThreadedWSGIServer:
    """Bind on start (so a busy port is an error at start, not later), serve in a thread, stop cleanly.

    Every request passes the Host allow-list first (hosts.py): a foreign Host gets 421."""

    def __init__(
        self,
        service: str,
        app: WSGIApp,
        host: str,
        port: int,
        *,
        port_setting: str,
        hosts: HostAllowList,
        threads: int = 10,
        tls_cert: str = "",
        tls_key: str = "",
    ) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.tls = bool(tls_cert)
        self._port_setting = port_setting
        self.hosts = hosts
        # request_queue_size is the listen backlog: cheroot's default of 5 made a burst of 20 clients lose
        # SYNs, and each lost one waits the kernel's 1 s retransmit (health's p99 was ~1 s under load).
        self._server = wsgi.Server(
            (host, port),
            hosts.wrap(app),
            numthreads=threads,
            server_name="HeroAgent",
            timeout=30,
            request_queue_size=LISTEN_BACKLOG,
        )
        self._server.expiration_interval = SELECT_INTERVAL
        self._server.gateway = _Gateway
        if tls_cert:
            try:
                self._server.ssl_adapter = BuiltinSSLAdapter(tls_cert, tls_key)
            except (OSError, ValueError) as exc:
                raise ServiceError(service, f"cannot load TLS certificate/key ({tls_cert}, {tls_key}): {exc}") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return http_url(self.host, self.port, tls=self.tls)

    def start(self) -> None:
        check_port_free(self.service, self.host, self.port, self._port_setting)
        try:
            self._server.prepare()
        except OSError as exc:
            raise ServiceError(self.service, f"cannot listen on {self.host}:{self.port}: {exc}") from None
        self._thread = threading.Thread(target=self._server.serve, name=f"heroagent-{self.service}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.stop()
        self._thread.join(timeout=10)
        if self._thread.is_alive():  # pragma: no cover - cheroot stop hangs only on a stuck handler
            log.warning("%s: server thread did not stop within 10s", self.service)
        self._thread = None
