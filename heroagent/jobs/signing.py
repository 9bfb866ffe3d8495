"""Webhook signatures: the secret they are made with, how one is made, and how a receiver checks one.

A webhook (a job's `callback_url`, a topic's `[topics.<name>] webhook`) carries

    X-HeroAgent-Timestamp: <unix seconds>
    X-HeroAgent-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>

The timestamp is inside what is signed, so a receiver that refuses one far from its own clock refuses a
replayed request too; the body is signed byte for byte as sent. The secret is `[jobs] webhook_secret`, or
when that is empty one made at the server's first start and kept in `<data_dir>/webhooks/secret` (mode
600, in a mode 700 folder): `heroagent webhooks secret` prints it for the receiver's owner. In the root
wing, so the CLI reads it without loading the server, and a Python receiver can call `verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from heroagent.config import Config
from heroagent.secret_files import generated_secret

TIMESTAMP_HEADER = "X-HeroAgent-Timestamp"
SIGNATURE_HEADER = "X-HeroAgent-Signature"
DELIVERY_HEADER = "X-HeroAgent-Delivery"
PREFIX = "sha256="
TOLERANCE = 300  # seconds a receiver accepts between the timestamp and its own clock (a suggestion)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """Whether `signature` (the header's value) signs `body` at `timestamp` (the header's value), and that
    time is within `tolerance` seconds of `now`: what a receiver written in Python checks."""
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def webhook_secret(config: Config, *, create: bool) -> str | None:
    """The secret webhooks are signed with: `[jobs] webhook_secret`, else the generated one in its file.
    `create` (the server, at its start) makes the file when there is none or it holds no usable secret;
    without it a missing file is None (no server has started on this data dir yet)."""
    if config.jobs.webhook_secret:
        return config.jobs.webhook_secret
    return generated_secret(config.webhook_secret_path, service="jobs", what="webhook secret", create=create)
