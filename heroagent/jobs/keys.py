"""Every Redis key the job system uses, built here and nowhere else: by a `KeyLayout`.

A layout is the key names of one HeroAgent on one Redis: `KeyLayout(prefix)` puts `prefix` (`[redis]
key_prefix`, config.key_prefix_problem's rule) in front of every key below, so several HeroAgents (and other
programs) share one Redis without touching each other's keys. `KeyLayout()` (no prefix) is the layout every
HeroAgent had before prefixes: exactly the keys of the table, which redis-cli users and the hero ecosystem's
tools read (`herojobs:*`, `heroqueue:*`, `hero:job:*`, `hero:q:*`). With a prefix, the hero queue layout's keys
are prefixed too: a hero tool must then use the same prefix. Each process builds its layout from its config
and hands it to what it makes (JobQueue, the request server, the schedules...): nothing here is a global.

The table lists each key of the unprefixed layout (a `<name>` is the argument of the KeyLayout method that
builds it; tests check that every attribute and method of KeyLayout is in it). The Lua scripts build the
same keys with functions generated from a layout's methods, its prefix baked in (jobs/live/scripts.py).
A key a script touches is always one of these, so a Redis Cluster hash tag is a change of KeyLayout alone:
with `[redis] cluster` every key carries `{<prefix>hero}` (one slot), and with `[redis] partitions` each
partition is a layout of its own with `{<prefix>hero<k>}` (its topics' keys in its slot); see
docs/architecture.md, "Redis Cluster".

herojobs:<topic>:<job_id>  hash    a job in flight, one field per job property (Hero wire names)
hero:jobid                 string  the last job id handed out (INCR); seeded from the history by the server
hero:jobtopic              hash    jobid -> topic of every job that has a hash (finds the hash from an id)
hero:idem:<key>            string  "<id> <fingerprint>" of the job created with idempotency key <key> (its topic,
                                   params type and params; the id alone when put back from the history); expires
                                   after the window, goes when that job is deleted (by hand or by retention)
hero:jobs:defaults         hash    the server's [jobs] defaults (timeout, retries...) for creators in other processes
hero:jobtypes:live         zset    publisher (a worker pool) -> its last heartbeat (ms): who serves job types now
hero:jobtypes:of:<publisher>  string  the job types a pool serves (JSON: actor -> actions' schemas, defaults,
                                   isolation, suspendable); expires unless renewed
hero:jobtypes:known        hash    actor -> its job type as last published (so a type no live process serves
                                   any more is still shown, as such)
hero:epoch                 string  a random token the server sets once Redis and the history agree (seeded,
                                   reconciled); gone means Redis lost its data: the server reconciles again
hero:job:<hero_id>         hash    a job of the hero queue layout (a hero supervisor's: id, script, script_type, ...)
hero:q:work:type:<script_type>  list  ids waiting for an actor of that type (LPUSH in; BLPOP, or BLMOVE by
                                   HeroAgent, out)
hero:q:reply:<hero_id>     list    the hero actor's answer: JSON {id, status, output, error}
hero:q:taking:type:<script_type>  list  ids HeroAgent's intake moved out of the work queue and has not made
                                   into jobs yet
hero:q:ctl:type:<script_type>  list  control messages for that type's actors ("stop")
hero:dispatched            set     topics handed to external hero actors: "*" workers do not claim them
heroqueue:<topic>          zset    job ids waiting; score = (9 - priority) * 2^44 + id: the lowest starts
                                   first, so higher priorities first, then creation order (ZRANGE 0 -1 = next first)
hero:limits:<topic>        hash    the topic's limits: max_running, rate (text), rate_n, rate_ms
hero:topics:limited        set     topics that have limits
hero:running:<topic>       set     ids of the topic's running jobs (kept for topics with max_running)
hero:rate:<topic>          zset    "<id>:<attempt>" -> when it started (ms), for the topic's rate limit
hero:lock:<no_overlap_key> string  the id of the job holding the key (or "<id>:after" during its
                                   overlap_delay); expires with the holder's lease
hero:topics                set     every topic that has had a job (lets "*" workers find queues)
hero:topics:paused         set     topics whose queued jobs wait (no worker claims them) until resumed
hero:topics:draining       set     topics that take no new job (creates get a 409) until resumed
hero:topics:pause-on-error set     topics that pause when one of their jobs ends in error or timeout after its
                                   retries ([topics.<name>] pause_on_error; written by the server at start)
hero:topics:paused-why     hash    topic -> why it paused itself ("job 12 ended error: ..."); gone on resume
hero:wake:<topic>          list    wake-up tokens: workers BLPOP these instead of sleeping
hero:takers:<topic>        set     ids of idle workers a create may hand the topic's next job to
hero:taker:<worker_id>     string  "<lease ms> <pool id>" while that worker waits to be handed a job; expires
hero:inbox:<worker_id>     list    jobs a create claimed for that idle worker (JSON of the hash's items)
hero:scheduled             zset    "<topic>:<job_id>" -> when a delayed job (or a retry after its backoff) is due
                                   (ms)
hero:inflight              zset    "<topic>:<job_id>" -> lease deadline (ms); renewed by the worker
hero:events                stream  every transition with the job's full state; the server's recorder
                                   writes them to OurDB (group "recorder") and then acks them
hero:events:set-aside      stream  events that could not be recorded (the original fields + why); capped
hero:workers               zset    worker id -> last heartbeat (ms)
hero:workers:draining      set     worker pools asked to drain: they claim nothing more and finish what runs
hero:worker:<worker_id>    hash    a worker's facts (host, pid, topics, running jobs); expires
hero:cancel                set     "<jobid>" of running jobs asked to stop
hero:dependents:<job_id>   set     ids of waiting jobs that depend on that job; resolved and deleted when it ends
hero:parents:<job_id>      hash    parent id -> how it ended (JSON: status, result, result_type) for a job with
                                   depends_on (ctx.parent_results); deleted when the job's end is recorded
hero:webhooks:topics       hash    topic -> webhook URL ([topics.<name>] webhook; written by the server at start)
hero:webhooks:due          zset    "<job_id>:<version>" -> when its next delivery attempt is due (ms)
hero:webhook:<job_id>:<version>  hash  a webhook to deliver: url, body (the final state's JSON), attempts,
                                   first (ms); made by the script that ended the job, deleted once delivered
hero:done:<job_id>         channel the final job (JSON; its status if over 64 KiB), published the moment it ends
hero:joblog:<job_id>       list    log lines of a job (log = true) that ran in another process, until the
                                   server writes them to the job's log file; expires
hero:joblogs               set     ids of jobs with lines waiting in hero:joblog:<job_id>
hero:rpc:requests          list    requests (JSON) from clients in other processes to the server's JobManager
hero:rpc:reply:<request_id>  list  the server's answer to one request (JSON); expires
hero:rpc:wake:<server_id>  list    pushed to by a request server's own stop, so its BLPOP returns at once
hero:schedules             hash    schedule name -> its definition (JSON) for schedules made at run time
hero:schedules:state       hash    schedule name -> {paused, last_run, runs, last_job, last_error} (JSON)
hero:schedules:version     string  bumped on every change of a definition; the scheduler reloads then
hero:schedule:jobs:<name>  list    ids of the newest jobs a schedule made (newest first, capped)
hero:schedule:run:<name>:<due_ms>  string  set (NX) by whoever fires that run: no run fires twice
hero:scheduler:lease       string  id of the process that fires schedules; expires unless renewed
hero:replicated            string  a counter the recorder bumps before it waits (WAIT) for [redis] min_replicas:
                                   the replicas that have it have every write made before
hero:history:lease         string  the server that records this Redis's jobs (JSON: token, host, pid, data dir);
                                   expires unless renewed; every `recorded` call must carry its value
"""

from __future__ import annotations

import zlib
from typing import Any

from heroagent.config import MAX_PARTITIONS, RedisConfig, cluster_hash_tag, key_prefix_problem
from heroagent.errors import InvalidInputError

# Not keys (the same in every layout): the recorder's consumer group on the events stream, and the numbers
# a queue's score is made of. The scripts get them as `${NAME}` too.
EVENTS_GROUP = "recorder"
MAX_PRIORITY = 9
# A queue's score: priority first, then the id (creation order). Ids stay below 2^44 (17 trillion), and
# (MAX_PRIORITY + 1) * 2^44 < 2^53, so every score is an exact double.
QUEUE_SCORE_SPAN = 2**44


class KeyLayout:
    """The Redis key names of one HeroAgent: the table above, each with `prefix` in front.

    The attributes in capitals are the keys of one fixed name (and, `PREFIX_*`, the start of a family of
    keys); the methods build the keys that take an argument. Two layouts with the same prefix are equal (the
    scripts are registered once per client and layout). A layout does not change once made."""

    def __init__(self, prefix: str = "", *, cluster: bool = False, partition: int = 0, partitions: int = 1) -> None:
        problem = key_prefix_problem(prefix)
        if problem:
            raise InvalidInputError(f"key_prefix {prefix[:80]!r}: {problem}")
        if not (1 <= partitions <= MAX_PARTITIONS and 0 <= partition < partitions) or (partitions > 1 and not cluster):
            raise InvalidInputError(f"partition {partition} of {partitions}: a cluster's, 0 <= partition < partitions")
        self.prefix = prefix
        self.cluster = cluster
        # Which part of the topics this layout's keys hold ([redis] partitions, on a cluster): the scripts get
        # both (${PARTITION}, ${PARTITIONS}) and hand out the ids of their partition only (job_id_partition).
        self.PARTITION = partition
        self.PARTITIONS = partitions
        # a Redis Cluster's layout: "hero" in every key is the hash tag {<prefix>hero}: one slot for all
        # (partition 0; partition k > 0: {<prefix>hero<k>}, a slot of its own)
        self.hash_tag = cluster_hash_tag(prefix, partition) if cluster else ""
        # what every key starts with: the prefix first in both (the ACL pattern ~<prefix>* holds either way)
        self.start = f"{prefix}{{{self.hash_tag}}}" if cluster else f"{prefix}hero"
        s = self.start
        self.PREFIX_JOB = f"{s}jobs"
        self.PREFIX_QUEUE = f"{s}queue"
        self.PREFIX_LIMITS = f"{s}:limits"
        self.PREFIX_RUNNING = f"{s}:running"
        self.PREFIX_RATE = f"{s}:rate"
        self.PREFIX_LOCK = f"{s}:lock"
        self.TOPICS_LIMITED = f"{s}:topics:limited"
        self.PREFIX_WAKE = f"{s}:wake"
        self.PREFIX_TAKERS = f"{s}:takers"
        self.PREFIX_TAKER = f"{s}:taker"
        self.PREFIX_INBOX = f"{s}:inbox"
        self.TOPICS = f"{s}:topics"
        self.TOPICS_PAUSED = f"{s}:topics:paused"
        self.TOPICS_DRAINING = f"{s}:topics:draining"
        self.TOPICS_PAUSE_ON_ERROR = f"{s}:topics:pause-on-error"
        self.TOPICS_PAUSED_WHY = f"{s}:topics:paused-why"
        self.INFLIGHT = f"{s}:inflight"
        self.SCHEDULED = f"{s}:scheduled"
        self.EVENTS = f"{s}:events"
        self.EVENTS_SET_ASIDE = f"{s}:events:set-aside"  # events the history could not take, for a person
        self.WORKERS = f"{s}:workers"
        self.WORKERS_DRAINING = f"{s}:workers:draining"
        self.CANCEL = f"{s}:cancel"
        self.EPOCH = f"{s}:epoch"
        self.JOB_ID_COUNTER = f"{s}:jobid"
        self.JOB_TOPICS = f"{s}:jobtopic"
        self.JOB_DEFAULTS = f"{s}:jobs:defaults"
        self.PREFIX_IDEMPOTENCY = f"{s}:idem"
        self.JOBTYPES_LIVE = f"{s}:jobtypes:live"
        self.PREFIX_JOBTYPES_OF = f"{s}:jobtypes:of"
        self.JOBTYPES_KNOWN = f"{s}:jobtypes:known"
        self.HERO_DISPATCHED = f"{s}:dispatched"
        self.RPC_REQUESTS = f"{s}:rpc:requests"
        self.JOBLOGS_PENDING = f"{s}:joblogs"
        self.WEBHOOK_TOPICS = f"{s}:webhooks:topics"
        self.WEBHOOKS_DUE = f"{s}:webhooks:due"
        self.PREFIX_DONE = f"{s}:done"
        self.SCHEDULES = f"{s}:schedules"
        self.SCHEDULES_STATE = f"{s}:schedules:state"
        self.SCHEDULES_VERSION = f"{s}:schedules:version"
        self.SCHEDULER_LEASE = f"{s}:scheduler:lease"
        self.HISTORY_LEASE = f"{s}:history:lease"
        self.REPLICATED_MARK = f"{s}:replicated"
        self._made = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_made", False):
            raise AttributeError(f"a KeyLayout does not change ({name}): make another one")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, KeyLayout) and other._identity == self._identity

    @property
    def _identity(self) -> tuple[str, bool, int, int]:
        return (self.prefix, self.cluster, self.PARTITION, self.PARTITIONS)

    def __hash__(self) -> int:
        return hash((type(self), *self._identity))

    def __repr__(self) -> str:
        cluster = ", cluster=True" if self.cluster else ""
        parts = f", partition={self.PARTITION}, partitions={self.PARTITIONS}" if self.PARTITIONS > 1 else ""
        return f"KeyLayout({self.prefix!r}{cluster}{parts})"

    @classmethod
    def of(cls, redis_cfg: RedisConfig, partition: int = 0) -> KeyLayout:
        """The layout a config's `[redis]` names (of `partition`, with [redis] partitions): its key prefix, and
        the hash tag with `cluster = true`. Partition 0 also holds the keys no script shares with a job (the
        schedules, the request queue, the workers, the leases...)."""
        return cls(
            redis_cfg.key_prefix, cluster=redis_cfg.cluster, partition=partition, partitions=redis_cfg.partitions
        )

    @classmethod
    def all_of(cls, redis_cfg: RedisConfig) -> list[KeyLayout]:
        """The layout of every partition (one without [redis] partitions)."""
        return cls.every_partition(redis_cfg.key_prefix, cluster=redis_cfg.cluster, partitions=redis_cfg.partitions)

    @classmethod
    def every_partition(cls, prefix: str = "", *, cluster: bool = False, partitions: int = 1) -> list[KeyLayout]:
        """The layout of each of `partitions` partitions of key prefix `prefix` (partition 0 first)."""
        return [cls(prefix, cluster=cluster, partition=k, partitions=partitions) for k in range(partitions)]

    @property
    def described(self) -> str:
        """The layout in words, for messages: its prefix, or that it has none."""
        said = f"key prefix {self.prefix!r}" if self.prefix else "no key prefix"
        if self.PARTITIONS > 1:
            said += f", partition {self.PARTITION} of {self.PARTITIONS}"
        return f"{said}, Redis Cluster hash tag {{{self.hash_tag}}}" if self.cluster else said

    def job(self, topic: str, job_id: int) -> str:
        return f"{self.PREFIX_JOB}:{topic}:{job_id}"

    def every_job_pattern(self) -> str:
        """The SCAN pattern of every job hash (the stray sweep walks them): this layout's only (see
        config.key_prefix_problem: no other layout's key matches it)."""
        return f"{self.PREFIX_JOB}:*"

    def parse_job(self, key: str) -> tuple[str, int]:
        """(topic, id) of a job hash's key: `job`'s inverse."""
        return parse_inflight_member(key.removeprefix(f"{self.PREFIX_JOB}:"))

    def jobtypes_of(self, publisher: str) -> str:
        return f"{self.PREFIX_JOBTYPES_OF}:{publisher}"

    def idempotency(self, key: str) -> str:
        return f"{self.PREFIX_IDEMPOTENCY}:{key}"

    def queue(self, topic: str) -> str:
        return f"{self.PREFIX_QUEUE}:{topic}"

    def limits(self, topic: str) -> str:
        return f"{self.PREFIX_LIMITS}:{topic}"

    def running(self, topic: str) -> str:
        return f"{self.PREFIX_RUNNING}:{topic}"

    def rate(self, topic: str) -> str:
        return f"{self.PREFIX_RATE}:{topic}"

    def no_overlap_lock(self, no_overlap_key: str) -> str:
        return f"{self.PREFIX_LOCK}:{no_overlap_key}"

    def wake(self, topic: str) -> str:
        return f"{self.PREFIX_WAKE}:{topic}"

    def takers(self, topic: str) -> str:
        return f"{self.PREFIX_TAKERS}:{topic}"

    def taker(self, worker_id: str) -> str:
        return f"{self.PREFIX_TAKER}:{worker_id}"

    def inbox(self, worker_id: str) -> str:
        return f"{self.PREFIX_INBOX}:{worker_id}"

    def worker(self, worker_id: str) -> str:
        return f"{self.start}:worker:{worker_id}"

    def rpc_reply(self, request_id: str) -> str:
        return f"{self.start}:rpc:reply:{request_id}"

    def rpc_wake(self, server_id: str) -> str:
        """Pushed to by a request server's own stop: its BLPOP returns at once instead of at its timeout."""
        return f"{self.start}:rpc:wake:{server_id}"

    def dependents(self, job_id: int) -> str:
        """The waiting jobs that depend on `job_id` (a set of ids), until it ends."""
        return f"{self.start}:dependents:{job_id}"

    def parents(self, job_id: int) -> str:
        """How each job `job_id` depends on ended (parent id -> JSON), for its ctx.parent_results."""
        return f"{self.start}:parents:{job_id}"

    def webhook(self, job_id: int, version: int) -> str:
        """A webhook delivery of one final state of a job (url, body, attempts)."""
        return f"{self.start}:webhook:{job_id}:{version}"

    def job_done(self, job_id: int) -> str:
        """Pub/sub channel: the final job (its JSON; its status if large), published when it ends."""
        return f"{self.PREFIX_DONE}:{job_id}"

    def joblog(self, job_id: int) -> str:
        return f"{self.start}:joblog:{job_id}"

    def schedule_jobs(self, name: str) -> str:
        return f"{self.start}:schedule:jobs:{name}"

    def schedule_run(self, name: str, due_ms: int) -> str:
        return f"{self.start}:schedule:run:{name}:{due_ms}"

    def hero_job(self, hero_id: str) -> str:
        return f"{self.start}:job:{hero_id}"

    def hero_work(self, script_type: str) -> str:
        return f"{self.start}:q:work:type:{script_type}"

    def hero_reply(self, hero_id: str) -> str:
        return f"{self.start}:q:reply:{hero_id}"

    def hero_taking(self, script_type: str) -> str:
        return f"{self.start}:q:taking:type:{script_type}"

    def hero_ctl(self, script_type: str) -> str:
        return f"{self.start}:q:ctl:type:{script_type}"


def every_layout_pattern(unprefixed: str) -> str:
    """The SCAN pattern of one key in every layout (any prefix, or none), given as the unprefixed layout names
    it: how a process started with the wrong key prefix finds the layouts this Redis does hold."""
    return f"*{unprefixed}"


def prefix_of(key: str, unprefixed: str) -> str | None:
    """The key prefix of the layout whose key `key` is, `unprefixed` being that key's unprefixed name (None:
    `key` is no layout's name for it)."""
    prefix = key.removesuffix(unprefixed)
    if prefix == key or key_prefix_problem(prefix):
        return None
    return prefix


def topic_partition(topic: str, partitions: int) -> int:
    """The partition a topic's jobs live in (a hash of its name: every process computes the same)."""
    return zlib.crc32(topic.encode()) % partitions if partitions > 1 else 0


def job_id_partition(job_id: int, partitions: int) -> int:
    """The partition that handed out `job_id`: partition k hands out k+1, k+1+P, k+1+2P... (create.lua)."""
    return (job_id - 1) % partitions if partitions > 1 else 0


def queue_score(priority: int, job_id: int) -> int:
    """Where a job waits in its topic's queue (lua/common.lua's `enqueue` computes the same)."""
    return (MAX_PRIORITY - min(MAX_PRIORITY, max(0, priority))) * QUEUE_SCORE_SPAN + job_id


def inflight_member(topic: str, job_id: int) -> str:
    """A member of hero:inflight and hero:scheduled (not a key: the same in every layout)."""
    return f"{topic}:{job_id}"


def parse_inflight_member(member: str) -> tuple[str, int]:
    topic, _, job_id = member.rpartition(":")
    return topic, int(job_id)


def webhook_member(job_id: int, version: int) -> str:
    """A delivery's member of hero:webhooks:due (common.lua's `ended` writes the same): also its id, the
    X-HeroAgent-Delivery header a receiver dedupes by."""
    return f"{job_id}:{version}"


def parse_webhook_member(member: str) -> tuple[int, int]:
    """(job id, version) of a hero:webhooks:due member: `webhook_member`'s inverse (ValueError if it is none)."""
    job_id, _, version = member.partition(":")
    return int(job_id), int(version)
