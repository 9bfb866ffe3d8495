"""The topics spread over partitions (`[redis] partitions = P`, on a Redis Cluster): one JobQueue per
partition, and `PartitionedQueue`, the one the manager and clients use, which sends each call to the
partition it is about.

Why partitions: every key one script touches must be in one hash slot, and one slot is one primary's
single core. A partition is a whole key layout with a hash tag of its own (keys.KeyLayout(partition=k)):
its queues, jobs in flight, events stream, id counter... A topic lives in one partition (a hash of its
name: keys.topic_partition), so a job, its queue, its lease, its events and its webhook are in one slot,
and the scripts run unchanged there. Partition k hands out the ids k+1, k+1+P, k+1+2P... (create.lua), so
ids stay unique, in order within a topic, and an id says its partition (keys.job_id_partition). The
server runs a recorder, a reaper, a promoter and a webhook loop per partition, and a pool serves each
partition its topics are in; all write the one history.

What a partition does not share: a job's dependencies, a chain and a group stay within one partition
(depends_on naming a job of another partition is refused, naming both); an idempotency key and a
no-overlap key hold within a partition; a create of several jobs is all or none within each partition
(one call per partition it touches, in partition order).

Calls about one topic or one job go to its partition; calls about all of them (stats, topics, running,
limits...) ask every partition and merge. Calls only a partition's own loops make (claim, reap, promote,
recorded...) are never made on this class: those loops get the partition's JobQueue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from heroagent.jobs import keys
from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.live.direct import Durability
from heroagent.jobs.live.queue import JobQueue
from heroagent.jobs.model import Job
from heroagent.schema.topic import TopicLimits

Parents = Sequence[Sequence[tuple[int | str, str]]]


class PartitionedQueue(JobQueue):
    """A JobQueue over every partition: each call goes to the partition of its topic or job id, or to all."""

    def __init__(self, parts: Sequence[JobQueue]) -> None:
        home = parts[0]
        super().__init__(home.client, home.layout, home.retry, durability=home.direct.durability)
        self.parts = list(parts)
        self.count = len(parts)

    # ------------------------------------------------------------ finding the partition

    def of_topic(self, topic: str) -> JobQueue:
        return self.parts[keys.topic_partition(topic, self.count)]

    def of_id(self, job_id: int) -> JobQueue:
        return self.parts[keys.job_id_partition(job_id, self.count)]

    def partitions(self) -> list[JobQueue]:
        return list(self.parts)

    @property
    def replicas_behind_at(self) -> float:
        """When a final state last waited for replicas in vain, in any partition (health)."""
        return max((part.replicas_behind_at for part in self.parts), default=0.0)

    @replicas_behind_at.setter
    def replicas_behind_at(self, value: float) -> None:
        """JobQueue.__init__ sets it; the partitions' own are what count."""

    def raise_durability(self, other: Durability) -> None:
        for part in self.parts:
            part.raise_durability(other)

    # ------------------------------------------------------------ creating

    def create(
        self, jobs: Sequence[Job], idempotency_window: float, parents: Parents | None = None
    ) -> list[tuple[int, bool]]:
        """One create call per partition the jobs are in (all or none within each); '@N' and depends_on must
        name jobs of the same partition."""
        where = [keys.topic_partition(job.topic, self.count) for job in jobs]
        groups: dict[int, list[int]] = {}
        for index, partition in enumerate(where):
            groups.setdefault(partition, []).append(index)
        for index, refs in enumerate(parents or []):
            for ref, _ in refs:
                _same_partition(jobs, where, index, ref, self.count)
        out: list[tuple[int, bool] | None] = [None] * len(jobs)
        for partition in sorted(groups):
            members = groups[partition]
            renumber = {f"@{old}": f"@{new}" for new, old in enumerate(members)}
            sub_parents = (
                [[(renumber.get(str(ref), ref), known) for ref, known in parents[i]] for i in members]
                if parents
                else None
            )
            made = self.parts[partition].create([jobs[i] for i in members], idempotency_window, sub_parents)
            for index, answer in zip(members, made, strict=True):
                out[index] = answer
        return [answer for answer in out if answer is not None]

    def enqueue(self, jobs: Sequence[Job]) -> None:
        for part, group in self._by_topic(jobs, lambda job: job.topic):
            part.enqueue(group)

    # ------------------------------------------------------------ one topic

    def pause(self, topic: str) -> None:
        self.of_topic(topic).pause(topic)

    def drain(self, topic: str) -> None:
        self.of_topic(topic).drain(topic)

    def resume(self, topic: str) -> None:
        self.of_topic(topic).resume(topic)

    def known_topic(self, topic: str) -> bool:
        return self.of_topic(topic).known_topic(topic)

    def remove_topic(self, topic: str) -> dict[str, int]:
        return self.of_topic(topic).remove_topic(topic)

    def clear(self, topic: str, reason: str, *, also_running: bool = False, batch: int = 1000) -> tuple[int, int]:
        return self.of_topic(topic).clear(topic, reason, also_running=also_running, batch=batch)

    def set_limits(self, topic: str, limits: TopicLimits) -> None:
        self.of_topic(topic).set_limits(topic, limits)

    def get(self, topic: str, job_id: int) -> Job | None:
        return self.of_topic(topic).get(topic, job_id)

    def cancel(self, topic: str, job_id: int, time_end: float) -> str:
        return self.of_topic(topic).cancel(topic, job_id, time_end)

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
        topic = job.topic if isinstance(job, Job) else job[0]
        return self.of_topic(topic).transition(
            job, status, fields, expect=expect, expect_worker=expect_worker, retry=retry
        )

    def progress(self, reports: Sequence[tuple[Job, str, float, str]]) -> int:
        return sum(part.progress(group) for part, group in self._by_topic(reports, lambda report: report[0].topic))

    def oldest_waiting(self, topics: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for part, group in self._by_topic(topics, lambda topic: topic):
            out.update(part.oldest_waiting(group))
        return out

    # ------------------------------------------------------------ one job id

    def topic_of(self, job_id: int) -> str | None:
        return self.of_id(job_id).topic_of(job_id)

    def get_by_id(self, job_id: int) -> Job | None:
        return self.of_id(job_id).get_by_id(job_id)

    def unrecorded(self, job_id: int, after_version: int, below_version: int) -> list[Job]:
        return self.of_id(job_id).unrecorded(job_id, after_version, below_version)

    def parent_outcomes(self, job_id: int) -> dict[int, tuple[str, str, str]]:
        return self.of_id(job_id).parent_outcomes(job_id)

    def forget_idempotency_keys(self, named: Mapping[str, int]) -> int:
        by_part: dict[int, dict[str, int]] = {}
        for key, job_id in named.items():
            by_part.setdefault(keys.job_id_partition(job_id, self.count), {})[key] = job_id
        return sum(self.parts[k].forget_idempotency_keys(group) for k, group in by_part.items())

    # ------------------------------------------------------------ every partition

    def set_pause_on_error(self, topics: Iterable[str]) -> None:
        wanted = list(topics)
        for part in self.parts:
            part.set_pause_on_error(wanted)

    def topic_states(self) -> dict[str, dict[str, bool]]:
        return dict(sorted(_merged(part.topic_states() for part in self.parts).items()))

    def paused_why(self) -> dict[str, str]:
        return _merged(part.paused_why() for part in self.parts)

    def limits(self) -> dict[str, TopicLimits]:
        return _merged(part.limits() for part in self.parts)

    def topics(self) -> list[str]:
        return sorted({topic for part in self.parts for topic in part.topics()})

    def claimable_topics(self) -> list[str]:
        return sorted({topic for part in self.parts for topic in part.claimable_topics()})

    def stats(self) -> dict[str, dict[str, int]]:
        return dict(sorted(_merged(part.stats() for part in self.parts).items()))

    def running(self, limit: int = 1000) -> list[Job]:
        found = [job for part in self.parts for job in part.running(limit)]
        return sorted(found, key=lambda job: job.job_id)[:limit]

    def queued_and_inflight_ids(self) -> set[int]:
        return {job_id for part in self.parts for job_id in part.queued_and_inflight_ids()}

    def upgrade_queues(self) -> int:
        return sum(part.upgrade_queues() for part in self.parts)

    def last_event_id(self) -> str | None:
        """Each partition's newest event id (JSON), for `events_recorded_through`."""
        newest = [part.last_event_id() for part in self.parts]
        return None if all(n is None for n in newest) else json.dumps(newest)

    def events_recorded_through(self, event_id: str) -> bool:
        newest = json.loads(event_id)
        return all(n is None or part.events_recorded_through(n) for part, n in zip(self.parts, newest, strict=True))

    # ------------------------------------------------------------ helpers

    def _by_topic(self, items: Iterable[Any], topic_of: Any) -> list[tuple[JobQueue, list[Any]]]:
        groups: dict[int, list[Any]] = {}
        for item in items:
            groups.setdefault(keys.topic_partition(topic_of(item), self.count), []).append(item)
        return [(self.parts[k], group) for k, group in sorted(groups.items())]


def _same_partition(jobs: Sequence[Job], where: list[int], index: int, ref: int | str, count: int) -> None:
    """A dependency crossing partitions cannot be settled by the script that ends its parent: refused."""
    mine = where[index]
    if isinstance(ref, str) and ref.startswith("@"):
        other = where[int(ref[1:])] if ref[1:].isdigit() and int(ref[1:]) < len(jobs) else mine
        named = f"the job {ref} of this call (topic {jobs[int(ref[1:])].topic!r})" if other != mine else ""
    else:
        other = keys.job_id_partition(int(ref), count)
        named = f"job {ref}"
    if other != mine:
        raise InvalidJobError(
            f"depends_on: {named} is in partition {other} of [redis] partitions = {count}, and topic "
            f"{jobs[index].topic!r} in partition {mine}: a job can only depend on jobs of its own partition "
            "(nothing was created); give the workflow topics of one partition"
        )


def _merged(dicts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for found in dicts:
        out.update(found)
    return out


def partition_queues(first: JobQueue, more: Iterable[JobQueue]) -> JobQueue:
    """The queue callers use: `first` alone without partitions, else a PartitionedQueue over them all."""
    rest = list(more)
    return PartitionedQueue([first, *rest]) if rest else first


def partition_topics(layouts: list[keys.KeyLayout], topics: Sequence[str]) -> list[tuple[keys.KeyLayout, list[str]]]:
    """The pools a process runs for `topics`: per partition, the topics in it ("*": every partition serves all
    of its own); a partition none of them is in gets no pool. One pool without partitions."""
    if "*" in topics or len(layouts) == 1:
        return [(layout, list(topics)) for layout in layouts]
    found = []
    for layout in layouts:
        mine = [topic for topic in topics if keys.topic_partition(topic, layout.PARTITIONS) == layout.PARTITION]
        if mine:
            found.append((layout, mine))
    return found
