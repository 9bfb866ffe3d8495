"""The web layer (Flask): the only part of HeroAgent that knows about HTTP pages and JSON routes.

`create_app(agent)` is the app factory: one app per agent, no module-level state. Blueprints:
`auth` (login, logout), `pages` (dashboard and its htmx partials), `api` (JSON under /api) and
`metrics` (/metrics). Every request passes `auth.check_request` first; every response gets the
security headers below.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from flask import Flask, Response
from htmx_flask import Htmx

from heroagent.hosts import HostAllowList
from heroagent.resources import resource_dir
from heroagent.throttle import FailureThrottle
from heroagent.web import api, auth, bulk_pages, metrics, pages, schedule_pages
from heroagent.web.errors import register_error_handlers
from heroagent.web.present import register_filters

if TYPE_CHECKING:
    from heroagent.web.context import Agent

MAX_BODY = 1024 * 1024
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


def create_app(agent: Agent) -> Flask:
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
        MAX_CONTENT_LENGTH=MAX_BODY,
        JSON_SORT_KEYS=False,
    )
    app.extensions["heroagent"] = agent
    app.extensions["heroagent.login_throttle"] = FailureThrottle()  # logins and bearer tokens
    app.extensions["heroagent.hosts"] = HostAllowList(
        agent.config.ui.host, agent.config.ui.allowed_hosts, "[ui] allowed_hosts"
    )
    Htmx(app)
    register_filters(app)
    register_error_handlers(app)
    app.before_request(auth.check_request)
    app.after_request(_security_headers)
    app.context_processor(
        lambda: {
            "csrf_token": auth.csrf_token,
            "logged_in": auth.logged_in,
            "auth_on": bool(agent.config.ui.password),
        }
    )
    for blueprint in (auth.bp, pages.bp, bulk_pages.bp, schedule_pages.bp, api.bp, metrics.bp):
        app.register_blueprint(blueprint)
    return app


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
