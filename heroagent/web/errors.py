"""Every error the web layer answers: JSON `{"error": ...}` under /api, a friendly page elsewhere.

User mistakes map to 4xx with a message that names the field or the fix; a Redis that is down is a
503 that says so; anything unexpected is logged with its traceback and answered with a short 500.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from heroagent.errors import InvalidInputError, NotFoundError, ServiceError
from heroagent.jobs.errors import (
    HistoryDamagedError,
    InvalidTransitionError,
    JobIdsNotSeededError,
    ReplicasBehindError,
)
from heroagent.ourdb import StorageError
from heroagent.redis_connect import redis_disk_problem

log = logging.getLogger(__name__)

REDIS_DOWN = "Redis is not reachable right now; HeroAgent keeps trying and this page works again when it is back."


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def api_error(status: int, message: str) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="heroagent"'
    return response, status


def page_error(status: int, message: str, title: str = "") -> tuple[str, int]:
    titles = {400: "Bad request", 401: "Not logged in", 403: "Refused", 404: "Not found", 409: "Not allowed now"}
    heading = title or titles.get(status, "Something went wrong")
    return render_template("error.html", status=status, title=heading, message=message), status


def error(status: int, message: str) -> tuple[Response, int] | tuple[str, int]:
    return api_error(status, message) if wants_json() else page_error(status, message)


def _too_large() -> str:
    """Why a body was refused as too large: the limit, where it comes from, and what to do instead."""
    from heroagent.web import API_MAX_BODY, BODY_HEADROOM, JSON_ESCAPE_FACTOR, PAGE_MAX_BODY, UPLOAD_PATH
    from heroagent.web.share_files import UPLOAD_MAX_BYTES

    given = f" of {request.content_length} bytes" if request.content_length else ""
    if request.path == UPLOAD_PATH:
        return (
            f"the upload{given} is over the limit of {UPLOAD_MAX_BYTES // (1024 * 1024)} MiB for a file sent from "
            "this page; put larger files in the share over WebDAV"
        )
    if request.path.startswith("/api/"):
        limit = int(current_app.config[API_MAX_BODY])
        values = (limit - BODY_HEADROOM) // JSON_ESCAPE_FACTOR
        return (
            f"the request body{given} is over the JSON API's limit of {limit} bytes ({JSON_ESCAPE_FACTOR} x [jobs] "
            f"max_value_bytes = {values}, + {BODY_HEADROOM // 1024} KiB for the other fields: params up to "
            "[jobs] max_value_bytes fit however JSON escapes them); send smaller params, or keep a large input "
            "in a file of the WebDAV share and have the job read it"
        )
    return (
        f"the request body{given} is over a page's limit of {PAGE_MAX_BODY // (1024 * 1024)} MiB; for larger "
        "params use the JSON API (POST /api/jobs, up to [jobs] max_value_bytes) or a file of the WebDAV share"
    )


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidInputError)
    def invalid(exc: InvalidInputError) -> tuple[Response, int] | tuple[str, int]:
        return error(400, str(exc))

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError) -> tuple[Response, int] | tuple[str, int]:
        return error(404, str(exc))

    @app.errorhandler(InvalidTransitionError)
    def conflict(exc: InvalidTransitionError) -> tuple[Response, int] | tuple[str, int]:
        return error(409, str(exc))

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> tuple[Response, int] | tuple[str, int]:
        log.warning("ui: Redis error while answering %s: %s", request.path, exc)
        problem = redis_disk_problem(exc) or (
            str(exc) if isinstance(exc, ReplicasBehindError) else f"Redis is not reachable: {exc}"
        )
        if wants_json() and request.method == "POST" and request.path == "/api/jobs":
            # The create may have reached Redis before the answer was lost: say so, and how to be sure.
            return api_error(
                503,
                f"{problem}. The job may or may not have been made. Send the same request "
                "again with an idempotency_key (the same key each time): it returns the job if it was made, "
                "and makes it once if not",
            )
        if wants_json():
            return api_error(503, problem)
        if redis_disk_problem(exc):
            return page_error(503, problem, title="Redis cannot write to disk")
        return page_error(503, REDIS_DOWN, title="Redis is down")

    @app.errorhandler(JobIdsNotSeededError)
    def not_seeded(exc: JobIdsNotSeededError) -> tuple[Response, int] | tuple[str, int]:
        return error(503, str(exc))

    @app.errorhandler(HistoryDamagedError)
    def history_damaged(exc: HistoryDamagedError) -> tuple[Response, int] | tuple[str, int]:
        return error(503, str(exc))  # the record cannot be served until an operator repairs or restores it

    @app.errorhandler(ServiceError)
    def service_down(exc: ServiceError) -> tuple[Response, int] | tuple[str, int]:
        return error(503, str(exc))

    @app.errorhandler(StorageError)
    def disk_refused(exc: StorageError) -> tuple[Response, int] | tuple[str, int]:
        log.warning("ui: the disk refused a write while answering %s: %s", request.path, exc)
        return error(503, f"the job history cannot be written now, so nothing was stored: {exc}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int] | tuple[str, int] | Response:
        status = exc.code or 500
        messages = {
            404: f"nothing at {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: _too_large(),
        }
        message = messages.get(status, exc.description or exc.name)
        answer = error(status, message)
        allow = dict(exc.get_headers()).get("Allow")
        if not allow:
            return answer
        response = make_response(answer)
        response.headers["Allow"] = allow  # a 405 names the methods the resource takes (RFC 9110)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int] | tuple[str, int]:
        log.exception("ui: unexpected error answering %s %s", request.method, request.path)
        return error(500, "internal error; the server log has the details")
