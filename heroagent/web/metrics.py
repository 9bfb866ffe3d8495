"""`GET /metrics`: the appliance in Prometheus text format (version 0.0.4).

Jobs by status and topic come from the history's index (everything stored); finished counts and run
times from what this process's recorder saw since it started; queue lengths live from Redis.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Response, current_app

from heroagent.errors import ServiceError
from heroagent.web.context import Agent, current_agent
from heroagent.web.events import STREAMS, EventStreams

bp = Blueprint("metrics", __name__)

Sample = tuple[str, dict[str, str], float]  # (name suffix, labels, value)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            number = repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))
            self.lines.append(f"{name}{suffix}{_labels(**labels)} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def exposition(agent: Agent, streams: EventStreams | None = None) -> str:
    """The metrics text; `streams`: the app's event streams (GET /api/events), counted when given."""
    out = _Exposition()
    states = agent.health()
    out.family(
        "heroagent_service_up",
        "gauge",
        "1 if the service is running, 0 if it is stopped or down (disabled services are left out).",
        (
            ("", {"service": name}, 1 if state == "running" else 0)
            for name, state in states.items()
            if state != "disabled"
        ),
    )
    if streams is not None:
        out.family(
            "heroagent_event_streams",
            "gauge",
            "Event streams (GET /api/events) open now; at most heroagent_event_streams_limit at once.",
            [("", {}, streams.count)],
        )
        out.family(
            "heroagent_event_streams_limit",
            "gauge",
            "The most event streams the dashboard serves at once (each holds one of its threads).",
            [("", {}, streams.limit)],
        )
    try:
        manager = agent.get_job_manager()
    except ServiceError:  # the job system is off or not running: services only
        return out.text()
    counts = manager.store.count_by_status_and_topic()
    out.family(
        "heroagent_jobs",
        "gauge",
        "Jobs in the history by status and topic.",
        (("", {"status": s, "topic": t}, n) for (s, t), n in sorted(counts.items())),
    )
    if states.get("redis") == "running":
        queues = manager.queue_stats()
        out.family(
            "heroagent_queue_length",
            "gauge",
            "Jobs waiting in the topic's queue.",
            (("", {"topic": t}, q["queued"]) for t, q in sorted(queues.items())),
        )
        out.family(
            "heroagent_jobs_inflight",
            "gauge",
            "Jobs of the topic held by a worker under a lease.",
            (("", {"topic": t}, q["inflight"]) for t, q in sorted(queues.items())),
        )
        out.family(
            "heroagent_workers",
            "gauge",
            "Worker pools that reported in the last 30 seconds.",
            [("", {}, len(manager.list_workers()))],
        )
        out.family(
            "heroagent_job_progress",
            "gauge",
            "Progress (0 to 1) that running jobs last reported (the first 1000 running jobs).",
            (("", {"topic": job.topic, "jobid": str(job.job_id)}, job.progress) for job in manager.running_jobs()),
        )
    finished = manager.stats.finished_counts()
    out.family(
        "heroagent_jobs_finished_total",
        "counter",
        "Jobs that finished since this server started, by topic and final status.",
        (("", {"topic": t, "status": s}, n) for (t, s), n in sorted(finished.items())),
    )
    samples: list[Sample] = []
    for topic, histogram in sorted(manager.stats.durations().items()):
        for le, count in histogram.cumulative():
            samples.append(("_bucket", {"topic": topic, "le": le}, count))
        samples.append(("_sum", {"topic": topic}, histogram.total))
        samples.append(("_count", {"topic": topic}, histogram.count))
    out.family(
        "heroagent_job_duration_seconds",
        "histogram",
        "Run time of jobs that ended done or error since this server started.",
        samples,
    )
    return out.text()


@bp.get("/metrics")
def metrics() -> Response:
    return Response(exposition(current_agent(), current_app.extensions.get(STREAMS)), content_type=CONTENT_TYPE)
