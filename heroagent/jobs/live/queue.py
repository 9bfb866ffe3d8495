"""The reliable queue: creating a job and every state change of it in Redis is one Lua script (one
round trip, atomic; the scripts are in lua/*.lua, see scripts.py).

Each script that creates or changes a job also appends the job's full state to the `hero:events`
stream, which the server's recorder writes to OurDB. So a job or a transition is never in Redis without
being on its way to the history, and creators and remote workers need no access to OurDB. Key names
come from the queue's `layout` (keys.KeyLayout: `[redis] key_prefix`), for the scripts too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from heroagent.jobs import fastjson, keys
from heroagent.jobs.errors import (
    ForeignLayoutError,
    IdempotencyKeyConflictError,
    InvalidJobError,
    JobIdsNotSeededError,
    ParentsGoneError,
    ReplicasBehindError,
    TopicDrainingError,
    TopicNotFoundError,
)
from heroagent.jobs.live import scripts
from heroagent.jobs.live.direct import DirectCalls, Durability
from heroagent.jobs.model import Job, JobStatus, hash_fields
from heroagent.jobs.retry import RetryPolicy
from heroagent.schema.topic import TopicLimits

# How long a worker's wait to be handed a job outlives its BLPOP (clocks and scheduling differ a little).
# A registration that ends first costs nothing: the worker is then only not handed a job. A worker
# killed while it waited can be handed one job until then; the job is leased to it, and the reaper
# queues it again when the lease runs out. So: short.
TAKER_GRACE = 0.05
# Events `unrecorded` looks at, at most (from the newest back): the stream holds the last moments only
# (the recorder deletes what it recorded) unless the recorder is far behind; a timeline then shows the
# states it finds in these. A look at 2,000 events costs Redis a few milliseconds.
UNRECORDED_SCAN = 2_000
# Keys a look for other key layouts' keys walks at most (`other_layouts`: only when no server records this
# layout, to say a process may have the wrong [redis] key_prefix; at a worker's start and in errors).
LAYOUT_SCAN = 10_000


log = logging.getLogger(__name__)
_TERMINAL = frozenset(status.value for status in JobStatus if status.terminal)


class JobQueue:
    """Redis side of the job system: enqueue, claim, transition, heartbeat, reap, cancel."""

    def __init__(
        self,
        client: redis.Redis,
        layout: keys.KeyLayout,
        retry: RetryPolicy | None = None,
        *,
        durability: Durability | None = None,
    ) -> None:
        """`layout`: the key names (and key prefix) of the HeroAgent this queue is part of; everything made from
        a queue (the manager, the recorder, a pool...) uses its layout."""
        self.client = client
        self.layout = layout
        self.retry = retry or RetryPolicy()
        # the hot path's calls: create, claim, finish, the wake BLPOP; with `durability`, creates and final
        # states wait for [redis] min_replicas replicas
        self.direct = DirectCalls(client, durability)
        self.replicas_behind_at = 0.0  # time.time() a final state last waited for replicas in vain (health)
        self._behind_log_at = 0.0
        self.foreign_layout: dict[str, str] = {}  # a key another program wrote -> why a create met it (health)
        self._claim = scripts.register(client, "claim", layout)
        self._transition = scripts.register(client, "transition", layout)
        self._heartbeat = scripts.register(client, "heartbeat", layout)
        self._reap = scripts.register(client, "reap", layout)
        self._cancel = scripts.register(client, "cancel", layout)
        self._finish_and_claim = scripts.register(client, "finish_and_claim", layout)
        self._recorded = scripts.register(client, "recorded", layout)
        self._promote = scripts.register(client, "promote", layout)
        self._sweep_jobs = scripts.register(client, "sweep_jobs", layout)
        self._sweep_set = scripts.register(client, "sweep_set", layout)
        self._create = scripts.register(client, "create", layout)
        self._seed = scripts.register(client, "seed", layout)
        self._clear_topic = scripts.register(client, "clear_topic", layout)
        self._progress = scripts.register(client, "progress", layout)
        self._upgrade_queue = scripts.register(client, "upgrade_queue", layout)
        self._register_taker = scripts.register(client, "register_taker", layout)
        self._unrecorded = scripts.register(client, "unrecorded", layout)
        self._set_limits = scripts.register(client, "set_limits", layout)
        self._forget_keys = scripts.register(client, "forget_keys", layout)
        self._remove_topic = scripts.register(client, "remove_topic", layout)
        self._restore_waiting = scripts.register(client, "restore_waiting", layout)

    # Without [redis] partitions a queue is its only partition (partitions.PartitionedQueue spreads them).
    def of_topic(self, topic: str) -> JobQueue:
        """The queue of the partition `topic` is in."""
        return self

    def of_id(self, job_id: int) -> JobQueue:
        """The queue of the partition that handed out `job_id`."""
        return self

    def partitions(self) -> list[JobQueue]:
        """The queue of every partition."""
        return [self]

    def raise_durability(self, other: Durability) -> None:
        """Wait for as many replicas as `other` asks, when that is more than this queue's own setting."""
        self.direct.durability = self.direct.durability.at_least(other)

    def parent_outcomes(self, job_id: int) -> dict[int, tuple[str, str, str]]:
        """How each job `job_id` depends on ended: parent id -> (status, result text, result type)."""
        raw: Any = self.client.hgetall(self.layout.parents(job_id))
        out: dict[int, tuple[str, str, str]] = {}
        for parent, outcome in raw.items():
            try:
                doc = json.loads(outcome)
                out[int(parent)] = (str(doc["status"]), str(doc.get("result", "")), str(doc.get("result_type", "")))
            except (ValueError, KeyError, TypeError):
                continue  # not written by create.lua / common.lua: not an outcome
        return out

    def create(
        self,
        jobs: Sequence[Job],
        idempotency_window: float,
        parents: Sequence[Sequence[tuple[int | str, str]]] | None = None,
    ) -> list[tuple[int, bool]]:
        """Create these jobs in one atomic call (see lua/create.lua); per job (its id, created now?).

        False: an earlier job had the same idempotency key within the window, and its id is given.
        The jobs' own `job_id` is ignored. JobIdsNotSeededError when Redis has no id counter (emptied,
        or never served by a HeroAgent server): only the server, which has the history, can seed it.
        `parents`, per job: the jobs it depends on (an id, or '@N' for the Nth job of this call) with how
        each ended as JSON when read from the history ('' = in Redis). ParentsGoneError names the ids
        that are in neither; a created job with parents gets its status and depends_on from the script."""
        now = time.time()
        args: list[Any] = [max(1, math.ceil(idempotency_window * 1000)), len(jobs)]
        for index, job in enumerate(jobs):
            if job.status is not JobStatus.NEW or job.attempts:
                raise ValueError(f"a new job is created new, never run: got status {job.status.value}")
            doc = job.to_dict()
            del doc["jobid"]
            doc["version"] = 1  # its first state
            tail = fastjson.dumps(doc)[1:]  # the id goes in front
            flat = _flatten(_sparse(hash_fields(doc)))
            due = math.ceil(job.time_scheduled * 1000) if job.time_scheduled > now else 0
            fingerprint = fingerprint_of(job) if job.idempotency_key else ""
            args += [job.topic, job.idempotency_key, fingerprint, due, tail, "1" if job.log else "0", len(flat), *flat]
            given = parents[index] if parents else ()
            args.append(len(given))
            for ref, known in given:
                args += [ref, known]
        try:
            replies: Any = self.direct.replicated(self._create, "the create", args=args)
        except ReplicasBehindError:
            self.replicas_behind_at = time.time()
            raise
        except redis.ResponseError as exc:
            refused = self._refusal(exc, jobs)
            if refused is None:
                raise
            raise refused from None
        if self.foreign_layout:  # a queue an outside program had written works again: health says no more
            for job in jobs:
                self.foreign_layout.pop(self.layout.queue(job.topic), None)
        out: list[tuple[int, bool]] = []
        for job, reply in zip(jobs, replies, strict=True):
            out.append((int(reply[0]), bool(int(reply[1]))))
            if len(reply) > 2:  # created with parents: the status they gave it, and their ids
                job.status = JobStatus(_text(reply[2]))
                job.depends_on = tuple(int(part) for part in _text(reply[3]).split(",") if part)
        return out

    def _refusal(self, exc: redis.ResponseError, jobs: Sequence[Job]) -> Exception | None:
        """The error a create script's refusal means (None: not one of its refusals)."""
        if str(exc).startswith("DRAINING"):
            topic = str(exc).split(" ", 1)[1]
            return TopicDrainingError(
                f"topic {topic} is draining: it takes no new jobs (the queued ones still run) until it is "
                "resumed; nothing was created"
            )
        if str(exc).startswith("KEYCONFLICT"):
            _, first, key = str(exc).split(" ", 2)
            named = f"job {first} was created with it" if first != "0" else "an earlier job of this call has it"
            return IdempotencyKeyConflictError(
                f"idempotency_key {key[:200]!r}: {named} from another topic or other params; a key names one "
                "job: nothing was created (use a new key for a new job)"
            )
        if "WRONGTYPE" in str(exc):
            return self._foreign_layout({job.topic for job in jobs})
        if str(exc).startswith("PARENTGONE"):
            return ParentsGoneError([int(part) for part in str(exc).split()[1:]])
        if str(exc).startswith("BADREF"):
            _, ref, index = str(exc).split()
            return InvalidJobError(
                f"depends_on: {ref} of job #{index} of this call is not an earlier job of the call ('@N' names "
                "the Nth job, from @0, and only one before it: a job cannot wait for itself or a later one)"
            )
        if str(exc).startswith("NOSEED"):
            try:
                hint = self.layout_hint()
            except redis.RedisError:
                hint = ""  # a look only: the refusal is what to say
            return JobIdsNotSeededError(
                f"Redis has no job id counter ({self.layout.JOB_ID_COUNTER}): it was emptied or has never been "
                "served by HeroAgent; the server seeds it from the history at start and within a second "
                "of Redis losing its data, so start `heroagent serve` (or wait a second) and try again"
                + (f"; {hint}" if hint else "")
            )
        return None

    def _foreign_layout(self, topics: set[str]) -> ForeignLayoutError:
        """Why a create met a key of the wrong type: which queue, what it holds, what to do."""
        named = self.layout
        for topic in sorted(topics):
            queue = named.queue(topic)
            found = _text(self.client.type(queue))
            if found not in ("zset", "none"):
                message = (
                    f"{queue} holds a {found}, not HeroAgent's queue (a sorted set by priority): another program "
                    f"wrote it (a HeroJobs-style producer's LPUSH {queue} <id>?); nothing was created. HeroAgent "
                    f"keeps its own layout under {named.queue('*')} and {named.PREFIX_JOB}:*: create jobs through "
                    "HeroAgent (the API, JobClient, heroagent job submit) or the hero queue layout ([hero] enabled: "
                    f"LPUSH {named.hero_work('<type>')}), and move that key away (redis-cli RENAME {queue} "
                    f"{queue}.foreign)"
                )
                log.warning("jobs: %s", message)
                self.foreign_layout[queue] = message
                return ForeignLayoutError(message)
        return ForeignLayoutError("a key of the job system holds another kind of value (WRONGTYPE); nothing made")

    def other_layouts(self, unprefixed: str) -> set[str]:
        """The key prefixes ('' = none) of the other layouts that have the key `unprefixed` names (in the
        unprefixed layout) in this Redis, from a look at up to LAYOUT_SCAN keys (none when this Redis user may
        not SCAN)."""
        found: set[str] = set()
        cursor, looked = 0, 0
        try:
            while True:
                cursor, batch = self.client.scan(cursor, match=keys.every_layout_pattern(unprefixed), count=1000)
                for key in batch:
                    prefix = keys.prefix_of(_text(key), unprefixed)
                    if prefix is not None and prefix != self.layout.prefix:
                        found.add(prefix)
                looked += 1000
                if not cursor or looked >= LAYOUT_SCAN:
                    break
        except redis.ResponseError:  # NOPERM: a user kept to its prefix may not look at others' keys
            return set()
        return found

    def layout_hint(self) -> str:
        """Why this process may see no jobs and no server: a process started with the wrong [redis] key_prefix.
        Said when no server records this layout (its history lease is not held) while another layout has a
        server, or, this layout having no job id counter, another layout has one. '' when not so (or when
        this Redis user may not look)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(self.layout.JOB_ID_COUNTER)
        pipe.exists(self.layout.HISTORY_LEASE)
        has_ids, served = pipe.execute()
        if served:
            return ""
        plain = keys.KeyLayout()
        others = self.other_layouts(plain.HISTORY_LEASE)
        what = f"a HeroAgent server records another key layout ({_layouts(others)}) and none this one"
        if not others and not has_ids:
            others = self.other_layouts(plain.JOB_ID_COUNTER)
            what = f"this Redis holds the jobs of another key layout ({_layouts(others)}) and none of this one"
        if not others:
            return ""
        return (
            f"{what} ({self.layout.described}): is [redis] key_prefix right? (HEROAGENT_REDIS_KEY_PREFIX, "
            "heroagent worker --key-prefix, JobClient(key_prefix=...))"
        )

    # ------------------------------------------------------------ topic control

    def pause(self, topic: str) -> None:
        """Queued jobs of the topic wait (running ones finish); persisted in Redis."""
        self.client.sadd(self.layout.TOPICS_PAUSED, topic)

    def drain(self, topic: str) -> None:
        """The topic takes no new job (creates fail with TopicDrainingError); its queued jobs still run."""
        self.client.sadd(self.layout.TOPICS_DRAINING, topic)

    def resume(self, topic: str) -> None:
        """Undo pause and drain, and wake the workers for what waited."""
        pipe = self.client.pipeline(transaction=True)
        pipe.srem(self.layout.TOPICS_PAUSED, topic)
        pipe.srem(self.layout.TOPICS_DRAINING, topic)
        pipe.zcard(self.layout.queue(topic))
        pipe.hdel(self.layout.TOPICS_PAUSED_WHY, topic)
        waiting = int(pipe.execute()[2])
        if waiting:
            self.client.rpush(self.layout.wake(topic), *(["1"] * min(waiting, 64)))

    def topic_states(self) -> dict[str, dict[str, bool]]:
        """Topic -> {"paused": ..., "draining": ...} for every topic that is either."""
        pipe = self.client.pipeline(transaction=False)
        pipe.smembers(self.layout.TOPICS_PAUSED)
        pipe.smembers(self.layout.TOPICS_DRAINING)
        paused, draining = ({_text(t) for t in found} for found in pipe.execute())
        return {t: {"paused": t in paused, "draining": t in draining} for t in sorted(paused | draining)}

    def paused_why(self) -> dict[str, str]:
        """Topic -> why it paused itself (pause_on_error), for the topics paused so and not resumed."""
        raw: Any = self.client.hgetall(self.layout.TOPICS_PAUSED_WHY)
        return {_text(topic): _text(why) for topic, why in raw.items()}

    def set_pause_on_error(self, topics: Iterable[str]) -> None:
        """The topics that pause at their first failure after retries ([topics.<name>] pause_on_error),
        replacing what an earlier start wrote."""
        wanted = sorted(topics)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.layout.TOPICS_PAUSE_ON_ERROR)
        if wanted:
            pipe.sadd(self.layout.TOPICS_PAUSE_ON_ERROR, *wanted)
        pipe.execute()

    def unknown_topic(self, topic: str, action: str, method: str) -> TopicNotFoundError:
        """The error for `action` on a topic that has never had a job: how to act on it anyway (`method`: the
        Python call; the limits take PUT on their own resource, the other actions POST)."""
        route = f"PUT /api/queues/{topic}/limits" if action == "limit" else f"POST /api/queues/{topic}/{action}"
        return TopicNotFoundError(
            f"topic {topic!r} has never had a job, so there is nothing to {action} (a typo?); a topic comes into "
            f"being with its first job. To {action} it before that, say so with create=true: {route}?create=true, "
            f"heroagent queue {action} {topic} --create, or {method}({topic!r}, create=True)"
        )

    def known_topic(self, topic: str) -> bool:
        """Whether Redis knows the topic: it has had a job, or is paused, draining, limited or dispatched."""
        pipe = self.client.pipeline(transaction=False)
        for registry in (
            self.layout.TOPICS,
            self.layout.TOPICS_PAUSED,
            self.layout.TOPICS_DRAINING,
            self.layout.TOPICS_LIMITED,
            self.layout.HERO_DISPATCHED,
        ):
            pipe.sismember(registry, topic)
        return any(pipe.execute())

    def remove_topic(self, topic: str) -> dict[str, int]:
        """Forget a topic with nothing left (lua/remove_topic.lua): {queued, running, scheduled, removed}; it is
        removed (1) only when the three counts are 0."""
        reply: Any = self._remove_topic(args=[topic])
        return dict(zip(("queued", "running", "scheduled", "removed"), (int(x) for x in reply), strict=True))

    def clear(self, topic: str, reason: str, *, also_running: bool = False, batch: int = 1000) -> tuple[int, int]:
        """Cancel the topic's jobs that have not started (each recorded as canceled with `reason`); with
        `also_running`, ask its running ones to stop. Returns (canceled, asked to stop). In batches, so
        a long queue does not block Redis in one call."""
        canceled = stopping = 0
        while True:
            args: list[str | int] = [topic, reason, f"{time.time():.3f}", batch, "1" if also_running else "0"]
            reply: Any = self._clear_topic(args=args)
            now, asked, left = (int(x) for x in reply)
            canceled += now
            stopping += asked
            if not left:
                return canceled, stopping

    def upgrade_queues(self) -> int:
        """Turn queues kept as lists (before priorities) into sorted sets; returns the ids moved."""
        return sum(int(self._upgrade_queue(args=[topic])) for topic in self.topics())

    # ------------------------------------------------------------ limits

    def set_limits(self, topic: str, limits: TopicLimits) -> None:
        """Store a topic's limits (none = no limits); the jobs running now count at once."""
        rate_n, rate_ms = (limits.rate.count, limits.rate.period_ms) if limits.rate else ("", "")
        max_running = "" if limits.max_running is None else limits.max_running
        self._set_limits(args=[topic, max_running, rate_n, rate_ms, limits.rate.text if limits.rate else ""])

    def limits(self) -> dict[str, TopicLimits]:
        """Topic -> its limits, for every topic that has some."""
        topics = sorted(_text(t) for t in self.client.smembers(self.layout.TOPICS_LIMITED))
        pipe = self.client.pipeline(transaction=False)
        for topic in topics:
            pipe.hgetall(self.layout.limits(topic))
        found: dict[str, TopicLimits] = {}
        for topic, raw in zip(topics, pipe.execute(), strict=True):
            given = {_text(k): _text(v) for k, v in raw.items()}
            if given:
                found[topic] = TopicLimits.from_stored(given)
        return found

    def seed(self, floor: int) -> int:
        """Raise the job id counter to at least `floor` (never lowers it); returns the counter."""
        return int(self._seed(args=[floor]))

    def topic_of(self, job_id: int) -> str | None:
        """The topic of a job that has a hash in Redis (None = no hash: finished and recorded, or unknown)."""
        topic: Any = self.client.hget(self.layout.JOB_TOPICS, str(job_id))
        return None if topic is None else _text(topic)

    def get_by_id(self, job_id: int) -> Job | None:
        """A job's live state from its id alone (None = Redis has no hash for it)."""
        topic = self.topic_of(job_id)
        return None if topic is None else self.get(topic, job_id)

    def restore_waiting(self, job: Job, parents: Sequence[tuple[int, str]]) -> str:
        """Put a waiting job back from the history (see lua/restore_waiting.lua): `parents` are its parents
        with how each ended as JSON when read from the history ('' = in Redis). Returns the status it has
        now ('' = Redis had it already)."""
        doc = job.to_dict()
        doc["status"] = JobStatus.WAITING.value
        args: list[Any] = [job.topic, job.job_id, job.version, len(parents)]
        for parent, known in parents:
            args += [parent, known]
        args += _flatten(hash_fields(doc))
        return _text(self._restore_waiting(args=args))

    def enqueue(self, jobs: Sequence[Job]) -> None:
        """Store each job's hash and queue its id (or schedule it, if it is due later), in one round trip.
        A job's place in its queue is by priority, then id (a job put back keeps its place)."""
        pipe = self.client.pipeline(transaction=True)  # atomic: the sweep never sees a hash without its queue entry
        now = time.time()
        ready: dict[str, int] = {}
        for job in jobs:
            pipe.hset(self.layout.job(job.topic, job.job_id), mapping=job.to_hash())  # type: ignore[arg-type]
            pipe.hset(self.layout.JOB_TOPICS, str(job.job_id), job.topic)
            if job.time_scheduled > now:
                member = keys.inflight_member(job.topic, job.job_id)
                pipe.zadd(self.layout.SCHEDULED, {member: math.ceil(job.time_scheduled * 1000)})
                ready.setdefault(job.topic, 0)
                continue
            pipe.zadd(self.layout.queue(job.topic), {str(job.job_id): keys.queue_score(job.priority, job.job_id)})
            ready[job.topic] = ready.get(job.topic, 0) + 1
        for topic, count in ready.items():
            pipe.sadd(self.layout.TOPICS, topic)
            if count:
                pipe.rpush(self.layout.wake(topic), *(["1"] * min(count, 64)))
                pipe.ltrim(self.layout.wake(topic), -1000, -1)
        pipe.execute()

    def sweep(self, min_age: float = 60.0, batch: int = 500) -> tuple[dict[str, int], list[tuple[str, int]]]:
        """Repair stray entries: returns counts by outcome, and the (topic, id) of finished jobs' hashes
        (the caller, who knows the history, decides whether those may go)."""
        counts: dict[str, int] = {}
        terminal: list[tuple[str, int]] = []
        hashes: list[str] = []

        def run() -> None:
            outcomes: Any = self._sweep_jobs(keys=hashes, args=[int(time.time() * 1000), int(min_age * 1000)])
            for key, outcome in zip(hashes, outcomes, strict=True):
                word = _text(outcome)
                counts[word] = counts.get(word, 0) + 1
                if word == "terminal":
                    terminal.append(self.layout.parse_job(key))
            hashes.clear()

        for key in self.client.scan_iter(match=self.layout.every_job_pattern(), count=batch):
            hashes.append(key.decode() if isinstance(key, bytes) else str(key))
            if len(hashes) >= batch:
                run()
        if hashes:
            run()
        counts["unleased"] = int(self._sweep_set(args=[self.layout.INFLIGHT]))
        counts["unscheduled"] = int(self._sweep_set(args=[self.layout.SCHEDULED]))
        return counts, terminal

    def promote(self, limit: int = 1000) -> int:
        """Queue the delayed jobs that are due now; returns how many."""
        return int(self._promote(args=[limit]))

    def claim(
        self, topics: Sequence[str], worker_id: str, lease_ms: int, max_jobs: int = 1, *, taker: bool = False
    ) -> list[Job]:
        """Up to `max_jobs` jobs of `topics`, leased to the worker. `taker`: it waited to be handed jobs
        (`wait_for_work`) since it last claimed: what was handed to it comes first, and it waits no more."""
        args = [lease_ms, worker_id, max_jobs, "1" if taker else "0", *topics]
        return _jobs(self.direct.script(self._claim, args=args))

    def leave_takers(self, worker_ids: Sequence[str], topics: Sequence[str]) -> None:
        """Workers that stop leave their topics' takers (a create would drop them when it met them)."""
        if worker_ids and topics:
            pipe = self.client.pipeline(transaction=False)
            for topic in topics:
                pipe.srem(self.layout.takers(topic), *worker_ids)
            pipe.execute()

    def prune_takers(self, alive: Callable[[str], bool]) -> int:
        """Drop from every topic's takers the workers `alive` says are gone and whose registration ended
        (killed while they waited: a create of the topic drops them too, but a topic without creates
        would keep them); returns how many. A live worker's id is left alone: between two waits it is
        in the set without a registration."""
        topics = self.topics()
        pipe = self.client.pipeline(transaction=False)
        for topic in topics:
            pipe.smembers(self.layout.takers(topic))
        found = [(t, _text(w)) for t, ws in zip(topics, pipe.execute(), strict=True) for w in ws]
        gone = [(topic, worker) for topic, worker in found if not alive(worker)]
        if not gone:
            return 0
        for _, worker in gone:
            pipe.exists(self.layout.taker(worker))
        dead = [pair for pair, registered in zip(gone, pipe.execute(), strict=True) if not registered]
        for topic, worker in dead:
            pipe.srem(self.layout.takers(topic), worker)
        pipe.execute()
        return len(dead)

    def take_handed(self, worker_id: str) -> list[Job]:
        """The jobs handed to the worker while it waited (claimed for it), and it waits no more."""
        return self.claim([], worker_id, 0, 0, taker=True)

    def finish_and_claim(
        self,
        reports: Sequence[tuple[Job, str, dict[str, str]]],
        worker_id: str,
        topics: Sequence[str],
        lease_ms: int,
        max_jobs: int,
        *,
        taker: bool = False,
    ) -> tuple[list[str], list[Job]]:
        """Report finished jobs (job, status, fields) and claim up to `max_jobs` more: one script call.
        `taker` as for `claim`."""
        flag = "1" if taker else "0"
        args: list[Any] = [worker_id, lease_ms, max_jobs, *self.retry.script_args(), flag, len(reports)]
        for job, status, fields in reports:
            flat = _flatten(fields)
            args += [job.topic, job.job_id, status, len(flat), *flat]
        raw: Any = self._replicated(self._finish_and_claim, "a job's final state", (), [*args, *topics])
        return [_text(x) for x in raw[0]], _jobs(raw[1])

    def _replicated(self, script: Any, what: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """A change of jobs' state that waits for [redis] min_replicas: when too few replicas had it in
        time, it still happened (on the primary); it is logged, not raised. What the history records
        waits for the replicas in the recorder, so a state lost with the primary is never recorded."""
        try:
            return self.direct.replicated(script, what, keys, args)
        except ReplicasBehindError as exc:
            self.replicas_behind_at = time.time()
            if time.monotonic() >= self._behind_log_at:  # one line a minute, not one per job
                self._behind_log_at = time.monotonic() + 60
                log.warning("jobs: %s", exc)
            return exc.reply

    def wait(self, topics: Sequence[str], timeout: float) -> None:
        """Block until a wake token arrives for one of `topics` or `timeout` passes."""
        if topics:
            self.direct.blpop([self.layout.wake(t) for t in topics], timeout)

    def wait_for_work(
        self, topics: Sequence[str], worker_id: str, lease_ms: int, timeout: float, pool_id: str = ""
    ) -> Job | None:
        """Wait up to `timeout` to be handed a job of `topics` (a create claims it for this worker and
        pushes it to its inbox: it is returned, leased to it) or for a wake token (None: claim now).
        One round trip: the registration as a taker goes with the BLPOP. The worker's next `claim` or
        `finish_and_claim` must say `taker=True`: a job handed to it after the BLPOP ended comes with it.
        `pool_id`: its pool's, so a create hands nothing to it once the pool is asked to drain."""
        if not topics:
            return None
        ttl_ms = math.ceil((timeout + TAKER_GRACE) * 1000)
        inbox = self.layout.inbox(worker_id)
        reply = self.direct.script_then_blpop(
            self._register_taker,
            [ttl_ms, lease_ms, worker_id, pool_id, *topics],
            [inbox, *(self.layout.wake(t) for t in topics)],
            timeout,
        )
        if reply is None or _text(reply[0]) != inbox:
            return None
        try:
            return Job.from_hash_items(fastjson.loads(reply[1]))
        except (ValueError, TypeError) as exc:  # never seen: the hash's items as Redis's cjson wrote them
            raise redis.DataError(f"a job handed to {worker_id} cannot be read ({exc}); its lease returns it") from None

    def transition(
        self,
        job: Job | tuple[str, int],
        status: str,
        fields: dict[str, str] | None = None,
        *,
        expect: str = "",
        expect_worker: str = "",
        retry: bool = False,
    ) -> str:
        """Change a job's status; with `retry`, an error of a job with retries left re-schedules it instead."""
        topic, job_id = (job.topic, job.job_id) if isinstance(job, Job) else job
        policy: list[Any] = self.retry.script_args() if retry else ["", 0]
        args: list[Any] = [topic, job_id, expect, expect_worker, status, *policy, *_flatten(fields or {})]
        if status in _TERMINAL:
            return _text(
                self._replicated(self._transition, "a job's final state", [self.layout.job(topic, job_id)], args)
            )
        return _text(self._transition(keys=[self.layout.job(topic, job_id)], args=args))

    def progress(self, reports: Sequence[tuple[Job, str, float, str]]) -> int:
        """Store (job, worker id, fraction, details) for jobs still active with that worker; one call."""
        args: list[str] = []
        for job, worker_id, fraction, details in reports:
            args += [self.layout.job(job.topic, job.job_id), worker_id, repr(fraction), details]
        return int(self._progress(args=args)) if args else 0

    def heartbeat(self, members: Iterable[str], lease_ms: int) -> tuple[list[int], list[str]]:
        """Renew the leases of these in-flight members; (ids asked to cancel, each member's status)."""
        members = list(members)
        if not members:
            return [], []
        cancel, statuses = self._heartbeat(args=[lease_ms, *members])
        return [int(x) for x in cancel], [_text(s) for s in statuses]

    def reap(self, limit: int = 100) -> int:
        return int(self._reap(args=[limit, *self.retry.script_args(), self.retry.max_lost]))

    def forget_idempotency_keys(self, named: Mapping[str, int]) -> int:
        """Drop these idempotency keys (key -> the deleted job's id) where they still name that job."""
        if not named:
            return 0
        items = list(named.items())
        return int(self._forget_keys(keys=[self.layout.idempotency(k) for k, _ in items], args=[i for _, i in items]))

    def cancel(self, topic: str, job_id: int, time_end: float) -> str:
        args = [topic, job_id, repr(time_end)]
        return _text(self._replicated(self._cancel, "a cancel", [self.layout.job(topic, job_id)], args))

    def recorded(
        self, finished: Sequence[tuple[str, int, str]], event_ids: Sequence[bytes | str], fence: str = ""
    ) -> None:
        """After the history has them: drop finished jobs' hashes (topic, id, status) and ack + delete events.
        `fence`: the history lease's value (history/lease.py); the script refuses the call (FENCED) unless
        the lease still holds it."""
        args: list[Any] = [fence]
        for topic, job_id, status in finished:
            args += [self.layout.job(topic, job_id), job_id, status]
        self.direct.script(self._recorded, args=[*args, "--", *event_ids])

    def last_event_id(self) -> str | None:
        """The id of the newest event ever added to the stream (None: there is no stream yet)."""
        try:
            info: Any = self.client.xinfo_stream(self.layout.EVENTS)
        except redis.ResponseError:
            return None  # no such key: no event was added yet, or Redis lost its data
        return _text(info["last-generated-id"])

    def events_recorded_through(self, event_id: str) -> bool:
        """Whether the history has recorded every event up to `event_id` (a recorded event leaves the stream)."""
        return not self.client.xrange(self.layout.EVENTS, "-", event_id, count=1)

    def get(self, topic: str, job_id: int) -> Job | None:
        data = self.client.hgetall(self.layout.job(topic, job_id))
        return Job.from_hash(data) if data else None  # type: ignore[arg-type]

    def unrecorded(self, job_id: int, after_version: int, below_version: int) -> list[Job]:
        """The job's states with a version between these two that are still in the events stream (the
        recorder has not written them to the history yet), oldest first. Looks back from the newest
        event at no more than UNRECORDED_SCAN of them."""
        found: Any = self._unrecorded(args=[job_id, after_version, below_version, UNRECORDED_SCAN])
        return sorted((Job.from_json(raw) for raw in found), key=lambda job: job.version)

    def running(self, limit: int = 1000) -> list[Job]:
        """Up to `limit` jobs in flight, read from their hashes in one round trip."""
        members: Any = self.client.zrange(self.layout.INFLIGHT, 0, limit - 1)
        pipe = self.client.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(self.layout.job(*keys.parse_inflight_member(_text(member))))
        return [Job.from_hash(data) for data in pipe.execute() if data]

    def topics(self) -> list[str]:
        return sorted(t.decode() for t in self.client.smembers(self.layout.TOPICS))  # type: ignore[union-attr]

    def claimable_topics(self) -> list[str]:
        """What a "*" worker serves: every topic but those handed to external hero actors."""
        found: Any = self.client.sdiff([self.layout.TOPICS, self.layout.HERO_DISPATCHED])
        return sorted(t.decode() for t in found)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per topic: queued (ZCARD) and in flight (from the lease set)."""
        topics = self.topics()
        pipe = self.client.pipeline(transaction=False)
        for topic in topics:
            pipe.zcard(self.layout.queue(topic))
        pipe.zrange(self.layout.INFLIGHT, 0, -1)
        pipe.zrange(self.layout.SCHEDULED, 0, -1)
        results: list[Any] = pipe.execute()
        *lengths, inflight, scheduled = results
        running = _count_by_topic(inflight)
        later = _count_by_topic(scheduled)
        return {
            t: {"queued": int(n), "inflight": running.get(t, 0), "scheduled": later.get(t, 0)}
            for t, n in zip(topics, lengths, strict=True)
        }

    def oldest_waiting(self, topics: Sequence[str]) -> dict[str, float]:
        """Per topic with jobs queued: when its oldest queued job was created (unix seconds). The oldest is
        the lowest id, which is first within its priority band: one look per band, two round trips."""
        bands = range(keys.MAX_PRIORITY + 1)
        pipe = self.client.pipeline(transaction=False)
        for topic in topics:
            for band in bands:
                low = band * keys.QUEUE_SCORE_SPAN
                pipe.zrangebyscore(self.layout.queue(topic), low, low + keys.QUEUE_SCORE_SPAN - 1, start=0, num=1)
        found: list[Any] = pipe.execute()
        oldest: dict[str, int] = {}
        for index, topic in enumerate(topics):
            ids = [int(first[0]) for first in found[index * len(bands) : (index + 1) * len(bands)] if first]
            if ids:
                oldest[topic] = min(ids)
        pipe = self.client.pipeline(transaction=False)
        for topic, job_id in oldest.items():
            pipe.hget(self.layout.job(topic, job_id), "time_created")
        out: dict[str, float] = {}
        for topic, created in zip(oldest, pipe.execute(), strict=True):
            try:
                out[topic] = float(created)
            except (TypeError, ValueError):
                continue  # its hash went meanwhile (claimed, ended and recorded)
        return out

    def queued_and_inflight_ids(self) -> set[int]:
        """Every job id Redis holds in a queue or in flight (for reconciliation at start, not the hot path)."""
        ids: set[int] = set()
        for topic in self.topics():
            waiting: Any = self.client.zrange(self.layout.queue(topic), 0, -1)
            ids.update(int(x) for x in waiting)
        for zset in (self.layout.INFLIGHT, self.layout.SCHEDULED):
            members: Any = self.client.zrange(zset, 0, -1)
            for member in members:
                ids.add(keys.parse_inflight_member(member.decode())[1])
        return ids


def _count_by_topic(members: Iterable[bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in members:
        topic, _ = keys.parse_inflight_member(bytes(member).decode())
        counts[topic] = counts.get(topic, 0) + 1
    return counts


def _layouts(prefixes: Iterable[str]) -> str:
    """Key prefixes in words, for messages."""
    return ", ".join(repr(prefix) if prefix else "no key prefix" for prefix in sorted(prefixes))


def _flatten(fields: dict[str, str]) -> list[str]:
    """field/value pairs as one flat argument list, as HSET and the scripts take them."""
    return [item for pair in fields.items() for item in pair]


def _jobs(replies: Any) -> list[Job]:
    """Jobs from the HGETALL arrays a claim returns."""
    return [Job.from_hash_items(item) for item in replies]


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def fingerprint_of(job: Job) -> str:
    """What an idempotency key remembers of the job it names: its topic, params type and params (a create
    with the same key and other ones is a conflict, not the same job)."""
    digest = hashlib.blake2b(digest_size=12)
    for part in (job.topic, job.params_type.value, job.params):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


# A new job's hash holds only what differs from a Job's defaults (and what every reader asks for by name):
# most of its 35 fields are empty or zero, and the hash is written and read back whole (HGETALL and a JSON
# encode in every transition's event): fewer fields, less Redis CPU per job. Readers (Job.from_hash, the
# events' JSON, the scripts' `or` defaults) take a missing field as its default.
_ALWAYS = frozenset({"topic", "params", "params_type", "status", "version", "timeout", "time_created", "updated_at"})
_DEFAULT_HASH = hash_fields({k: v for k, v in Job(topic="", params="").to_dict().items() if k not in _ALWAYS})


def _sparse(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k in _ALWAYS or _DEFAULT_HASH.get(k) != v}
