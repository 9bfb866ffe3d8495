"""The job system's operations that another process can ask for, declared once: name, arguments, result.

`JobOperations` is the table. Each method is one operation: its signature is the operation's
arguments and result, its `@operation(...)` says how a client reaches it and which edges offer it:
- `via=SERVER`: a request to the running `heroagent serve` over Redis (the only writer of the history).
  The method here IS the client's call: `@operation` replaces the body with one that sends the request
  (`self.call(name, ...)`) and turns the answer into the declared result (`Job`, `list[Job]`, ...).
- `via=REDIS`: done by the caller straight in Redis (creating, reading a job in flight, limits, the
  worker registry); the client implements it itself, with this signature. The server answers it too
  when asked (`get_job` of a job no longer in Redis asks the server for the history's state), except
  an operation that waits (`waits=True`): one thread answers every request, and none may block it.
- `api`: the routes of the JSON API that offer it (`"POST /api/jobs/<int:job_id>/cancel"`, Flask's rule
  syntax), `cli`: the `heroagent` commands that do (`"job cancel"`); empty where an edge has none.

From it come: the request server's list of what may be asked (`server_operations()`), `JobClient`'s
methods and their typing (it subclasses this class), and the test that the manager, the client, the
API's routes and the CLI cover every operation (tests/jobs/live/test_operations.py).
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from heroagent.jobs.model import Job, JobStatus

if TYPE_CHECKING:
    from heroagent.jobs.live.workflows import Workflow  # loaded when a chain or group is made

F = TypeVar("F", bound=Callable[..., Any])


class Via(StrEnum):
    SERVER = "server"  # a request to `heroagent serve`
    REDIS = "redis"  # straight in Redis, by the caller


@dataclass(frozen=True)
class Operation:
    name: str
    via: Via
    api: tuple[str, ...]
    cli: tuple[str, ...]
    waits: bool
    signature: inspect.Signature


OPERATIONS: dict[str, Operation] = {}


def operation(via: Via, *, api: Iterable[str] = (), cli: Iterable[str] = (), waits: bool = False) -> Callable[[F], F]:
    """Declare the method below as an operation (see the module's docstring)."""

    def declare(method: F) -> F:
        op = Operation(method.__name__, via, tuple(api), tuple(cli), waits, inspect.signature(method))
        OPERATIONS[op.name] = op
        return method if via is Via.REDIS else typing.cast(F, _request(op, method))

    return declare


def server_operations() -> frozenset[str]:
    """The names a client may ask the server for: every operation but those that wait."""
    return frozenset(name for name, op in OPERATIONS.items() if not op.waits)


def _request(op: Operation, method: Callable[..., Any]) -> Callable[..., Any]:
    """The client's side of a server operation: check the arguments against the declaration, send them,
    and give the answer back as the declared result."""

    result = typing.get_type_hints(method)["return"]

    @functools.wraps(method)
    def send(self: JobOperations, *args: Any, **kwargs: Any) -> Any:
        bound = op.signature.bind(self, *args, **kwargs)  # a wrong call fails here, as a local call would
        return _decode(result, self.call(op.name, *bound.args[1:], **bound.kwargs))

    return send


def _decode(result: Any, answer: Any) -> Any:
    """An answer (JSON) as the declared result type: a Job, a list of them, text, nothing, or as it is."""
    if result is Job:
        return Job.from_dict(answer)
    if typing.get_origin(result) is list and typing.get_args(result) == (Job,):
        return [Job.from_dict(item) for item in answer]
    if result is str:
        return str(answer)
    if result is type(None):
        return None
    if typing.get_origin(result) is dict:
        return dict(answer)
    return answer


class JobOperations:
    """Every operation on jobs that another process can ask for. `JobClient` is this class, with `call`
    (how a request reaches the server) and the `via=REDIS` operations implemented; `JobManager` has the
    same methods with the same signatures (the server's side)."""

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        """Send operation `op` to the server and return its answer (JSON). The client implements it."""
        raise NotImplementedError

    # Creating jobs ------------------------------------------------------------------------------

    @operation(Via.REDIS, api=["POST /api/jobs"], cli=["job submit"])
    def create_job(
        self,
        topic: str | None,
        params: str | Mapping[str, Any],
        *,
        params_type: str | None = None,
        action: str | None = None,
        timeout: float | None = None,
        circle_id: str = "",
        session_key: str = "",
        log: bool = False,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        run_at: datetime | float | None = None,
        delay: float | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        no_overlap_key: str | None = None,
        overlap_delay: float | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        group: str | None = None,
        depends_on: Sequence[int] | str | None = None,
        on_parent_failure: str | None = None,
        callback_url: str | None = None,
    ) -> Job:
        """Create one job (no server needed: one Lua script in Redis)."""
        raise NotImplementedError

    @operation(Via.REDIS)
    def create_jobs(self, specs: Iterable[Mapping[str, Any]]) -> list[Job]:
        """Create jobs, all or none, in one Redis call."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["POST /api/jobs"])
    def submit(self, specs: Iterable[Mapping[str, Any]]) -> list[tuple[Job, bool]]:
        """Create jobs, all or none; per spec (the job, created now? False: an earlier job had its key)."""
        raise NotImplementedError

    # Reading jobs -------------------------------------------------------------------------------

    @operation(Via.REDIS, api=["GET /api/jobs/<int:job_id>"], cli=["job get"])
    def get_job(self, job_id: int) -> Job:
        """The job's current state: Redis while it is in flight, else the history's."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/jobs/by-key/<path:key>"], cli=["job get"])
    def get_job_by_idempotency_key(self, key: str) -> Job:
        """The job created with this idempotency key (within its window, or the newest in the history)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/jobs"], cli=["job list"])
    def list_jobs(
        self,
        status: str | JobStatus | None = None,
        topic: str | None = None,
        text: str | None = None,
        limit: int = 50,
        before: int | None = None,
        circle_id: str | None = None,
        tenant_id: str | None = None,
        user_id: str | None = None,
        group: str | None = None,
    ) -> list[Job]:
        """Jobs, newest first, by the history's index; a page ends before the id `before` (the filters:
        schema/filters.py)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/jobs/<int:job_id>/history"], cli=["job history"])
    def get_history(self, job_id: int) -> list[Job]:
        """Every stored version of the job, oldest first."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/jobs/<int:job_id>/log"], cli=["job logs"])
    def get_log(self, job_id: int, offset: int = 0) -> str:
        """The job's log from byte `offset`."""
        raise NotImplementedError

    @operation(Via.REDIS, cli=["job submit"], waits=True)
    def wait_for_job(self, job_id: int, timeout: float | None = None) -> Job:
        """Wait until the job has ended; TimeoutError after `timeout` seconds."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/jobs/dead"], cli=["job dead list"])
    def list_dead(self, topic: str | None = None, limit: int = 50, before: int | None = None) -> list[Job]:
        """Jobs that ended in error with no retries left, newest first."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/job-types"])
    def job_types(self) -> list[dict[str, Any]]:
        """Every job type (actor) with the defaults its jobs get and how many jobs called it."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["POST /api/chains"], cli=["job chain"])
    def chain(self, specs: Sequence[Mapping[str, Any]], *, group: str | None = None) -> Workflow:
        """Create jobs that run one after the other: each waits until the one before it has ended done (a
        failure cancels the rest, unless a job says otherwise with on_parent_failure). All or none."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["POST /api/groups"], cli=["job group-submit"])
    def group(
        self,
        specs: Sequence[Mapping[str, Any]],
        *,
        on_complete: Mapping[str, Any] | None = None,
        group: str | None = None,
    ) -> Workflow:
        """Create jobs that run side by side, and a callback job (`on_complete`) that runs once, when every
        one of them has ended (after its retries), with their outcomes in its ctx.parent_results."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/groups/<path:group>"], cli=["job group"])
    def get_group(self, group: str) -> dict[str, Any]:
        """A chain's or group's jobs counted by status, and its callback's id and status."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["GET /api/job-groups"])
    def job_groups(self) -> dict[str, dict[str, int]]:
        """Every group a job names, with its jobs counted by status."""
        raise NotImplementedError

    # Changing jobs ------------------------------------------------------------------------------

    @operation(Via.SERVER, api=["POST /api/jobs/<int:job_id>/cancel"], cli=["job cancel"])
    def cancel_job(self, job_id: int) -> Job:
        """Cancel a queued or running job."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/jobs/<int:job_id>/suspend"], cli=["job suspend"])
    def suspend_job(self, job_id: int) -> Job:
        """Pause a running job (suspending, then suspended)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/jobs/<int:job_id>/resume"], cli=["job resume"])
    def resume_job(self, job_id: int) -> Job:
        """Let a suspended job go on."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/jobs/<int:job_id>/retry"], cli=["job retry"])
    def retry_job(self, job_id: int) -> Job:
        """Run a finished job again as a new attempt."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/jobs/dead/retry"], cli=["job dead retry"])
    def retry_dead(self, topic: str | None = None) -> list[Job]:
        """Queue every dead job again (of one topic)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["DELETE /api/jobs/<int:job_id>"], cli=["job delete"])
    def delete_job(self, job_id: int) -> None:
        """Delete a job from Redis and the history (cancel a running job first)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/jobs/bulk"])
    def bulk_jobs(
        self, action: str, job_ids: list[int] | None = None, filters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Retry, cancel or delete jobs (by id, or those a filter matches), one bounded batch per call."""
        raise NotImplementedError

    @operation(Via.SERVER)
    def update_job_status(self, job_id: int, status: str | JobStatus, **fields: str) -> Job:
        """Move a job to `status` (a transition the model allows), with fields to set."""
        raise NotImplementedError

    @operation(Via.SERVER)
    def complete_job(self, job_id: int, result: Any) -> Job:
        """End a job `done` with `result`: a text is kept as text, any other JSON value as JSON."""
        raise NotImplementedError

    @operation(Via.SERVER)
    def fail_job(self, job_id: int, error: str) -> Job:
        """End a running job in `error`."""
        raise NotImplementedError

    # Topics -------------------------------------------------------------------------------------

    @operation(Via.SERVER, api=["GET /api/queues"], cli=["queue list"])
    def queue_stats(self) -> dict[str, dict[str, int]]:
        """Per topic: jobs waiting and in flight."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/queues/<topic>/<action>"], cli=["queue pause"])
    def pause_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Stop handing out the topic's jobs (creates still queue)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/queues/<topic>/<action>"], cli=["queue resume"])
    def resume_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Hand out the topic's jobs again (also ends a drain)."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/queues/<topic>/<action>"], cli=["queue drain"])
    def drain_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Take no new jobs for the topic (creates get 409); what waits still runs."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/queues/<topic>/<action>"], cli=["queue clear"])
    def clear_topic(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Cancel the topic's waiting jobs."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["POST /api/queues/<topic>/<action>"], cli=["queue cancel-all"])
    def cancel_all(self, topic: str, *, create: bool = False) -> dict[str, Any]:
        """Cancel the topic's waiting jobs and ask its running ones to stop."""
        raise NotImplementedError

    @operation(
        Via.SERVER,
        api=["POST /api/queues/<topic>/<action>"],
        cli=["queue pause", "queue resume", "queue drain", "queue clear", "queue cancel-all"],
    )
    def control_topic(self, topic: str, action: str, *, create: bool = False) -> dict[str, Any]:
        """One of pause, resume, drain, clear, cancel-all by name. Each of them is refused for a topic that has
        never had a job (TopicNotFoundError, a 404: a typo makes no topic) unless `create`."""
        raise NotImplementedError

    @operation(Via.SERVER, api=["DELETE /api/queues/<topic>"], cli=["queue remove"])
    def remove_topic(self, topic: str) -> None:
        """Forget a topic with nothing queued, running or scheduled (its queue, state and limits; finished jobs
        stay in the history); TopicNotEmptyError (409) names what is left."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["PUT /api/queues/<topic>/limits"], cli=["queue limit"])
    def set_topic_limits(
        self, topic: str, *, max_running: int | None = None, rate: str | None = None, create: bool = False
    ) -> dict[str, Any]:
        """A topic's limits over every worker (both None: no limits); returns them as stored. A topic that has
        never had a job is refused unless `create`, as by the other topic actions."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["GET /api/queues"], cli=["queue list"])
    def topic_limits(self) -> dict[str, dict[str, Any]]:
        """Topic -> {max_running, rate} for every topic that has limits."""
        raise NotImplementedError

    # Workers ------------------------------------------------------------------------------------

    @operation(Via.REDIS, api=["GET /api/workers"], cli=["workers", "worker list"])
    def list_workers(self) -> list[dict[str, str]]:
        """Every worker pool that reported recently, in any process."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["POST /api/workers/<path:worker_id>/drain"], cli=["worker drain"])
    def drain_worker(self, worker_id: str) -> dict[str, str]:
        """Ask a worker pool to drain: it claims nothing more and finishes what runs."""
        raise NotImplementedError

    @operation(Via.REDIS, api=["POST /api/workers/<path:worker_id>/resume"], cli=["worker drain"])
    def resume_worker(self, worker_id: str) -> dict[str, str]:
        """A draining worker pool serves again."""
        raise NotImplementedError

    # The history --------------------------------------------------------------------------------

    @operation(Via.SERVER, cli=["upkeep cleanup"])
    def cleanup_history(self, older_than_days: float, *, dry_run: bool = False) -> dict[str, Any]:
        """Remove finished jobs older than that from the history (retention by hand)."""
        raise NotImplementedError

    @operation(Via.SERVER, cli=["upkeep compact"])
    def compact_history(self) -> str:
        """Compact the history's files now."""
        raise NotImplementedError
