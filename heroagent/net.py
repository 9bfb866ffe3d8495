"""Address checks shared by every service: is a host loopback, is a port free, does a socket path fit."""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

from heroagent.errors import ServiceError

# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; wildcard and any other address are not loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port_free(service: str, host: str, port: int, setting: str) -> None:
    """Raise a ServiceError naming the setting to change if something already listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServiceError(
                    service,
                    f"port {port} on {host} is already in use by another program; "
                    f"set {setting} to a free port or stop that program",
                ) from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                raise ServiceError(
                    service,
                    f"cannot listen on {host}: no such address on this machine; check the host setting",
                ) from None
            if exc.errno == errno.EACCES:
                raise ServiceError(
                    service,
                    f"not allowed to listen on port {port} (ports below 1024 need root); set {setting}",
                ) from None
            raise


def check_unix_socket_path(service: str, path: Path, setting: str) -> None:
    length = len(str(path).encode())
    if length > MAX_UNIX_SOCKET_PATH:
        raise ServiceError(
            service,
            f"Unix socket path {path} is {length} bytes long; the limit is {MAX_UNIX_SOCKET_PATH}. "
            f"Set {setting} to a shorter path (or use a shorter data_dir)",
        )
