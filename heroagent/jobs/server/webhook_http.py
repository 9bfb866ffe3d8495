"""One webhook attempt over HTTP, safe against the receivers a job may name.

A webhook's URL comes from whoever made the job, so the server treats the receiver as hostile:
- **Private addresses** (loopback, RFC 1918, link-local such as a cloud's metadata service, multicast,
  reserved, unspecified, anything not global) are refused unless `[jobs] webhook_allow_private`: a job
  must not make the server reach into its own network. The host is resolved once, every address it
  resolves to is checked, and the connection goes to a checked address (never to the name again), so a
  name that answers a public address to the check and a private one to the connect (DNS rebinding) gains
  nothing. HTTPS still checks the certificate against the name.
- **Redirects** are not followed: a 3xx is a failed attempt that names its Location.
- **Slow or endless answers**: one attempt has `timeout` seconds in all (connect, TLS, send, answer):
  each socket operation gets the time left, and `Deadlines.expire` (called by the delivery loop) shuts
  down a socket past its time, so a receiver that drips a byte every few seconds is cut off too. Only
  the status, the Location and the first `ANSWER_CAP` bytes of the body are read: a 10 MB answer costs
  64 KiB. Resolving the name is the one step no deadline can cut (the system resolver has its own).

Only the standard library: `http.client` over a socket connected here.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

ANSWER_CAP = 64 * 1024  # bytes of a receiver's answer read; the rest is never read
USER_AGENT = "HeroAgent-Webhook"  # no version: a receiver's logs tell an attacker nothing
NOT_ALLOWED = ("loopback", "private", "link_local", "multicast", "reserved", "unspecified")


class Refused(Exception):
    """A URL a webhook is never sent to (not http(s), no host, a private address when they are not
    allowed): dropped at once, not retried."""


class Interrupted(Exception):
    """The attempt was cut short by the server's stop: it is sent again, not counted as failed."""


@dataclass(frozen=True)
class Answer:
    """What a receiver answered: its status, where a redirect pointed, and the start of its body."""

    status: int
    reason: str
    location: str
    body: bytes  # at most ANSWER_CAP bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Watch:
    sock: socket.socket
    deadline: float  # time.monotonic()
    expired: bool = False
    aborted: bool = False


@dataclass
class Deadlines:
    """The sockets of the attempts in flight, each with the moment it must be done by. `expire` shuts down
    those past it (a blocked read then returns at once); `abort_all` shuts down all (the server stops)."""

    _open: dict[int, _Watch] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _aborted: bool = False  # abort_all was called: a socket watched from now on is cut at once

    def watch(self, sock: socket.socket, deadline: float) -> _Watch:
        watch = _Watch(sock, deadline)
        with self._lock:
            self._open[id(sock)] = watch
            if self._aborted:
                watch.aborted = True
                _shut(sock)
        return watch

    def forget(self, watch: _Watch) -> None:
        with self._lock:
            self._open.pop(id(watch.sock), None)

    def expire(self, now: float | None = None) -> int:
        """Shut down every socket past its deadline; returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            late = [w for w in self._open.values() if w.deadline <= now and not w.expired]
            for watch in late:
                watch.expired = True
                _shut(watch.sock)
        return len(late)

    def abort_all(self) -> None:
        with self._lock:
            self._aborted = True
            for watch in self._open.values():
                watch.aborted = True
                _shut(watch.sock)


def _shut(sock: socket.socket) -> None:
    """Shut the connection down under a thread blocked on it. The plain socket's shutdown, even for a TLS
    socket (whose own shutdown would drop its TLS state under the reading thread's feet)."""
    with contextlib.suppress(OSError):  # closed meanwhile, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect and what to ask for."""

    https: bool
    host: str
    port: int
    path: str  # with its query
    host_header: str
    authorization: str  # "Basic ..." for a URL with user:password@, else ""


def parse(url: str) -> Target:
    """The URL's parts; Refused if it is no http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("not an http:// or https:// URL")
    host = parts.hostname
    if not host:
        raise Refused("the URL names no host")
    https = parts.scheme == "https"
    default = 443 if https else 80
    port = port or default
    shown_host = f"[{host}]" if ":" in host else host
    authorization = ""
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode()
    return Target(
        https=https,
        host=host,
        port=port,
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=shown_host if port == default else f"{shown_host}:{port}",
        authorization=authorization,
    )


def refusal(address: str) -> str:
    """Why a webhook may not go to this IP address ('' when it may): the kind of address it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparsable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in NOT_ALLOWED:
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if ip.is_global else "non-public"


SockAddr = tuple[socket.AddressFamily, socket.SocketKind, int, Any]  # getaddrinfo's, its canonical name left out


def resolve(target: Target, allow_private: bool) -> list[SockAddr]:
    """The addresses to connect to. Without `allow_private`, Refused when any is not public (a name that
    points inside as well as outside is not to be trusted either). socket.gaierror: no such name (now)."""
    found: list[SockAddr] = []
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM):
        if not allow_private and (why := refusal(str(sockaddr[0]))):
            raise Refused(
                f"{target.host} is {sockaddr[0]}, a {why} address; webhooks to private addresses are off "
                "([jobs] webhook_allow_private = false)"
            )
        found.append((family, kind, proto, sockaddr))
    if not found:
        raise OSError(f"{target.host} has no address")
    return found


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool,
    deadlines: Deadlines,
) -> Answer:
    """POST `body` to `url` once, within `timeout` seconds in all. Refused: never to be sent there;
    Interrupted: the server stops; any other error (OSError, TimeoutError, http.client.HTTPException):
    this attempt failed."""
    deadline = time.monotonic() + timeout
    target = parse(url)
    addresses = resolve(target, allow_private)
    last: OSError = OSError("no address answered")
    for family, kind, proto, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        watch = deadlines.watch(sock, deadline)
        try:
            sock.settimeout(_left(deadline, timeout))
            sock.connect(sockaddr)
            _raise_if_cut(watch, timeout)  # a shutdown does not stop a connect under way: asked here
        except OSError as exc:
            deadlines.forget(watch)
            sock.close()
            _raise_if_cut(watch, timeout)
            last = exc
            continue
        except Interrupted:
            deadlines.forget(watch)
            sock.close()
            raise
        return _exchange(target, sock, watch, body, headers, deadlines, deadline, timeout)
    raise last


def _exchange(
    target: Target,
    sock: socket.socket,
    watch: _Watch,
    body: bytes,
    headers: Mapping[str, str],
    deadlines: Deadlines,
    deadline: float,
    timeout: float,
) -> Answer:
    """The request and the start of the answer on a connected socket, which is closed after."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        if target.https:
            context = ssl.create_default_context()
            tls = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
            deadlines.forget(watch)
            watch = deadlines.watch(tls, deadline)
            sock = tls
            tls.do_handshake()
        sock.settimeout(_left(deadline, timeout))
        conn.sock = sock
        sent = {"Host": target.host_header, "User-Agent": USER_AGENT, **headers}
        if target.authorization:
            sent["Authorization"] = target.authorization
        conn.request("POST", target.path, body=body, headers=sent)
        response = conn.getresponse()
        _raise_if_cut(watch, timeout)  # its headers ended because the socket was shut down: no answer
        location = response.getheader("Location") or ""
        answer = Answer(response.status, response.reason, location, response.read(ANSWER_CAP))
    except (OSError, http.client.HTTPException, ValueError):
        _raise_if_cut(watch, timeout)
        raise
    finally:
        deadlines.forget(watch)
        conn.close()
        sock.close()
    return answer  # a status was read: what the receiver said counts, even if its body was cut short


def _left(deadline: float, timeout: float) -> float:
    return max(0.001, min(timeout, deadline - time.monotonic()))


def _raise_if_cut(watch: _Watch, timeout: float) -> None:
    """What a socket shut down under the attempt means: the server stops, or the time ran out."""
    if watch.aborted:
        raise Interrupted("the server stopped during the attempt")
    if watch.expired:
        raise TimeoutError(f"no complete answer within {timeout:g} s ([jobs] webhook_timeout)")
