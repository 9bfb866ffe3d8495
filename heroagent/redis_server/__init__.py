"""Redis for the appliance: the embedded server we supervise, or an external one given by URL."""

from __future__ import annotations

from typing import Protocol

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.redis_cluster import cluster_problem
from heroagent.redis_connect import (
    NO_ANSWER_JOIN,
    REDIS_AWAY,
    REQUEST_TIMEOUT,
    RedisTarget,
    answers,
    request_options,
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
    """A Redis we do not run (by url, or the master of `[redis] sentinels`): start only checks it answers."""

    def __init__(self, config: Config) -> None:
        self.target = RedisTarget.of(config)
        self.url = self.target.url  # "" with sentinels: a client asks them (`client`)
        self.password = self.target.password or None

    @property
    def display_url(self) -> str:
        """Where, without the password, for banners, pages and errors."""
        return self.target.display

    def client(self, **kwargs: object) -> redis.Redis:
        return self.target.client(**kwargs)

    def preflight(self) -> None:
        """Nothing to check before start: the URL was checked with the config."""

    def start(self) -> None:
        client = self.client(socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
            problem = cluster_problem(client, bool(self.target.hash_tag))
        except redis.RedisError as exc:
            raise ServiceError("redis", self.target.unreachable(exc)) from None
        finally:
            client.close()
        if problem:
            raise ServiceError("redis", f"{self.target.display}: {problem}")

    def stop(self) -> None:
        """Nothing to stop: the server is not ours."""


def make_redis(config: Config) -> EmbeddedRedis | ExternalRedis:
    return ExternalRedis(config) if config.redis.external else EmbeddedRedis(config)


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
