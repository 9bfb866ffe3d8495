"""The dashboard through Flask's test client: no HTTP server, no threads of its own; for the routes' answers and
hostile forms (the browser tests show the same pages in chromium)."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from heroagent import HeroAgent
from heroagent.web import create_app


def make_client(agent: HeroAgent) -> FlaskClient:
    """A test client of the agent's dashboard app (one app per call, as the UI service makes one)."""
    return create_app(agent).test_client()


def csrf(client: FlaskClient, path: str = "/") -> str:
    """The session's CSRF token, as a page's forms carry it."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, path
    return match.group(1)


def text(body: bytes | str) -> str:
    """A page's text without its tags, entities unescaped, whitespace folded."""
    raw = body.decode() if isinstance(body, bytes) else body
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def field_error(body: bytes, name: str) -> str:
    """The problem shown beside a form's field ('' when none)."""
    match = re.search(rf'id="error-{name}">(.*?)</p>', body.decode(), re.S)
    return html.unescape(match.group(1)) if match else ""
