"""The jobs service: wires the store, the manager, the background loops, upkeep and the local worker pool
to the agent's Redis, and starts and stops them in order."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

import redis

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.jobs import keys
from heroagent.jobs.history.lease import HistoryLease
from heroagent.jobs.history.reconciler import PROMOTE_INTERVAL, REAP_INTERVAL, Reconciler
from heroagent.jobs.history.recorder import Recorder, ensure_events_group
from heroagent.jobs.history.stats import BUCKET_SECONDS, WINDOW_SECONDS
from heroagent.jobs.history.store import JobStore
from heroagent.jobs.history.upkeep import Upkeep
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.joblog import JobLogs
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.submit import JobDefaults
from heroagent.jobs.retry import RetryPolicy
from heroagent.jobs.run.actors import ActorRegistry, import_modules
from heroagent.jobs.run.executor import JobExecutor
from heroagent.jobs.run.worker import WorkerPool
from heroagent.jobs.server.hero import HeroActor, HeroDispatcher
from heroagent.jobs.server.manager import JobManager
from heroagent.jobs.server.pool_processes import PoolProcesses
from heroagent.jobs.server.rpc import RequestServer
from heroagent.jobs.server.webhooks import Webhooks, publish_topics
from heroagent.loops import LoopState, SupervisedLoop
from heroagent.ourdb import OurDBError
from heroagent.redis_server import NO_ANSWER_JOIN, REDIS_AWAY, EmbeddedRedis, ExternalRedis, answers, request_options
from heroagent.schema.job import TypeDefaults, check_type_defaults

# Seconds health names a write that waited in vain for [redis] min_replicas.
REPLICAS_BEHIND_SHOWN = 60.0
log = logging.getLogger(__name__)


def job_types(registry: ActorRegistry, config: Config) -> dict[str, TypeDefaults]:
    """Every job type: the registered actors with the defaults they declared, `[job_types.<name>]` over them."""
    types = registry.types()
    for name, given in config.job_types.items():
        types.setdefault(name, {}).update(check_type_defaults(name, given))
    return types


def _record(lease: HistoryLease, recorder: Recorder) -> None:
    """The recorder loop's step: the history lease kept (LeaseLostError: another server holds it, and
    this one records nothing), then one batch."""
    lease.keep()
    try:
        recorder.step()
    except redis.ResponseError as exc:
        if str(exc).startswith("FENCED"):  # lost between two renewals: the script refused the ack
            raise lease.lost() from None
        raise


class JobsService:
    def __init__(self, config: Config, redis_service: EmbeddedRedis | ExternalRedis, registry: ActorRegistry) -> None:
        self.config = config
        self.redis_service = redis_service
        self.registry = registry
        # The key names of this HeroAgent ([redis] key_prefix): everything below is made with them.
        self.layout = keys.KeyLayout.of(config.redis)
        self.manager: JobManager | None = None
        self.sampler = Sampler()
        self.recorder: Recorder | None = None
        self._pool_queue: JobQueue | None = None
        self.reconciler: Reconciler | None = None
        self.upkeep: Upkeep | None = None
        self.loops: list[SupervisedLoop] = []
        self.pool: WorkerPool | None = None
        self.processes: PoolProcesses | None = None  # [jobs] worker_processes: the pool as child processes
        self.rpc: RequestServer | None = None
        self.hero: HeroActor | None = None
        self.webhooks: Webhooks | None = None
        self.lease: HistoryLease | None = None
        self._store: JobStore | None = None
        self._seeding: threading.Thread | None = None

    def preflight(self) -> None:
        """Nothing beyond the config's own checks."""

    def start(self) -> None:
        jobs = self.config.jobs
        import_modules(jobs.modules)
        # refused here, before anything started, when a worker process would lack one of our actors
        processes = PoolProcesses(self.config, self.registry) if jobs.worker_processes else None
        try:
            self._store = JobStore(self.config.jobs_db_path)
        except OurDBError as exc:
            raise ServiceError("jobs", f"cannot open the job history: {exc}") from None
        # Every call on the request paths (API, pages, the manager's loops) gives up after 2 s, once:
        # a stalled Redis is a 503 in ~2 s, not a hung dashboard. The pool, whose workers block on
        # their queues for longer, has its own client.
        client = self.redis_service.client(**request_options())
        logs = JobLogs(self.config.logs_dir)
        defaults = JobDefaults.from_config(jobs, job_types(self.registry, self.config), self.config.redis)
        self.manager = JobManager(
            client,
            self._store,
            logs,
            layout=self.layout,
            defaults=defaults,
            retry=RetryPolicy.from_config(jobs),
            local_types=self.registry.published,
            process_topics=jobs.process_topics,
            durability=Durability.of(self.config),
        )
        manager = self.manager
        # The throughput chart's last minutes, from the history: beside the start, not in its way.
        store, stats = self._store, manager.stats
        self._seeding = threading.Thread(
            target=lambda: stats.seed(store.finished_since(time.time() - WINDOW_SECONDS, BUCKET_SECONDS)),
            name="heroagent-stats-seed",
            daemon=True,
        )
        self._seeding.start()
        self.reconciler = Reconciler(client, self._store, manager.queue, logs, manager.defaults)
        self.hero = (
            HeroActor(self.redis_service.client(), manager, self.config.hero.serve)
            if self.config.hero.enabled and self.config.hero.serve
            else None
        )
        self.recorder = Recorder(
            client,
            self._store,
            manager.queue,
            logs,
            manager.stats,
            on_recorded=manager.notify,
            on_stream_lost=self.reconciler.recover,
            on_written=[manager.events.add, *([self.hero.recorded] if self.hero is not None else [])],
        )
        manager.reseed = self.reconciler.recover
        self.upkeep = Upkeep(self._store, manager.queue, logs)
        ensure_events_group(client, self.layout)
        self.lease = HistoryLease(client, self.layout, self.config.data_path)
        try:
            self.lease.acquire()  # one history writer per Redis: a second server is refused here (lease.py)
        except ServiceError:
            self._store.close()
            self._store = None
            raise
        self.recorder.fence, self.recorder.before_write = self.lease.value, self.lease.hold
        self.recorder.drain()  # events a previous run read but did not record
        self.reconciler.reconcile()
        manager.queue.set_pause_on_error(self.config.topics_pausing_on_error())
        for topic, limits in self.config.topic_limits().items():  # checked with the config; set again at each start
            manager.queue.set_limits(topic, limits)
        publish_topics(client, self.layout, self.config)
        self.webhooks = Webhooks.from_config(client, self.layout, logs, self.config)
        self.webhooks.start()
        self.loops = [
            SupervisedLoop("recorder", partial(_record, self.lease, self.recorder), expected=REDIS_AWAY),
            SupervisedLoop("reaper", self.reconciler.reap_step, REAP_INTERVAL, expected=REDIS_AWAY),
            SupervisedLoop("promoter", self.reconciler.promote_step, PROMOTE_INTERVAL, expected=REDIS_AWAY),
            SupervisedLoop("webhooks", self.webhooks.step, expected=REDIS_AWAY),
            SupervisedLoop("sampler", partial(self.sampler.step, manager), SAMPLE_INTERVAL, expected=REDIS_AWAY),
        ]
        if self.hero is not None:
            self.hero.recover()
            for script_type in self.config.hero.serve:
                intake = partial(self.hero.step, script_type)
                self.loops.append(SupervisedLoop(f"hero-intake-{script_type}", intake, expected=REDIS_AWAY))
        hero = self.config.hero
        if hero.enabled and hero.dispatch:
            dispatcher = HeroDispatcher(self._queue(), hero.dispatch, jobs.lease_seconds)
            dispatcher.start()
            self.loops.append(SupervisedLoop("hero-dispatch", dispatcher.step, expected=REDIS_AWAY))
        for loop in self.loops:
            loop.start()
        self.rpc = RequestServer(self.manager, self.redis_service.client())
        self.rpc.start()
        if processes is not None:  # [jobs] worker_processes: the pool as child processes, a loop of ours watching
            self.processes = processes
            processes.start()
            loop = SupervisedLoop("worker-processes", processes.step, PROCESSES_INTERVAL)
            self.loops.append(loop)
            loop.start()
            return
        executor = JobExecutor(self.registry, self.config.share_root, jobs)
        pool_queue = self._pool_queue = self._queue()
        self.pool = WorkerPool.from_config(pool_queue, executor, logs, jobs)
        self.pool.start()

    def _queue(self) -> JobQueue:
        """A queue on a client of its own (the pool's and the dispatcher's block for longer than requests)."""
        retry = RetryPolicy.from_config(self.config.jobs)
        return JobQueue(self.redis_service.client(), self.layout, retry, durability=Durability.of(self.config))

    def stop(self) -> None:
        """Stop the request server, the pool and the loops, record what the stream still holds, close the
        history. Redis is asked once whether it answers: if not (stalled), nothing more is asked of it,
        and the stop ends in a few seconds instead of never (see `WorkerPool._stop_offline`)."""
        if self._seeding is not None:
            self._seeding.join(timeout=30)
            self._seeding = None
        redis_answers = self._redis_answers()
        if not redis_answers:
            log.warning(
                "jobs: Redis did not answer at stop; stopping without it (the jobs it holds are kept "
                "there; what was not recorded yet is recorded at the next start)"
            )
        if self.rpc is not None:
            self.rpc.stop(redis_answers=redis_answers)
            self.rpc = None
        for loop in self.loops:
            loop.request_stop()  # their last steps end while the pool stops
        if self.pool is not None:
            self.pool.stop(grace=self.config.jobs.stop_grace, redis_answers=redis_answers)
            self.pool = None
        if self.processes is not None:  # they finish what runs, as the pool does, then are killed
            self.processes.stop(grace=self.config.jobs.stop_grace + PROCESSES_STOP_EXTRA)
            self.processes = None
        deadline = time.monotonic() + NO_ANSWER_JOIN  # for all the loops, when Redis did not answer
        for loop in self.loops:
            loop.stop(timeout=10.0 if redis_answers else max(0.0, deadline - time.monotonic()))
        self.loops = []
        if self.webhooks is not None:  # after its loop: no delivery is handed to a sender any more
            self.webhooks.stop(timeout=10.0 if redis_answers else max(0.0, deadline - time.monotonic()))
            self.webhooks = None
        if self.recorder is not None and redis_answers:
            try:
                self.recorder.drain()
            except (redis.RedisError, OurDBError) as exc:
                log.warning("jobs: could not record the last events at stop (%s); they are recorded at next start", exc)
        self.recorder = None
        if self.lease is not None and redis_answers:
            self.lease.release()
        self.lease = None
        if self.manager is not None:
            self.manager.notify()
            self.manager = None
        self.reconciler = self.upkeep = self.hero = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def hurry(self) -> None:
        """Cut the stop's grace for running jobs short (see `WorkerPool.hurry`; worker processes get a second
        SIGTERM, which hurries them the same way)."""
        pool = self.pool
        if pool is not None:
            pool.hurry()
        processes = self.processes
        if processes is not None:
            processes.fleet.signal_all()

    def _redis_answers(self) -> bool:
        """Whether Redis answers now (asked only if something running would ask it more at stop)."""
        if self.rpc is None and self.pool is None:
            return True
        client = self.redis_service.client()
        try:
            return answers(client)
        finally:
            client.close()

    def loop_states(self) -> list[LoopState]:
        """The background loops, for health: a loop whose last step failed is degraded."""
        states = [loop.state() for loop in self.loops]
        if self.rpc is not None:
            states.append(self.rpc.loop.state())
        if self.pool is not None:
            states += self.pool.loop_states()
        if self.processes is not None:
            states += self.processes.states()
        return states

    def problems(self) -> list[str]:
        """What health reports as wrong with the job system now ([] = healthy)."""
        found = []
        if self._store is not None and self._store.index_problem:
            found.append(self._store.index_problem)
        if self._store is not None:
            found += [
                f"history damage (acknowledge with `heroagent ourdb check --fix`): {line}"
                for line in self._store.damage()
            ]
        for state in self.loop_states():
            if state.degraded:
                since = time.strftime("%H:%M:%S UTC", time.gmtime(state.failing_since))
                found.append(f"{state.name}: {state.last_error} (failing since {since}, {state.failures} failure(s))")
            if not state.running:
                found.append(f"{state.name}: not running")
        found += [  # as the sampler last read them: health itself never waits on Redis
            f"topic {topic} paused itself (pause_on_error): {why}; resume it when fixed"
            for topic, why in self.sampler.paused_why.items()
        ]
        queues = [q for q in (self.manager.queue if self.manager else None, self._pool_queue) if q is not None]
        behind = max((q.replicas_behind_at for q in queues), default=0.0)
        if behind > time.time() - REPLICAS_BEHIND_SHOWN:
            found.append(
                f"replicas: a write waited in vain for [redis] min_replicas = {self.config.redis.min_replicas} "
                f"replica(s) at {time.strftime('%H:%M:%S UTC', time.gmtime(behind))}: acknowledged writes are at "
                "risk if the primary fails; check the replicas (INFO replication)"
            )
        return found

    def notices(self) -> list[str]:
        """What an operator should look at, though the job system works."""
        found = []
        recorder = self.recorder
        if recorder is not None and recorder.set_aside:
            found.append(
                f"recorder: {recorder.set_aside} event(s) could not be recorded and were set aside in "
                f"{self.layout.EVENTS_SET_ASIDE} (see the server log)"
            )
        if self._store is not None and self._store.index_notice:
            found.append(self._store.index_notice)
        if self.reconciler is not None and self.reconciler.info_denied:
            found.append(
                "the Redis user may not run INFO: a Redis restart that lost the last writes is noticed only "
                "when Redis lost all its data; allow +info (README: least-privilege ACL)"
            )
        if self.manager is not None:
            found += list(self.manager.queue.foreign_layout.values())
        webhooks = self.webhooks
        if webhooks is not None and (webhooks.given_up or webhooks.refused):
            found.append(
                f"webhooks: {webhooks.given_up} delivery(ies) given up after a day of failed attempts, "
                f"{webhooks.refused} refused (a private address or no http(s) URL) since start; the jobs' logs "
                "say why"
            )
        logs = self.manager.logs if self.manager is not None else None
        if logs is not None and logs.failures:
            found.append(f"job logs: {logs.failures} line(s) could not be written (see the server log)")
        return found


PROCESSES_INTERVAL = 0.5  # seconds between two looks at the worker processes ([jobs] worker_processes)
PROCESSES_STOP_EXTRA = 10.0  # seconds a worker process gets at stop beyond stop_grace (to hand back its jobs)
SAMPLE_INTERVAL = 5.0  # seconds between two looks at every pool's busy slots (the dashboard's utilisation)


class Sampler:
    """The sampler loop's step: every pool's worker slots, busy and in all, into the stats (the overview's
    utilisation over time), and the topics that paused themselves (pause_on_error), kept here for health,
    which must answer at once even when Redis does not."""

    def __init__(self) -> None:
        self.paused_why: dict[str, str] = {}

    def step(self, manager: JobManager) -> None:
        workers = manager.list_workers()
        busy = sum(len([j for j in w.get("running", "").split(",") if j]) for w in workers)
        slots = sum(int(w.get("concurrency", 0) or 0) for w in workers)
        manager.stats.observe_slots(busy, slots)
        self.paused_why = manager.paused_why()
