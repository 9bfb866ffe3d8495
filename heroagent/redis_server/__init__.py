"""Redis for the appliance: the embedded server we supervise, or an external one given by URL."""

from __future__ import annotations

from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.redaction import redacted
from heroagent.redis_server.embedded import EmbeddedRedis


class RedisService(Protocol):
    """What the rest of HeroAgent needs from Redis, whichever kind it is."""

    url: str

    def preflight(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def client(self, **kwargs: object) -> redis.Redis: ...


class ExternalRedis:
    """A Redis we do not run: start only checks it answers."""

    def __init__(self, config: Config) -> None:
        self.url = config.redis.url
        self.password = config.redis.password or None

    @property
    def display_url(self) -> str:
        """The URL without the password, for banners, pages and errors."""
        return redacted(self.url)

    def client(self, **kwargs: object) -> redis.Redis:
        extra = {"password": self.password} if self.password else {}
        return redis.Redis.from_url(self.url, **extra, **kwargs)  # type: ignore[arg-type]

    def preflight(self) -> None:
        """Nothing to check before start: the URL was checked with the config."""

    def start(self) -> None:
        client = self.client(socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceError(
                "redis", f"cannot reach the Redis at [redis] url = {self.display_url!r}: {exc}"
            ) from None
        finally:
            client.close()

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


REQUEST_TIMEOUT = 2.0  # seconds a Redis call on a request path may take before it is a 503


def request_options() -> dict[str, object]:
    """Client options for calls someone waits on (API, pages, health, the manager's loops): give up after
    REQUEST_TIMEOUT, once. redis-py's default retries a timed-out call three times with backoff, which
    made a stalled Redis hang health for 26 s."""
    return {
        "socket_timeout": REQUEST_TIMEOUT,
        "socket_connect_timeout": REQUEST_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
    }


# Errors that say Redis is away (down, restarting, stalled, loading its data), not that a call was wrong.
REDIS_AWAY: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

# Seconds a stop without Redis (it did not answer) waits for a thread that may wait on Redis: one that can
# end does within it; one that cannot is a daemon, and ends when its call does.
NO_ANSWER_JOIN = 1.0


def answers(client: redis.Redis, timeout: float = REQUEST_TIMEOUT) -> bool:
    """Whether the Redis behind `client` answers a PING within `timeout`, asked on a connection of its
    own: the client's connections may wait in a call with no timeout (a BLPOP) behind a stalled server.
    A stop asks this once and, if not, stops without Redis instead of hanging in its first call to it."""
    pool = client.connection_pool
    probe = pool.connection_class(
        **{**pool.connection_kwargs, **request_options(), "socket_timeout": timeout, "socket_connect_timeout": timeout}
    )
    try:
        probe.send_command("PING")
        return bool(probe.read_response())
    except (redis.RedisError, OSError):
        return False
    finally:
        probe.disconnect()


def make_redis(config: Config) -> EmbeddedRedis | ExternalRedis:
    return ExternalRedis(config) if config.redis.url else EmbeddedRedis(config)


__all__ = [
    "NO_ANSWER_JOIN",
    "REDIS_AWAY",
    "REQUEST_TIMEOUT",
    "EmbeddedRedis",
    "ExternalRedis",
    "RedisService",
    "answers",
    "make_redis",
    "request_options",
]
