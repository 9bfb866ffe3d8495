"""Secrets made fit to print: a URL's password as ***. On the ground floor, so the config's errors, the
Redis service and the CLI all show a URL the same way."""

from __future__ import annotations

from urllib.parse import urlsplit


def redacted(url: str) -> str:
    """A URL (Redis's, say) fit to print: the password (in the user part or in `?password=`) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, colon, _ = user.partition(":")
        netloc = f"{name}{':***' if colon else ''}@{host}" if colon or name else host
        if not colon and name:  # redis://secret@host: the only field is the password
            netloc = f"***@{host}"
    query = "&".join(
        ("password=***" if item.lower().startswith("password=") else item) for item in parts.query.split("&") if item
    )
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return shown + (f"#{parts.fragment}" if parts.fragment else "")
