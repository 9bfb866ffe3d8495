"""The agent a request is served for: every blueprint reaches it here (the app factory put it there)."""

from __future__ import annotations

from flask import current_app

from heroagent.factory import HeroAgent
from heroagent.jobs.manager import JobManager


def current_agent() -> HeroAgent:
    agent: HeroAgent = current_app.extensions["heroagent"]
    return agent


def current_manager() -> JobManager:
    """The job manager; ServiceError (a 503) when the job system is off or not running."""
    return current_agent().get_job_manager()
