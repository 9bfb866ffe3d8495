"""Upkeep of the job system: the stray sweep, history retention and compaction.

Run by the scheduler as `upkeep.*` schedules (see heroagent/schedules/service.py), each returning a
line that says what it did, which the Schedules page shows.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from heroagent.jobs.history.store import JobStore
from heroagent.jobs.live.joblog import JobLogs
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.live.workers import list_workers, pool_of

log = logging.getLogger(__name__)

DELETE_BATCH = 1000


class Upkeep:
    def __init__(self, store: JobStore, queue: JobQueue, logs: JobLogs) -> None:
        self.store = store
        self.queue = queue
        self.logs = logs

    def sweep_strays(self, min_age: float = 60.0) -> str:
        """Find and repair Redis entries nothing would otherwise fix; returns (and logs) what it did.

        A finished job's hash whose final state is in the history is deleted (its state is recorded
        first if the history lacks it); an active job with no lease gets one, so the reaper returns it;
        a new job in no queue is queued; lease and schedule entries of jobs not in that state are dropped;
        ids of workers that died while they waited to be handed a job leave their topics' takers.
        """
        home = self.queue.partitions()[0]
        pools = {worker["id"] for worker in list_workers(home.client, home.layout)}
        counts: dict[str, int] = {}
        for part in self.queue.partitions():  # each partition's keys ([redis] partitions), or the one queue
            for name, count in self._sweep(part, min_age, pools).items():
                counts[name] = counts.get(name, 0) + count
        counts.pop("terminal", None)
        repaired = {k: v for k, v in counts.items() if v and k not in ("ok", "gone")}
        summary = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(repaired.items())) or "nothing stray"
        if repaired:
            log.warning("jobs: stray sweep repaired Redis: %s", summary)
        return f"checked {counts.get('ok', 0) + sum(repaired.values())} job hashes: {summary}"

    def _sweep(self, queue: JobQueue, min_age: float, pools: set[str]) -> dict[str, int]:
        """One partition's sweep (see sweep_strays): its counts by outcome."""
        counts, terminal = queue.sweep(min_age=min_age)
        removed = 0
        for topic, job_id in terminal:
            live = queue.get(topic, job_id)
            if live is None or not live.status.terminal or time.time() - live.time_end < min_age:
                continue  # gone meanwhile, or recent: its event may still be on the way to the recorder
            if self.store.topic_of(job_id) is None:
                log.warning("jobs: stray sweep leaves finished job %d in Redis: the history does not have it", job_id)
                continue
            if self.store.status_of(job_id) is not live.status:
                self.store.record([live])
            queue.recorded([(topic, job_id, live.status.value)], [])
            removed += 1
        counts["finished_hashes_removed"] = removed
        counts["dead_takers_dropped"] = queue.prune_takers(lambda worker_id: pool_of(worker_id) in pools)
        return counts

    def remove_history_before(self, cutoff: float) -> str:
        """Delete finished jobs that ended before `cutoff` (unix seconds) from the history and their logs."""
        removed = remove_finished_before(self.store, self.queue, self.logs, cutoff)
        return f"removed {removed['jobs']} finished job(s)"

    def compact_history(self) -> str:
        """Rewrite the history's files without deleted and superseded-but-unreachable records."""
        return self.store.compact().summary()


def remove_finished_before(
    store: JobStore, queue: JobQueue, logs: JobLogs, cutoff: float, *, dry_run: bool = False
) -> dict[str, Any]:
    """Retention: the finished jobs that ended before `cutoff` (unix seconds), deleted with their logs
    and their idempotency keys (the job a key named is gone) unless `dry_run`. Returns what it removed
    (or would): how many, by status and topic, the time span, and the first ids."""
    old = store.finished_before(cutoff)
    by_status: dict[str, int] = {}
    by_topic: dict[str, int] = {}
    keyed: dict[str, int] = {}
    for start in range(0, len(old), DELETE_BATCH):
        for row in store.index.rows(old[start : start + DELETE_BATCH]).values():
            by_status[row.status] = by_status.get(row.status, 0) + 1
            by_topic[row.topic] = by_topic.get(row.topic, 0) + 1
            if row.idem:
                keyed[row.idem] = row.job_id
    if not dry_run:
        for start in range(0, len(old), DELETE_BATCH):
            chunk = old[start : start + DELETE_BATCH]
            store.delete_many(chunk)
            for job_id in chunk:
                logs.remove(job_id)
        named = list(keyed.items())
        for start in range(0, len(named), DELETE_BATCH):
            queue.forget_idempotency_keys(dict(named[start : start + DELETE_BATCH]))
        if old:
            log.info("jobs: history retention removed %d finished job(s)", len(old))
    return {
        "dry_run": dry_run,
        "cutoff": cutoff,
        "jobs": len(old),
        "by_status": by_status,
        "by_topic": by_topic,
        "first_ids": old[:20],
    }
