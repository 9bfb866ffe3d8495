"""The dashboard's schedules page and its buttons, and the dead-jobs bulk retry.

Kept apart from pages.py because schedules are their own concern (heroagent/schedules); the page polls
its partial like the others.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heroagent.web.context import current_manager, current_schedules
from heroagent.web.pages import is_htmx

bp = Blueprint("schedules", __name__)


def schedules_data() -> dict[str, Any]:
    book = current_schedules()
    return {
        "schedules": book.list(),
        "leader": book.leader(),
        "now": time.time(),
    }


@bp.get("/schedules")
def index() -> str:
    return render_template("schedules.html", **schedules_data())


@bp.get("/partials/schedules")
def partial() -> str:
    return render_template("_schedules.html", **schedules_data())


def _after(message: str) -> str | BaseResponse:
    if is_htmx():
        return render_template("_schedules.html", message=message, **schedules_data())
    return redirect(url_for("schedules.index"), code=303)


@bp.post("/schedules/<name>/pause")
def pause(name: str) -> str | BaseResponse:
    current_schedules().pause(name)
    return _after(f"Paused {name}.")


@bp.post("/schedules/<name>/resume")
def resume(name: str) -> str | BaseResponse:
    current_schedules().resume(name)
    return _after(f"Resumed {name}.")


@bp.post("/schedules/<name>/remove")
def remove(name: str) -> str | BaseResponse:
    current_schedules().remove(name)
    return _after(f"Removed {name}.")


@bp.post("/jobs/dead/retry")
def retry_dead() -> BaseResponse:
    """Queue every dead job again (of the topic the jobs page is filtered to, if any)."""
    topic = request.form.get("topic", "").strip() or None
    current_manager().retry_dead(topic=topic)
    target = url_for("pages.jobs", topic=topic or None)
    if is_htmx():
        return Response("", 200, headers={"HX-Redirect": target})
    return redirect(target, code=303)
