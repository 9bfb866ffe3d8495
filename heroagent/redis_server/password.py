"""The embedded Redis's password: `[redis] password` if set, else one generated at the first start.

Redis on loopback is still reachable by every local user, and `CONFIG SET dir` + `SAVE` would let any
of them write files as the server's user, so the embedded Redis always has a password. The generated
one lives in `<data_dir>/redis/password` (mode 600, in a mode 700 folder): every local client given
the config (`heroagent job`, `heroagent worker`) reads it there, and so can `redis-cli`:
`redis-cli -a "$(cat <data_dir>/redis/password)"`. It is never printed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from heroagent.config import Config
from heroagent.errors import ServiceError

FILE_NAME = "password"


def password_path(config: Config) -> Path:
    return config.redis_dir / FILE_NAME


def embedded_password(config: Config, *, create: bool) -> str | None:
    """The password of the embedded Redis of `config`; `create` makes one if there is none yet."""
    if config.redis.password:
        return config.redis.password
    path = password_path(config)
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        raise ServiceError("redis", f"cannot read the Redis password in {path}: {exc}; fix its permissions") from None
    password = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(FILE_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return password
