"""The Host allow-list of our HTTP servers: the defence against DNS rebinding.

A web page on another site can make a browser send requests to 127.0.0.1 by pointing its own name at
that address (DNS rebinding). The browser then sends the attacker's name in `Host` and `Origin`, so
neither may be trusted as it is: a request is served only if its `Host` names this server (the
address it is bound to, a loopback name, or a name the config allows), and a browser's `Origin` must
name one of those too.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")

WSGIApp = Callable[..., Any]


def host_name(host_header: str) -> str:
    """'Example.COM:9021' -> 'example.com'; '[::1]:80' -> '::1'; a trailing dot is dropped."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


class HostAllowList:
    def __init__(self, bound: str, extra: Iterable[str], setting: str) -> None:
        names = {*LOOPBACK_NAMES, *(host_name(h) for h in extra)}
        if host_name(bound) in WILDCARD_BINDS:
            names.add(socket.gethostname().lower())  # bound to every address: the machine's own name too
        else:
            names.add(host_name(bound))
        self.names = frozenset(names)
        self.setting = setting

    def allows(self, host_header: str) -> bool:
        return host_name(host_header) in self.names

    def allows_origin(self, origin: str, scheme: str = "", port: int = 0) -> bool:
        """A browser's Origin header is ours: an allowed name, and (when given) our scheme and port, so a
        page served from another port of the same machine (the WebDAV share, a dev server) is another
        site ('null' and non-http origins are not ours)."""
        try:
            parts = urlsplit(origin)
            given_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
        except ValueError:  # a port that is no number, or out of range
            return False
        if parts.scheme not in ("http", "https") or not self.allows(parts.netloc):
            return False
        return (not scheme or parts.scheme == scheme) and (not port or given_port == port)

    def refusal(self, host_header: str) -> str:
        shown = host_header if len(host_header) <= 100 else host_header[:100] + "..."
        return (
            f"421 Misdirected Request: this server does not answer to the name {shown!r}. "
            f"Use one of {', '.join(sorted(self.names))}, or add the name to {self.setting}.\n"
        )

    def wrap(self, app: WSGIApp) -> WSGIApp:
        """The WSGI app behind this check: a foreign Host gets 421 before the app sees the request."""

        def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            host = environ.get("HTTP_HOST")
            if host is None or self.allows(host):  # no Host at all (HTTP/1.0): no browser sent it
                return app(environ, start_response)
            body = self.refusal(host).encode()
            start_response(
                "421 Misdirected Request",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]

        return checked
