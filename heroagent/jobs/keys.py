"""Every Redis key the job system uses, built here and nowhere else.

The table lists each key (a `<name>` is the argument of the function below that builds it; tests check that
every constant and function of this module is in it). The Lua scripts build the same keys with functions
generated from these (jobs/live/scripts.py).

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

PREFIX_JOB = "herojobs"
PREFIX_QUEUE = "heroqueue"
PREFIX_LIMITS = "hero:limits"
PREFIX_RUNNING = "hero:running"
PREFIX_RATE = "hero:rate"
PREFIX_LOCK = "hero:lock"
TOPICS_LIMITED = "hero:topics:limited"
MAX_PRIORITY = 9
# A queue's score: priority first, then the id (creation order). Ids stay below 2^44 (17 trillion), and
# (MAX_PRIORITY + 1) * 2^44 < 2^53, so every score is an exact double.
QUEUE_SCORE_SPAN = 2**44
PREFIX_WAKE = "hero:wake"
PREFIX_TAKERS = "hero:takers"
PREFIX_TAKER = "hero:taker"
PREFIX_INBOX = "hero:inbox"
TOPICS = "hero:topics"
TOPICS_PAUSED = "hero:topics:paused"
TOPICS_DRAINING = "hero:topics:draining"
TOPICS_PAUSE_ON_ERROR = "hero:topics:pause-on-error"
TOPICS_PAUSED_WHY = "hero:topics:paused-why"
INFLIGHT = "hero:inflight"
SCHEDULED = "hero:scheduled"
EVENTS = "hero:events"
EVENTS_GROUP = "recorder"
EVENTS_SET_ASIDE = "hero:events:set-aside"  # events the history could not take, kept for a person to look at
WORKERS = "hero:workers"
WORKERS_DRAINING = "hero:workers:draining"
CANCEL = "hero:cancel"
EPOCH = "hero:epoch"
JOB_ID_COUNTER = "hero:jobid"
JOB_TOPICS = "hero:jobtopic"
JOB_DEFAULTS = "hero:jobs:defaults"
PREFIX_IDEMPOTENCY = "hero:idem"
JOBTYPES_LIVE = "hero:jobtypes:live"
PREFIX_JOBTYPES_OF = "hero:jobtypes:of"
JOBTYPES_KNOWN = "hero:jobtypes:known"
HERO_DISPATCHED = "hero:dispatched"


def job(topic: str, job_id: int) -> str:
    return f"{PREFIX_JOB}:{topic}:{job_id}"


def every_job_pattern() -> str:
    """The SCAN pattern of every job hash (the stray sweep walks them)."""
    return f"{PREFIX_JOB}:*"


def parse_job(key: str) -> tuple[str, int]:
    """(topic, id) of a job hash's key: `job`'s inverse."""
    return parse_inflight_member(key.removeprefix(f"{PREFIX_JOB}:"))


def jobtypes_of(publisher: str) -> str:
    return f"{PREFIX_JOBTYPES_OF}:{publisher}"


def idempotency(key: str) -> str:
    return f"{PREFIX_IDEMPOTENCY}:{key}"


def queue(topic: str) -> str:
    return f"{PREFIX_QUEUE}:{topic}"


def queue_score(priority: int, job_id: int) -> int:
    """Where a job waits in its topic's queue (lua/common.lua's `enqueue` computes the same)."""
    return (MAX_PRIORITY - min(MAX_PRIORITY, max(0, priority))) * QUEUE_SCORE_SPAN + job_id


def limits(topic: str) -> str:
    return f"{PREFIX_LIMITS}:{topic}"


def running(topic: str) -> str:
    return f"{PREFIX_RUNNING}:{topic}"


def rate(topic: str) -> str:
    return f"{PREFIX_RATE}:{topic}"


def no_overlap_lock(no_overlap_key: str) -> str:
    return f"{PREFIX_LOCK}:{no_overlap_key}"


def wake(topic: str) -> str:
    return f"{PREFIX_WAKE}:{topic}"


def takers(topic: str) -> str:
    return f"{PREFIX_TAKERS}:{topic}"


def taker(worker_id: str) -> str:
    return f"{PREFIX_TAKER}:{worker_id}"


def inbox(worker_id: str) -> str:
    return f"{PREFIX_INBOX}:{worker_id}"


def worker(worker_id: str) -> str:
    return f"hero:worker:{worker_id}"


def inflight_member(topic: str, job_id: int) -> str:
    return f"{topic}:{job_id}"


def parse_inflight_member(member: str) -> tuple[str, int]:
    topic, _, job_id = member.rpartition(":")
    return topic, int(job_id)


RPC_REQUESTS = "hero:rpc:requests"


def rpc_reply(request_id: str) -> str:
    return f"hero:rpc:reply:{request_id}"


def rpc_wake(server_id: str) -> str:
    """Pushed to by a request server's own stop: its BLPOP returns at once instead of at its timeout."""
    return f"hero:rpc:wake:{server_id}"


JOBLOGS_PENDING = "hero:joblogs"
WEBHOOK_TOPICS = "hero:webhooks:topics"
WEBHOOKS_DUE = "hero:webhooks:due"


def dependents(job_id: int) -> str:
    """The waiting jobs that depend on `job_id` (a set of ids), until it ends."""
    return f"hero:dependents:{job_id}"


def parents(job_id: int) -> str:
    """How each job `job_id` depends on ended (parent id -> JSON), for its ctx.parent_results."""
    return f"hero:parents:{job_id}"


def webhook(job_id: int, version: int) -> str:
    """A webhook delivery of one final state of a job (url, body, attempts)."""
    return f"hero:webhook:{job_id}:{version}"


def webhook_member(job_id: int, version: int) -> str:
    """A delivery's member of hero:webhooks:due (common.lua's `ended` writes the same): also its id, the
    X-HeroAgent-Delivery header a receiver dedupes by."""
    return f"{job_id}:{version}"


def parse_webhook_member(member: str) -> tuple[int, int]:
    """(job id, version) of a hero:webhooks:due member: `webhook_member`'s inverse (ValueError if it is none)."""
    job_id, _, version = member.partition(":")
    return int(job_id), int(version)


PREFIX_DONE = "hero:done"


def job_done(job_id: int) -> str:
    """Pub/sub channel: the final job (its JSON; its status if large), published when it ends."""
    return f"{PREFIX_DONE}:{job_id}"


def joblog(job_id: int) -> str:
    return f"hero:joblog:{job_id}"


SCHEDULES = "hero:schedules"
SCHEDULES_STATE = "hero:schedules:state"
SCHEDULES_VERSION = "hero:schedules:version"
SCHEDULER_LEASE = "hero:scheduler:lease"
HISTORY_LEASE = "hero:history:lease"
REPLICATED_MARK = "hero:replicated"


def schedule_jobs(name: str) -> str:
    return f"hero:schedule:jobs:{name}"


def schedule_run(name: str, due_ms: int) -> str:
    return f"hero:schedule:run:{name}:{due_ms}"


def hero_job(hero_id: str) -> str:
    return f"hero:job:{hero_id}"


def hero_work(script_type: str) -> str:
    return f"hero:q:work:type:{script_type}"


def hero_reply(hero_id: str) -> str:
    return f"hero:q:reply:{hero_id}"


def hero_taking(script_type: str) -> str:
    return f"hero:q:taking:type:{script_type}"


def hero_ctl(script_type: str) -> str:
    return f"hero:q:ctl:type:{script_type}"
