"""Redis for the appliance: the embedded server we supervise, or an external one given by URL."""

from __future__ import annotations

from typing import Protocol

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.redaction import redacted
from heroagent.redis_connect import (
    NO_ANSWER_JOIN,
    REDIS_AWAY,
    REQUEST_TIMEOUT,
    answers,
    request_options,
    tls_hint,
    tls_options,
)
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
        self.tls = tls_options(config)  # [redis] tls_* for a rediss:// url

    @property
    def display_url(self) -> str:
        """The URL without the password, for banners, pages and errors."""
        return redacted(self.url)

    def client(self, **kwargs: object) -> redis.Redis:
        extra: dict[str, object] = {"password": self.password} if self.password else {}
        return redis.Redis.from_url(self.url, **self.tls, **extra, **kwargs)

    def preflight(self) -> None:
        """Nothing to check before start: the URL was checked with the config."""

    def start(self) -> None:
        client = self.client(socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceError(
                "redis", f"cannot reach the Redis at [redis] url = {self.display_url!r}: {exc}{tls_hint(exc)}"
            ) from None
        finally:
            client.close()

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


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
