"""Who may do what: the login page, the session cookie, CSRF tokens, API bearer tokens, login throttling.

Rules, in one place:
- `[ui] password` set: pages need a login (signed session cookie, HttpOnly, SameSite=Lax).
- `[ui] api_token` or password set: the API and /metrics need `Authorization: Bearer <api_token>` or a
  logged-in session (the dashboard's own browser).
- Every state-changing page request (forms, htmx buttons) carries the session's CSRF token. An API
  call with no bearer token that comes from a browser of another site (Origin / Sec-Fetch-Site) is
  refused, so a web page cannot drive an unauthenticated appliance on loopback.
- Wrong logins in a row from one address make the next ones wait (doubling, capped).
Secrets are compared with `hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.wrappers import Response as BaseResponse

from heroagent.config import UIConfig
from heroagent.hosts import HostAllowList
from heroagent.throttle import FailureThrottle, seconds_text
from heroagent.web.context import current_agent

bp = Blueprint("auth", __name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_ENDPOINTS = frozenset({"static", "api.health"})  # no login or token needed


def load_secret_key(path: Path) -> bytes:
    """The key that signs session cookies: made once per data dir (mode 600), so logins survive restarts."""
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key)
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def ui_config() -> UIConfig:
    return current_agent().config.ui


def _same(given: str, wanted: str) -> bool:
    return bool(wanted) and hmac.compare_digest(given.encode(), wanted.encode())


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def logged_in() -> bool:
    return session.get("user") == "admin"


def is_api_request() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def _bearer_ok(ui: UIConfig) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and _same(token.strip(), ui.api_token)


def cross_site() -> bool:
    """True for a request a browser sent on behalf of another site's page.

    The Origin is checked against the Host allow-list, not against Host: after DNS rebinding both
    name the attacker's site."""
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if not origin:
        return False
    hosts: HostAllowList = current_app.extensions["heroagent.hosts"]
    try:
        port = int(request.environ.get("SERVER_PORT") or 0)  # the port this server listens on
    except ValueError:
        port = 0
    return not hosts.allows_origin(origin, request.scheme, port)


ANY_ADDRESS = "*"  # wrong tokens from every address together: rotating 127.0.0.x addresses gains nothing


def _wrong_token(client: str) -> tuple[Response, int]:
    """A wrong bearer token: 401, or 429 while this address, or all addresses together, must wait."""
    from heroagent.web.errors import api_error

    wait = max(_throttle().wait_needed(client), _throttle().wait_needed(ANY_ADDRESS))
    if wait > 0:
        response, status = api_error(429, f"too many wrong tokens; wait {seconds_text(wait)}")
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response, status
    _throttle().failed(client)
    _throttle().failed(ANY_ADDRESS, free=ANY_ADDRESS_FREE)
    return api_error(401, "the bearer token is wrong; send Authorization: Bearer <[ui] api_token>")


ANY_ADDRESS_FREE = 10  # wrong tokens from all addresses together before everyone's wrong ones wait


def _csrf_ok() -> bool:
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    return _same(given, str(session.get("csrf", "")))


def check_request() -> BaseResponse | tuple[Response, int] | tuple[str, int] | None:
    """Run before every request: None lets it through, anything else is the answer."""
    from heroagent.web.errors import api_error, page_error

    ui = ui_config()
    g.bearer = False
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if isinstance(request.routing_exception, MethodNotAllowed):
        return None  # no view runs: the 405 names the allowed methods (not a CSRF refusal for a TRACE)
    if is_api_request():
        # The right token is always taken: a local user sending wrong ones cannot lock the API's clients
        # out (the token is at least config.MIN_TOKEN_LENGTH characters: guessing it is hopeless, throttled or not).
        if ui.api_token and _bearer_ok(ui):
            g.bearer = True
            _throttle().succeeded(request.remote_addr or "?")
            _throttle().succeeded(ANY_ADDRESS)  # a client that has the token is not what the count guards against
            return None
        if request.headers.get("Authorization"):
            return _wrong_token(request.remote_addr or "?")
        needs_auth = bool(ui.password or ui.api_token)
        if needs_auth and not logged_in():
            return api_error(401, "authentication required: send Authorization: Bearer <[ui] api_token>")
        if request.method not in SAFE_METHODS:
            if logged_in() and not _csrf_ok():
                return api_error(403, "missing or wrong X-CSRF-Token header (a logged-in browser must send it)")
            if not needs_auth and cross_site():
                return api_error(403, "cross-site request refused")
        return None
    if request.method not in SAFE_METHODS and not _csrf_ok():
        return page_error(
            403, "This form has expired or did not come from this dashboard. Reload the page and try again."
        )
    if ui.password and not logged_in() and request.endpoint != "auth.login":
        target = url_for("auth.login", next=request.full_path.rstrip("?"))
        if request.headers.get("HX-Request"):
            response = Response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target)
    return None


def _safe_next(target: str | None) -> str:
    """Only a path on this site. Browsers drop tabs and newlines from a URL and read a backslash as a
    slash, so '/\t/evil.com' would become '//evil.com': anything with those, or that parses with a
    scheme or a host, falls back to the overview."""
    if (
        target
        and target.startswith("/")
        and target.isprintable()
        and not any(c.isspace() or c == "\\" for c in target)
        and not target.startswith("//")
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.overview")


def _throttle() -> FailureThrottle:
    throttle: FailureThrottle = current_app.extensions["heroagent.login_throttle"]
    return throttle


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    ui = ui_config()
    if not ui.password:
        return redirect(url_for("pages.overview"))
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=next_url, error="")
    # A browser that logged in before counts its wrong tries on its own (its device cookie): someone else at
    # the same address (a local user without the password) guessing cannot lock it out. Others count by address.
    device = _device()
    client = f"device:{device}" if device else request.remote_addr or "?"
    wait = _throttle().wait_needed(client)
    if wait > 0:
        message = f"Too many wrong passwords. Wait {seconds_text(wait)} before trying again."
        return render_template("login.html", next=next_url, error=message), 429
    if not _same(request.form.get("password", ""), ui.password):
        wait = _throttle().failed(client)
        message = "Wrong password." + (f" Wait {seconds_text(wait)} before the next try." if wait else "")
        return render_template("login.html", next=next_url, error=message), 401
    _throttle().succeeded(client)
    session.clear()
    session["user"] = "admin"
    csrf_token()  # a fresh token for the new session
    response = redirect(next_url)
    response.set_cookie(
        DEVICE_COOKIE,
        _device_signer().dumps(device or secrets.token_hex(16)),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
        path="/login",
    )
    return response


# The device cookie (OWASP's "slow down online guessing attacks with device cookies"): set on a right login,
# signed with the app's secret key, sent only to /login; a browser that has one has its own throttle count.
DEVICE_COOKIE = "heroagent_device"
DEVICE_COOKIE_DAYS = 365


def _device_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="heroagent-login-device")


def _device() -> str:
    """The id of this browser's device cookie ('' = none, or not one we signed)."""
    raw = request.cookies.get(DEVICE_COOKIE, "")
    if not raw or len(raw) > 200:
        return ""
    try:
        device = _device_signer().loads(raw)
    except BadSignature:
        return ""
    return device if isinstance(device, str) and len(device) == 32 and device.isalnum() else ""


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("auth.login") if ui_config().password else url_for("pages.overview"))
