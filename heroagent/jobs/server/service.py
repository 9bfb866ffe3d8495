"""The jobs service: wires the store, the manager, the background loops, upkeep and the local worker pool
to the agent's Redis, and starts and stops them in order."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

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
from heroagent.jobs.live.partitions import partition_topics
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
    this one records nothing), then one batch. The recorders of several partitions run at once: the
    store takes their batches one at a time (its lock)."""
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
        self.layouts = keys.KeyLayout.all_of(config.redis)  # one per partition ([redis] partitions), or one
        self.layout = self.layouts[0]
        self.manager: JobManager | None = None
        self.sampler = Sampler()
        self.recorder: Recorder | None = None
        self.reconciler: Reconciler | None = None
        self.upkeep: Upkeep | None = None
        self.loops: list[SupervisedLoop] = []
        self.pool: WorkerPool | None = None  # the first of `pools`
        self.pools: list[WorkerPool] = []  # the pool of each partition its topics are in (one without partitions)
        self.reconcilers: list[Reconciler] = []
        self.recorders: list[Recorder] = []
        self.leases: list[HistoryLease] = []
        self.outboxes: list[Webhooks] = []
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
        retry = RetryPolicy.from_config(jobs)
        self.manager = JobManager(
            client,
            self._store,
            logs,
            layout=self.layout,
            defaults=defaults,
            retry=retry,
            local_types=self.registry.published,
            process_topics=jobs.process_topics,
            durability=Durability.of(self.config),
            partitions=[
                JobQueue(
                    self._client(layout, **request_options()), layout, retry, durability=Durability.of(self.config)
                )
                for layout in self.layouts[1:]
            ],
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
        self._start_history(manager, logs)
        manager.queue.set_pause_on_error(self.config.topics_pausing_on_error())
        for topic, limits in self.config.topic_limits().items():  # checked with the config; set again at each start
            manager.queue.set_limits(topic, limits)
        self._start_loops(manager, logs)
        self.rpc = RequestServer(self.manager, self.redis_service.client())
        self.rpc.start()
        if processes is not None:  # [jobs] worker_processes: the pool as child processes, a loop of ours watching
            self.processes = processes
            processes.start()
            loop = SupervisedLoop("worker-processes", processes.step, PROCESSES_INTERVAL)
            self.loops.append(loop)
            loop.start()
            return
        self._start_pools(logs)

    def _start_history(self, manager: JobManager, logs: JobLogs) -> None:
        """Per partition (one without [redis] partitions): its reconciler, recorder and history lease; what a
        previous run left recorded and reconciled."""
        parts = manager.queue.partitions()
        store = self._store
        if store is None:
            raise ServiceError("jobs", "the history is not open")
        store.ids_interleave = len(parts) > 1
        self.reconcilers = [Reconciler(part.client, store, part, logs, manager.defaults) for part in parts]
        self.reconciler = self.reconcilers[0]
        self.hero = (
            HeroActor(self.redis_service.client(), manager, self.config.hero.serve)
            if self.config.hero.enabled and self.config.hero.serve
            else None
        )
        on_written = [manager.events.add, *([self.hero.recorded] if self.hero is not None else [])]
        self.recorders = [
            Recorder(
                part.client,
                store,
                part,
                logs,
                manager.stats,
                on_recorded=manager.notify,
                on_stream_lost=reconciler.recover,
                on_written=on_written,
            )
            for part, reconciler in zip(parts, self.reconcilers, strict=True)
        ]
        self.recorder = self.recorders[0]
        manager.reseed = self._recover_all
        self.upkeep = Upkeep(store, manager.queue, logs)
        for part in parts:
            ensure_events_group(part.client, part.layout)
        self.leases = [HistoryLease(part.client, part.layout, self.config.data_path) for part in parts]
        try:
            for lease in self.leases:  # one history writer per Redis: a second server is refused here (lease.py)
                lease.acquire()
        except ServiceError:
            for lease in self.leases:
                lease.release()
            store.close()
            self._store = None
            raise
        self.lease = self.leases[0]
        for recorder, lease in zip(self.recorders, self.leases, strict=True):
            recorder.fence, recorder.before_write = lease.value, lease.hold
            recorder.drain()  # events a previous run read but did not record
        for reconciler in self.reconcilers:
            reconciler.reconcile()

    def _start_loops(self, manager: JobManager, logs: JobLogs) -> None:
        """The background loops: per partition its recorder, reaper, promoter and webhook outbox; the sampler;
        the hero intake and dispatch."""
        parts = manager.queue.partitions()
        jobs = self.config.jobs
        self.outboxes = []
        for part in parts:
            publish_topics(part.client, part.layout, self.config)
            outbox = Webhooks.from_config(part.client, part.layout, logs, self.config)
            outbox.start()
            self.outboxes.append(outbox)
        self.webhooks = self.outboxes[0]
        self.loops = []
        for k in range(len(parts)):
            named = "" if len(parts) == 1 else f"-p{k}"
            reconciler, recorder = self.reconcilers[k], self.recorders[k]
            record = partial(_record, self.leases[k], recorder)
            self.loops += [
                SupervisedLoop(f"recorder{named}", record, expected=REDIS_AWAY),
                SupervisedLoop(f"reaper{named}", reconciler.reap_step, REAP_INTERVAL, expected=REDIS_AWAY),
                SupervisedLoop(f"promoter{named}", reconciler.promote_step, PROMOTE_INTERVAL, expected=REDIS_AWAY),
                SupervisedLoop(f"webhooks{named}", self.outboxes[k].step, expected=REDIS_AWAY),
            ]
        self.loops.append(
            SupervisedLoop("sampler", partial(self.sampler.step, manager), SAMPLE_INTERVAL, expected=REDIS_AWAY)
        )
        if self.hero is not None:
            self.hero.recover()
            for script_type in self.config.hero.serve:
                intake = partial(self.hero.step, script_type)
                self.loops.append(SupervisedLoop(f"hero-intake-{script_type}", intake, expected=REDIS_AWAY))
        hero = self.config.hero
        if hero.enabled and hero.dispatch:  # a dispatcher per partition its topics are in
            for layout, dispatched in partition_topics(self.layouts, hero.dispatch):
                dispatcher = HeroDispatcher(self._queue(layout), dispatched, jobs.lease_seconds)
                dispatcher.start()
                named = "" if len(self.layouts) == 1 else f"-p{layout.PARTITION}"
                self.loops.append(SupervisedLoop(f"hero-dispatch{named}", dispatcher.step, expected=REDIS_AWAY))
        for loop in self.loops:
            loop.start()

    def _start_pools(self, logs: JobLogs) -> None:
        """The server's pools: one per partition its [jobs] topics are in (one without [redis] partitions)."""
        jobs = self.config.jobs
        executor = JobExecutor(self.registry, self.config.share_root, jobs)
        home: JobQueue | None = None  # where every pool is listed: partition 0's keys
        for layout, topics in partition_topics(self.layouts, jobs.topics):
            pool_queue = self._queue(layout)
            home = home or (pool_queue if layout.PARTITION == 0 else self._queue(self.layouts[0]))
            pool = WorkerPool.from_config(pool_queue, executor, logs, jobs, topics=topics)
            pool.registry_queue = home
            self.pools.append(pool)
            pool.start()
        self.pool = self.pools[0] if self.pools else None

    def _recover_all(self) -> None:
        """A create found Redis emptied: make every partition ready again (each one checks its own)."""
        for reconciler in self.reconcilers:
            reconciler.recover()

    def _client(self, layout: keys.KeyLayout, **options: Any) -> redis.Redis:
        """A client of the Redis holding `layout`'s keys (with [redis] partitions, its slot's primary)."""
        if layout.PARTITION == 0:
            return self.redis_service.client(**options)
        if not isinstance(self.redis_service, ExternalRedis):
            raise ServiceError("jobs", "[redis] partitions needs [redis] cluster = true and its url")
        return self.redis_service.target.with_tag(layout.hash_tag).client(**options)

    def _queue(self, layout: keys.KeyLayout) -> JobQueue:
        """A queue on a client of its own (the pool's and the dispatcher's block for longer than requests)."""
        retry = RetryPolicy.from_config(self.config.jobs)
        return JobQueue(self._client(layout), layout, retry, durability=Durability.of(self.config))

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
        stopping = [threading.Thread(target=pool.stop, args=(self.config.jobs.stop_grace,),
                                     kwargs={"redis_answers": redis_answers}) for pool in self.pools]  # fmt: skip
        for thread in stopping:  # the pools of several partitions stop together, each within the grace
            thread.start()
        for thread in stopping:
            thread.join()
        self.pools, self.pool = [], None
        if self.processes is not None:  # they finish what runs, as the pool does, then are killed
            self.processes.stop(grace=self.config.jobs.stop_grace + PROCESSES_STOP_EXTRA)
            self.processes = None
        deadline = time.monotonic() + NO_ANSWER_JOIN  # for all the loops, when Redis did not answer
        for loop in self.loops:
            loop.stop(timeout=10.0 if redis_answers else max(0.0, deadline - time.monotonic()))
        self.loops = []
        for outbox in self.outboxes:  # after its loop: no delivery is handed to a sender any more
            outbox.stop(timeout=10.0 if redis_answers else max(0.0, deadline - time.monotonic()))
        self.outboxes, self.webhooks = [], None
        for recorder in self.recorders if redis_answers else []:
            try:
                recorder.drain()
            except (redis.RedisError, OurDBError) as exc:
                log.warning("jobs: could not record the last events at stop (%s); they are recorded at next start", exc)
        self.recorders, self.recorder = [], None
        for lease in self.leases if redis_answers else []:
            lease.release()
        self.leases, self.lease = [], None
        if self.manager is not None:
            self.manager.notify()
            self.manager = None
        self.reconciler = self.upkeep = self.hero = None
        self.reconcilers = []
        if self._store is not None:
            self._store.close()
            self._store = None

    def hurry(self) -> None:
        """Cut the stop's grace for running jobs short (see `WorkerPool.hurry`; worker processes get a second
        SIGTERM, which hurries them the same way)."""
        for pool in list(self.pools):
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
        for pool in self.pools:
            states += pool.loop_states()
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
        queues = [*([self.manager.queue] if self.manager else []), *(pool.queue for pool in self.pools)]
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
        for recorder in self.recorders:
            if recorder.set_aside:
                found.append(
                    f"recorder: {recorder.set_aside} event(s) could not be recorded and were set aside in "
                    f"{recorder.queue.layout.EVENTS_SET_ASIDE} (see the server log)"
                )
        if self._store is not None and self._store.index_notice:
            found.append(self._store.index_notice)
        if any(reconciler.info_denied for reconciler in self.reconcilers):
            found.append(
                "the Redis user may not run INFO: a Redis restart that lost the last writes is noticed only "
                "when Redis lost all its data; allow +info (README: least-privilege ACL)"
            )
        if self.manager is not None:
            found += list(self.manager.queue.foreign_layout.values())
        given_up = sum(outbox.given_up for outbox in self.outboxes)
        refused = sum(outbox.refused for outbox in self.outboxes)
        if given_up or refused:
            found.append(
                f"webhooks: {given_up} delivery(ies) given up after a day of failed attempts, "
                f"{refused} refused (a private address or no http(s) URL) since start; the jobs' logs "
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
