"""Secrets made fit to print: a URL's password as ***. On the ground floor, so the config's errors, the
Redis service and the CLI all show a URL the same way."""

from __future__ import annotations

from urllib.parse import urlsplit

# Query parameters that carry a secret (compared without case): Redis's password, and the keys and
# tokens of the HTTP endpoints jobs call (OpenRPC, an AI API).
SECRET_PARAMETERS = frozenset(
    {"password", "pass", "pwd", "token", "access_token", "api_key", "apikey", "key", "secret", "auth"}
)


def redacted(url: str) -> str:
    """A URL fit to print: the password in its user part, and the values of `SECRET_PARAMETERS` in its
    query, replaced by ***. Text that is no URL (no scheme: "" for a setting left empty) is returned as it is."""
    parts = urlsplit(url)
    if not parts.scheme:  # not a URL; a user part is still hidden
        return f"***@{url.rpartition('@')[2]}" if "@" in url else url
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        name, colon, _ = user.partition(":")
        netloc = f"{name}{':***' if colon else ''}@{host}" if colon or name else host
        if not colon and name:  # redis://secret@host: the only field is the password
            netloc = f"***@{host}"
    query = "&".join(_shown_parameter(item) for item in parts.query.split("&") if item)
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return shown + (f"#{parts.fragment}" if parts.fragment else "")


def _shown_parameter(item: str) -> str:
    name, equals, _ = item.partition("=")
    return f"{name}=***" if equals and name.lower() in SECRET_PARAMETERS else item
