"""The WebDAV share: wsgidav's filesystem provider on our cheroot server.

Policy lives here, not in wsgidav's defaults: digest auth for configured users; basic only over
TLS or on loopback (where a password cannot be sniffed off the wire); anonymous access only on
loopback with no users; symlinks never followed; no version strings.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from wsgidav import util as wsgidav_util
from wsgidav.dav_error import DAVError
from wsgidav.dir_browser import WsgiDavDirBrowser
from wsgidav.fs_dav_provider import FilesystemProvider
from wsgidav.wsgidav_app import WsgiDAVApp

from heroagent.config import Config
from heroagent.errors import ServiceError
from heroagent.hosts import HostAllowList
from heroagent.http_server import ThreadedWSGIServer, WSGIApp, http_url
from heroagent.net import is_loopback
from heroagent.throttle import FailureThrottle, seconds_text
from heroagent.webdav.stores import BoundedLockStorage, BoundedPropertyManager

log = logging.getLogger(__name__)

SERVICE = "webdav"
SCRIPTS_FOLDER = "scripts"


def prepare_root(root: Path) -> None:
    """Create the share with its scripts/ folder (where `!!script.run` looks)."""
    try:
        (root / SCRIPTS_FOLDER).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceError(
            SERVICE, f"cannot create the share folder {root}: {exc.strerror}; check [webdav] root"
        ) from None


def check_access(config: Config) -> None:
    """Anonymous access only on loopback: a public share without users is refused."""
    dav = config.webdav
    if not dav.users and not is_loopback(dav.host):
        raise ServiceError(
            SERVICE,
            f"refusing to serve the share on non-loopback address {dav.host} without users; "
            'add users under [webdav.users] (name = "password") or set [webdav] host = "127.0.0.1"',
        )


def build_wsgidav_config(config: Config) -> dict[str, Any]:
    dav = config.webdav
    loopback = is_loopback(dav.host)
    tls = bool(dav.tls_cert)
    check_access(config)
    if dav.users:
        user_mapping: dict[str, Any] = {"*": {name: {"password": pw, "roles": []} for name, pw in dav.users.items()}}
    else:
        user_mapping = {"*": True}  # anonymous, reachable from this machine only
    provider = FilesystemProvider(
        str(config.webdav_root), readonly=dav.readonly, fs_opts={"follow_symlinks": False, "shadow_map": {}}
    )
    return {
        "host": dav.host,
        "port": dav.port,
        "provider_mapping": {"/": provider},
        "simple_dc": {"user_mapping": user_mapping},
        "http_authenticator": {
            "domain_controller": None,
            "accept_basic": tls or loopback,
            "accept_digest": True,
            "default_to_digest": True,
            "trusted_auth_header": None,
        },
        "fs_dav_provider": {"follow_symlinks": False, "shadow_map": {}},
        "lock_storage": BoundedLockStorage(),  # in memory, bounded (stores.py)
        "property_manager": BoundedPropertyManager(),
        "suppress_version_info": True,
        "verbose": 2,
        "logging": {"enable": False},
        "dir_browser": {
            "enable": True,
            "response_trailer": "",
            "davmount": True,
            "ms_sharepoint_support": False,
        },
        "cors": {"allow_origin": None},
    }


def reject_escaping_paths(app: WSGIApp) -> WSGIApp:
    """Answer 400 for a path with `..` above the root before wsgidav sees it.

    wsgidav 4.4 refuses such a path but loses the response body (its __call__ is a generator
    that `return`s the error), so the client hangs waiting for the announced bytes.
    """

    def guard(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            wsgidav_util.normalize_path(environ.get("PATH_INFO", "/"))
        except DAVError:
            body = b"400 Bad Request: the path leaves the share\n"
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return guard


# Every answer of the share: what it serves is the users' files, never a page of ours. A HTML file opened
# from it runs no script and is framed by nobody (it could otherwise act as this origin).
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; sandbox"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def with_security_headers(app: WSGIApp) -> WSGIApp:
    """Add SECURITY_HEADERS to every answer (wsgidav's own included), replacing any it set."""
    names = {name.lower() for name, _ in SECURITY_HEADERS}

    def headed(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if k.lower() not in names]
            return start_response(status, [*kept, *SECURITY_HEADERS], exc_info)

        return app(environ, start)

    return headed


def throttle_logins(app: WSGIApp, throttle: FailureThrottle) -> WSGIApp:
    """Wrong WebDAV logins slow down like the dashboard's: after 3 in a row from one address, 429 with
    Retry-After for 1, 2, 4 ... 60 s. A request without credentials (a client's first, answered with the
    challenge) does not count; a right login clears the address."""

    def guard(environ: dict[str, Any], start_response: Any) -> Any:
        client = environ.get("REMOTE_ADDR", "?")
        if "HTTP_AUTHORIZATION" not in environ:
            return app(environ, start_response)
        wait = throttle.wait_needed(client)
        if wait > 0:
            why = f"too many wrong logins from this address; wait {seconds_text(wait)}"
            body = f"429 Too Many Requests: {why}\n".encode()
            headers = [
                ("Content-Type", "text/plain"),
                ("Content-Length", str(len(body))),
                ("Retry-After", str(int(wait) + 1)),
            ]
            start_response("429 Too Many Requests", headers)
            return [body]

        def counting_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            if status.startswith("401"):
                throttle.failed(client)
            elif status[:1] in "23":
                throttle.succeeded(client)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return app(environ, counting_start_response)

    return guard


def hide_versions() -> None:
    """wsgidav applies `suppress_version_info` only in its own CLI; these are the globals it sets."""
    wsgidav_util.public_wsgidav_info = "WsgiDAV"
    wsgidav_util.public_python_info = "Python/3"


GENERATOR_META = re.compile(r'\s*<meta name="generator"[^>]*>')  # "WsgiDAV/4.4.0" in the dir browser's page


def without_generator_meta(dav_app: WsgiDAVApp) -> WsgiDAVApp:
    """The app with its dir browser's page template minus the `<meta name="generator">` tag, which names
    wsgidav's version (its `suppress_version_info` does not reach it). The template is wsgidav's own, from its
    htdocs, compiled again without that line. If a wsgidav release changes this, a warning says so (and
    tests/web/test_no_versions.py fails)."""
    app: Any = dav_app.application
    while app is not None and app is not dav_app:
        if isinstance(app, WsgiDavDirBrowser):
            source = (Path(app.htdocs_path) / "template.html").read_text(encoding="utf-8")
            app.template = app.template.environment.from_string(GENERATOR_META.sub("", source))
            return dav_app
        app = getattr(app, "next_app", None)
    log.warning("webdav: wsgidav's dir browser was not found: its pages may name wsgidav's version")
    return dav_app


class WebDAVServer:
    """The share's life cycle: prepare the folder, build the app, serve it on [webdav] host:port."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = config.webdav_root
        self._http: ThreadedWSGIServer | None = None

    @property
    def url(self) -> str:
        dav = self.config.webdav
        return http_url(dav.host, dav.port, tls=bool(dav.tls_cert))

    def preflight(self) -> None:
        check_access(self.config)

    def start(self) -> None:
        prepare_root(self.root)
        wsgidav_config = build_wsgidav_config(self.config)
        # wsgidav logs through the "wsgidav" logger; with its own setup off, records reach our handlers.
        logging.getLogger("wsgidav").setLevel(logging.WARNING)
        hide_versions()
        app = with_security_headers(
            throttle_logins(
                reject_escaping_paths(without_generator_meta(WsgiDAVApp(wsgidav_config))), FailureThrottle()
            )
        )
        dav = self.config.webdav
        self._http = ThreadedWSGIServer(
            SERVICE,
            app,
            dav.host,
            dav.port,
            port_setting="[webdav] port",
            hosts=HostAllowList(dav.host, dav.allowed_hosts, "[webdav] allowed_hosts"),
            tls_cert=dav.tls_cert,
            tls_key=dav.tls_key,
        )
        self._http.start()
        log.info("webdav: serving %s at %s", self.root, self.url)

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
            log.info("webdav: stopped")
