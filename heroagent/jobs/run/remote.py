"""A `heroagent worker` process: a worker pool wired to a HeroAgent's Redis, here or on another machine.

The pool is the server's own `WorkerPool`; what differs is its wiring, kept here (not in the CLI): it
reaches Redis by URL, files its jobs' log lines in Redis (`RedisLogSink`: the server files them into
the history), runs scripts from a local copy of the share, and registers the actors of `modules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.joblog import RedisLogSink
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.run.actors import import_modules
from heroagent.jobs.run.builtin_actors import make_registry
from heroagent.jobs.run.executor import JobExecutor
from heroagent.jobs.run.worker import WorkerPool
from heroagent.redis_connect import RedisTarget


def remote_pool(
    config: Config,
    url: str | None,
    *,
    topics: Sequence[str] | None = None,
    concurrency: int | None = None,
    share: Path | None = None,
    modules: Sequence[str] = (),
    name: str | None = None,
) -> WorkerPool:
    """A pool (not started) on the Redis at `url` (None: the one `config` names, by url or sentinels), with
    `[jobs]` of `config` and the actors of `[jobs] modules` and `modules`; ServiceError naming where
    (without its password) when Redis does not answer."""
    import_modules([*config.jobs.modules, *modules])
    # The config's [redis] tls_* apply to the URL given (--redis), when it is a rediss:// one.
    target = RedisTarget.of(config, url)
    client = target.client()
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise ServiceError("worker", f"{target.unreachable(exc)}; or pass --redis URL") from None
    share_root = share or (config.webdav_root if config.webdav_root.exists() else None)
    return WorkerPool.from_config(
        JobQueue(client, RetryPolicy.from_config(config.jobs), durability=Durability.of(config)),
        JobExecutor(make_registry(), share_root, config.jobs),
        RedisLogSink(client),
        config.jobs,
        topics=topics,
        concurrency=concurrency,
        name=name,
    )
