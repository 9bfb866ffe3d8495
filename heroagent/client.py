"""JobClient: the JobManager's calls from another process or machine, through the server's Redis.

    from heroagent.client import JobClient
    jobs = JobClient.from_config(load_config("heroagent.toml"))   # or JobClient("redis://host:6379/0")
    job = jobs.create_job("backup", "!!script.run path:scripts/backup.sh")
    print(jobs.wait_for_job(job.job_id, timeout=60).status)

Creating a job, reading a job in flight and waiting for one talk to Redis directly (one Lua script
creates a job, see heroagent/jobs/live/submit.py), so they work while the server is down as long as Redis
is up; the server records them when it is back. Calls that need the history (`list_jobs`,
`get_history`, `retry_job`, ...) go to the running `heroagent serve` (the only writer of the history)
as a request on Redis; if no server answers within `timeout` seconds they raise ServerUnavailableError.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis

from heroagent.config import Config
from heroagent.errors import HeroAgentError, InvalidInputError
from heroagent.jobs.errors import ERRORS, InvalidJobError, JobError, ReplicasBehindError
from heroagent.jobs.keys import KeyLayout
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.jobtypes import PublishedTypes
from heroagent.jobs.live.operations import JobOperations
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.submit import JobDefaults, submit
from heroagent.jobs.live.workers import list_workers, served_topics, set_draining_everywhere
from heroagent.jobs.model import Job
from heroagent.redis_connect import RedisTarget, redis_disk_problem
from heroagent.schema.job import TOPIC_PATTERN
from heroagent.schema.topic import TopicLimits

if TYPE_CHECKING:
    from heroagent.jobs.live.workflows import Workflow  # loaded when a chain or group is made

log = logging.getLogger("heroagent.client")
AUTO_KEY_PREFIX = "client-"  # the idempotency key a create gets when its caller gives none
CREATE_TRIES = 4  # a create whose answer was lost is sent again (same keys) up to this many times in all
CREATE_RETRY_WAIT = 0.5  # seconds before the second try; then twice, three times that
REPLY_GRACE = 5.0  # seconds an answer may take after the request's deadline (a request picked up in time)
DEFAULTS_LOOK_AGAIN = 5.0  # seconds a client uses its own defaults before it looks for a server's again


class ServerUnavailableError(HeroAgentError):
    """No HeroAgent server answered on that Redis."""


class JobClient(JobOperations):
    """The job system's operations (`JobOperations`) from another process: those done in Redis here, the
    others asked of the server (`call`)."""

    def __init__(
        self,
        url: str | RedisTarget,
        *,
        timeout: float = 10.0,
        defaults: JobDefaults | None = None,
        tls: Mapping[str, Any] | None = None,
        durability: Durability | None = None,
        key_prefix: str = "",
        cluster: bool = False,
        partitions: int = 1,
    ) -> None:
        """`url`: a Redis URL, or a `RedisTarget` (a URL or sentinels; `from_config` makes it from the
        config). `tls`: redis-py's ssl_* options for a rediss:// url. `durability`: the replicas a create
        waits for (`[redis] min_replicas`; a server's published setting is followed when higher).
        `key_prefix`: the server's `[redis] key_prefix` (its keys are the only ones this client reads and
        writes); InvalidInputError when it breaks the rule of config.key_prefix_problem. `cluster`: `url` is a
        node of a Redis Cluster (`[redis] cluster`; a RedisTarget says so itself), and `partitions` its
        `[redis] partitions`."""
        if isinstance(url, RedisTarget):
            cluster = cluster or bool(url.hash_tag)
        layouts = KeyLayout.every_partition(key_prefix, cluster=cluster, partitions=partitions)
        self.layout = layouts[0]
        target = (
            url
            if isinstance(url, RedisTarget)
            else RedisTarget(url=url, tls=dict(tls or {}), hash_tag=self.layout.hash_tag)
        )
        self.target = target
        self.url = target.url
        self.timeout = timeout
        # The read timeout must outlast the longest wait for an answer (redis-py's default gives up at ~5 s).
        options = {"socket_connect_timeout": 5, "socket_timeout": timeout + REPLY_GRACE + 5}
        self.redis = target.client(**options)
        more = [  # [redis] partitions: a client pinned to each other partition's slot
            JobQueue(target.with_tag(layout.hash_tag).client(**options), layout, durability=durability)
            for layout in layouts[1:]
        ]
        self.queue = JobQueue(self.redis, self.layout, durability=durability)
        if more:  # loaded only then: a client stays light (tests/test_layers.py)
            from heroagent.jobs.live.partitions import PartitionedQueue

            self.queue = PartitionedQueue([self.queue, *more])
        # the live pools' job types, which new jobs are checked against
        self.types = PublishedTypes(self.redis, self.layout)
        self._fallback_defaults = defaults or JobDefaults()
        self._defaults: JobDefaults | None = None
        self._own_defaults_until = 0.0  # monotonic: no server had published defaults when last looked

    @classmethod
    def from_config(cls, config: Config, *, timeout: float = 10.0) -> JobClient:
        return cls(
            RedisTarget.of(config),
            timeout=timeout,
            defaults=JobDefaults.from_config(config.jobs, config.job_types),
            durability=Durability.of(config),
            key_prefix=config.redis.key_prefix,
            partitions=config.redis.partitions,
        )

    @property
    def where(self) -> str:
        """The Redis address without its password, for messages."""
        return self.target.display

    def defaults(self) -> JobDefaults:
        """The `[jobs]` defaults the server published in Redis (read once), else this client's own (and
        Redis is asked again only after DEFAULTS_LOOK_AGAIN: not one extra round trip per create)."""
        if self._defaults is None:
            if time.monotonic() < self._own_defaults_until:
                return self._fallback_defaults
            published = self._redis_call(JobDefaults.read, self.redis, self.layout)
            if published is None:
                self._own_defaults_until = time.monotonic() + DEFAULTS_LOOK_AGAIN
                return self._fallback_defaults
            problem = published.partitions_problem(len(self.queue.partitions()))
            if problem:
                raise InvalidInputError(problem)
            self._defaults = published
            # the server's [redis] min_replicas, when stricter than ours
            self.queue.raise_durability(Durability(published.min_replicas, published.replica_timeout))
        return self._defaults

    def _redis_call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise ServerUnavailableError(
                redis_disk_problem(exc) or f"cannot reach Redis at {self.where}: {exc}"
            ) from None

    def close(self) -> None:
        for part in self.queue.partitions()[1:]:
            part.client.close()
        self.redis.close()

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        """Ask the server; ServerUnavailableError if no server picks the request up within `timeout`.

        The request carries a deadline in Redis's clock (`timeout` from now): a server that picks it up
        later drops it instead of running it, so a call that gave up (timed out, or was killed) is never
        done behind the caller's back. An answer may take REPLY_GRACE beyond the deadline."""
        request_id = uuid.uuid4().hex
        where = self.where
        try:
            seconds, micros = self.redis.time()
            deadline = seconds + micros / 1e6 + self.timeout
            request = json.dumps(
                {"id": request_id, "op": op, "args": list(args), "kwargs": kwargs, "deadline": deadline}
            )
            self.redis.rpush(self.layout.RPC_REQUESTS, request)
            reply: Any = self.redis.blpop([self.layout.rpc_reply(request_id)], timeout=self.timeout + REPLY_GRACE)
        except redis.RedisError as exc:
            raise ServerUnavailableError(
                f"cannot reach Redis at {where}: {exc}; is `heroagent serve` running?"
            ) from None
        if reply is None:
            self.redis.lrem(self.layout.RPC_REQUESTS, 1, request)
            try:
                hint = self.queue.layout_hint()  # started with the wrong [redis] key_prefix?
            except redis.RedisError:
                hint = ""
            prefixed = f" (key prefix {self.layout.prefix!r})" if self.layout.prefix else ""
            raise ServerUnavailableError(
                f"no HeroAgent server answered on {where}{prefixed} within {self.timeout:g}s; is `heroagent serve` "
                "running with the same config?" + (f" {hint}" if hint else "")
            )
        answer = json.loads(reply[1])
        if not answer.get("ok"):
            raise ERRORS.get(answer.get("kind", ""), JobError)(answer.get("error", "request failed"))
        return answer.get("result")

    # The operations done in Redis (the others are JobOperations': requests to the server) ---------

    def create_job(self, topic: str | None, params: str | Mapping[str, Any], **options: Any) -> Job:
        """Create a job straight in Redis (no server needed); options as for JobManager.create_job."""
        return self.submit([{"topic": topic, "params": params, **options}])[0][0]

    def create_jobs(self, specs: Iterable[Mapping[str, Any]]) -> list[Job]:
        return [job for job, _ in self.submit(specs)]

    def submit(self, specs: Iterable[Mapping[str, Any]]) -> list[tuple[Job, bool]]:
        """Create jobs, all or none, in one Redis call; per spec (the job, created now? False: an earlier
        job with the same idempotency key).

        A create whose answer was lost (a timeout, a connection closed mid-call) may still have been made,
        so it is sent again: each spec without an idempotency key gets one (`client-<uuid>`), and the
        retries reuse it, so they never make a second job. ServerUnavailableError after CREATE_TRIES says
        whether the jobs may exist."""
        given = [{k: v for k, v in spec.items() if v is not None} for spec in specs]
        ours = set()
        for i, spec in enumerate(given):
            if not spec.get("idempotency_key"):
                spec["idempotency_key"] = f"{AUTO_KEY_PREFIX}{uuid.uuid4().hex}"
                ours.add(i)
        for attempt in range(1, CREATE_TRIES + 1):
            try:
                answers = submit(self.queue, given, self.defaults(), self.get_job, self.types.get())
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if attempt == CREATE_TRIES:
                    problem = (
                        str(exc)
                        if isinstance(exc, ReplicasBehindError)
                        else f"cannot reach Redis at {self.where}: {exc}"
                    )
                    raise ServerUnavailableError(
                        f"{problem}; after {CREATE_TRIES} tries the jobs may or may not have been made: send them "
                        "again with the same idempotency_key(s) to find out"
                    ) from None
                log.warning("jobs: a create was not acknowledged (%s); sending it again with its idempotency key", exc)
                time.sleep(CREATE_RETRY_WAIT * attempt)
                continue
            except redis.RedisError as exc:
                raise ServerUnavailableError(
                    redis_disk_problem(exc) or f"cannot reach Redis at {self.where}: {exc}"
                ) from None
            # A key of ours that names an earlier job: that job is the one an earlier try of this call made.
            return [(job, created or i in ours) for i, (job, created) in enumerate(answers)]
        raise AssertionError("unreachable")

    def chain(self, specs: Sequence[Mapping[str, Any]], *, group: str | None = None) -> Workflow:
        """Jobs that run one after the other, straight in Redis (see JobManager.chain)."""
        from heroagent.jobs.live.workflows import make_chain

        return make_chain(self.submit, specs, group)

    def group(
        self,
        specs: Sequence[Mapping[str, Any]],
        *,
        on_complete: Mapping[str, Any] | None = None,
        group: str | None = None,
    ) -> Workflow:
        """Jobs side by side and a callback when all have ended, straight in Redis (see JobManager.group)."""
        from heroagent.jobs.live.workflows import make_group

        return make_group(self.submit, specs, on_complete, group)

    def get_job(self, job_id: int) -> Job:
        """The live state from Redis while the job is in flight (no server needed), else the history's."""
        live = self._redis_call(self.queue.get_by_id, job_id)
        if live is not None:
            return live  # type: ignore[no-any-return]
        return Job.from_dict(self.call("get_job", job_id))

    def list_workers(self) -> list[dict[str, str]]:
        """Every worker pool that reported recently (see JobManager.list_workers); straight in Redis."""
        return self._redis_call(list_workers, self.redis, self.layout)  # type: ignore[no-any-return]

    def drain_worker(self, worker_id: str) -> dict[str, str]:
        """Ask a worker pool to drain (see JobManager.drain_worker); straight in Redis."""
        return self._redis_call(set_draining_everywhere, self.queue, worker_id, True)  # type: ignore[no-any-return]

    def resume_worker(self, worker_id: str) -> dict[str, str]:
        return self._redis_call(set_draining_everywhere, self.queue, worker_id, False)  # type: ignore[no-any-return]

    def set_topic_limits(
        self, topic: str, *, max_running: int | None = None, rate: str | None = None, create: bool = False
    ) -> dict[str, Any]:
        """A topic's limits over every worker (see JobManager.set_topic_limits), set in Redis directly:
        no server needed. Both None = no limits. Returns them as stored. A topic Redis does not know (no job,
        pause, drain, limits, nor a worker serving it by name) is refused unless `create`: without the
        server, the history's topics are not asked."""
        if not re.fullmatch(TOPIC_PATTERN, topic):
            raise InvalidJobError(f"topic: {topic[:80]!r} may only contain letters, digits, '_', '.' and '-' (1-128)")
        try:
            limits = TopicLimits.check({"max_running": max_running, "rate": rate}, f"topic {topic}")
        except InvalidInputError as exc:
            raise InvalidJobError(str(exc)) from None
        if not create and not self._redis_call(self._known_in_redis, topic):
            raise self.queue.unknown_topic(topic, "limit", "set_topic_limits")
        self._redis_call(self.queue.set_limits, topic, limits)
        return {"topic": topic, **limits.to_dict()}

    def _known_in_redis(self, topic: str) -> bool:
        return self.queue.known_topic(topic) or topic in served_topics(self.redis, self.layout)

    def topic_limits(self) -> dict[str, dict[str, Any]]:
        """Topic -> {max_running, rate} for every topic that has limits (read from Redis)."""
        found = self._redis_call(self.queue.limits)
        return {topic: limits.to_dict() for topic, limits in found.items()}

    def wait_for_job(self, job_id: int, timeout: float | None = None, poll: float = 5.0) -> Job:
        """Wait until the job has ended (done, error, canceled); return it. TimeoutError after `timeout` s.

        Not polling: the script that ends a job publishes the final job on `hero:done:<id>` (its JSON, or
        its status when the job is large), and this wakes on that message, subscribed before the first
        look so none is missed. The final state is then durable in Redis; the history records it
        milliseconds later (`get_history` shows it either way). `poll` is only how often it looks
        anyway, in case a message was lost with a Redis restart."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.queue.of_id(job_id).layout.job_done(job_id))
            while True:
                job = self.get_job(job_id)  # Redis while in flight, else the history (through the server)
                if job.terminal:
                    return job
                while True:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError(
                            f"job {job_id} is still {self.get_job(job_id).status.value} after {timeout}s"
                        )
                    message = pubsub.get_message(timeout=poll if remaining is None else min(poll, remaining))
                    if message is None:
                        break  # look again
                    data = message.get("data")
                    if isinstance(data, bytes) and data.startswith(b"{"):
                        return Job.from_json(data)
                    break  # a large job: read it
        except redis.RedisError as exc:
            raise ServerUnavailableError(f"lost Redis while waiting for job {job_id}: {exc}") from None
        finally:
            pubsub.close()
