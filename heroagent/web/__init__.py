"""The web layer (Flask): the only part of HeroAgent that knows about HTTP pages and JSON routes.

`create_app(agent)` is the app factory: one app per agent, no module-level state. Blueprints:
`auth` (login, logout), `pages` (dashboard and its htmx partials), `api` (JSON under /api, and the live
event stream /api/events: events.py) and `metrics` (/metrics). Every request passes `auth.check_request`
first; every response gets the security headers below.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from flask import Flask, Request, Response, current_app
from htmx_flask import Htmx

from heroagent.hosts import HostAllowList
from heroagent.resources import resource_dir
from heroagent.throttle import FailureThrottle
from heroagent.web import (
    api,
    auth,
    bulk_pages,
    group_pages,
    metrics,
    pages,
    schedule_pages,
    share_pages,
    value_pages,
)
from heroagent.web.errors import register_error_handlers
from heroagent.web.events import STREAMS, EventStreams, page_events_url, remember_place
from heroagent.web.present import register_filters
from heroagent.web.share_files import UPLOAD_MAX_BYTES

if TYPE_CHECKING:
    from heroagent.web.context import Agent

PAGE_MAX_BODY = 1024 * 1024  # a page's form (login, submit, buttons); an upload has its own (UPLOAD_PATH)
# The JSON API's body limit follows [jobs] max_value_bytes: a create whose params fit it must fit the body
# too, however the client's JSON escapes them. A `\\uXXXX` escape takes at most 3 times a character's UTF-8
# bytes (6 for a 2-byte character, 12 for a 4-byte one), plus room for the other fields.
JSON_ESCAPE_FACTOR = 3
BODY_HEADROOM = 64 * 1024
API_MAX_BODY = "HEROAGENT_API_MAX_BODY"  # the app's config key holding the API's limit
UPLOAD_PATH = "/scripts/upload"  # the Scripts page's upload: a body of up to UPLOAD_MAX_BYTES


def api_body_limit(max_value_bytes: int) -> int:
    """The largest body the JSON API reads: room for params of `max_value_bytes` as any JSON encoder writes them."""
    return JSON_ESCAPE_FACTOR * max_value_bytes + BODY_HEADROOM


class SizedBody:
    """Mixed into the app's request class (htmx_flask's, itself Flask's): the body limit depends on where the
    request goes, the API's (api_body_limit) or a page's. A property, as Flask 3.0 has no per-request limit."""

    path: str

    @property
    def max_content_length(self) -> int | None:
        if self.path.startswith("/api/"):
            return int(current_app.config[API_MAX_BODY])
        if self.path == UPLOAD_PATH:  # a file for the share: its own limit, and room for the form's fields
            return UPLOAD_MAX_BYTES + BODY_HEADROOM
        return int(current_app.config["MAX_CONTENT_LENGTH"])


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


DEFAULT_STREAMS = 8  # event streams open at once (web/events.py); the UI server gives half its threads


def create_app(agent: Agent, *, max_streams: int = DEFAULT_STREAMS) -> Flask:
    """The app serving `agent`; at most `max_streams` event streams (each holds a server thread) at once."""
    app = Flask(
        "heroagent",
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    app.config.update(
        SECRET_KEY=auth.load_secret_key(agent.config.ui_secret_key_path),
        SESSION_COOKIE_NAME="heroagent_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
        MAX_CONTENT_LENGTH=PAGE_MAX_BODY,
        HEROAGENT_API_MAX_BODY=api_body_limit(agent.config.jobs.max_value_bytes),
        JSON_SORT_KEYS=False,
    )
    app.extensions["heroagent"] = agent
    app.extensions["heroagent.login_throttle"] = FailureThrottle()  # logins and bearer tokens
    app.extensions["heroagent.hosts"] = HostAllowList(
        agent.config.ui.host, agent.config.ui.allowed_hosts, "[ui] allowed_hosts"
    )
    app.extensions[STREAMS] = EventStreams(max_streams)
    Htmx(app)  # sets its own request class: the body limit goes on top of it
    app.request_class = cast(type[Request], type("SizedRequest", (SizedBody, app.request_class), {}))
    register_filters(app)
    register_error_handlers(app)
    app.before_request(auth.check_request)
    app.before_request(remember_place)  # after the auth: a refused request reads nothing
    app.after_request(_security_headers)
    app.context_processor(
        lambda: {
            "csrf_token": auth.csrf_token,
            "logged_in": auth.logged_in,
            "auth_on": bool(agent.config.ui.password),
            "events_url": page_events_url,
        }
    )
    for blueprint in (
        auth.bp,
        pages.bp,
        bulk_pages.bp,
        group_pages.bp,
        schedule_pages.bp,
        value_pages.bp,
        share_pages.bp,
        api.bp,
        metrics.bp,
    ):
        app.register_blueprint(blueprint)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
