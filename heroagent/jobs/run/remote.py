"""A `heroagent worker` process: a worker pool wired to a HeroAgent's Redis, here or on another machine.

The pool is the server's own `WorkerPool`; what differs is its wiring, kept here (not in the CLI): it
reaches Redis by URL, files its jobs' log lines in Redis (`RedisLogSink`: the server files them into
the history), runs scripts from a local copy of the share, and registers the actors of `modules`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from redis.sentinel import MasterNotFoundError

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.jobs.keys import KeyLayout
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.joblog import RedisLogSink
from heroagent.jobs.live.partitions import partition_topics
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.submit import JobDefaults
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.run.actors import import_modules
from heroagent.jobs.run.builtin_actors import make_registry
from heroagent.jobs.run.executor import JobExecutor
from heroagent.jobs.run.worker import WorkerPool
from heroagent.redis_cluster import SlotNotServedError, cluster_problem
from heroagent.redis_connect import RedisTarget

log = logging.getLogger("heroagent.worker")


FAILOVER_WAIT = 30.0  # seconds a worker starting during a failover waits for the new primary


def _ping_through_failover(client: redis.Redis, target: RedisTarget) -> None:
    """PING, waited out while a failover is under way at start (the sentinels name no master yet, or the
    cluster does not serve the slot yet): a fleet's worker started then comes up with the new primary
    instead of exiting. Any other error is raised at once (a wrong address is an error to fix)."""
    deadline = time.monotonic() + FAILOVER_WAIT
    said = False
    failover: redis.RedisError
    while True:
        try:
            client.ping()
            return
        except (MasterNotFoundError, redis.exceptions.ClusterDownError, SlotNotServedError) as exc:
            failover = exc
        if time.monotonic() >= deadline:
            raise failover
        if not said:
            log.warning("worker: %s: a failover seems under way; waiting up to %.0f s", target.display, FAILOVER_WAIT)
            said = True
        time.sleep(0.5)


def remote_pools(
    config: Config,
    url: str | None,
    *,
    topics: Sequence[str] | None = None,
    concurrency: int | None = None,
    share: Path | None = None,
    modules: Sequence[str] = (),
    name: str | None = None,
) -> list[WorkerPool]:
    """The pools (not started) on the Redis at `url` (None: the one `config` names, by url or sentinels), with
    `[jobs]` of `config` and the actors of `[jobs] modules` and `modules`; ServiceError naming where
    (without its password) when Redis does not answer. Its keys are those of `[redis] key_prefix` (the
    server's must be the same); a Redis that holds another layout's jobs and none of this one's is said
    (a warning naming the setting), since the pool would otherwise wait for jobs that never come."""
    import_modules([*config.jobs.modules, *modules])
    layout = KeyLayout.of(config.redis)
    # The config's [redis] tls_* apply to the URL given (--redis), when it is a rediss:// one.
    target = RedisTarget.of(config, url)
    client = target.client()
    try:
        _ping_through_failover(client, target)
        problem = cluster_problem(client, bool(target.hash_tag))
    except redis.RedisError as exc:
        client.close()
        raise ServiceError("worker", f"{target.unreachable(exc)}; or pass --redis URL") from None
    if problem:
        client.close()
        raise ServiceError("worker", f"{target.display}: {problem}")
    share_root = share or (config.webdav_root if config.webdav_root.exists() else None)
    retry, durability = RetryPolicy.from_config(config.jobs), Durability.of(config)
    queue = JobQueue(client, layout, retry, durability=durability)
    try:
        hint = queue.layout_hint()
    except redis.RedisError:
        hint = ""  # a look only: the pool says what is wrong with Redis when it runs
    if hint:
        log.warning("worker: %s", hint)
    published = JobDefaults.read(client, layout) if not hint else None
    problem = published.partitions_problem(config.redis.partitions) if published is not None else ""
    if problem:
        client.close()
        raise ServiceError("worker", problem)
    executor, logs = JobExecutor(make_registry(), share_root, config.jobs), RedisLogSink(client, layout)
    pools = []
    for part_layout, part_topics in partition_topics(KeyLayout.all_of(config.redis), topics or config.jobs.topics):
        part_queue = (
            queue
            if part_layout == layout
            else JobQueue(target.with_tag(part_layout.hash_tag).client(), part_layout, retry, durability=durability)
        )
        pool = WorkerPool.from_config(
            part_queue,
            executor,
            logs,
            config.jobs,
            topics=part_topics,
            concurrency=concurrency,
            name=f"{name}.p{part_layout.PARTITION}" if name and part_layout.PARTITIONS > 1 else name,
        )
        pool.registry_queue = queue  # every pool listed in partition 0 (where the server and clients look)
        pools.append(pool)
    return pools
