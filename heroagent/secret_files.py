"""Secrets HeroAgent makes for itself and keeps in a file of its data dir (the embedded Redis's password,
the webhook signing key): read, or made once, written whole (a temporary file, fsync, rename) with mode 600
in a mode 700 folder, and never left unusable: a file that is empty, cut or edited into something that is
not one of ours is replaced when the server starts.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from heroagent.errors import ServiceError

GENERATED = re.compile(r"[A-Za-z0-9_-]{32,256}")  # what `secrets.token_urlsafe(32)` writes, and room to spare
log = logging.getLogger(__name__)


def generated_secret(path: Path, *, service: str, what: str, create: bool, keep_unusable: bool = False) -> str | None:
    """The secret in `path` (`what` names it in errors, `service` is the part they belong to). `create`
    (the server, at its start) makes one when there is none or the file holds no usable one; without it a
    missing file is None, and so is an unusable one unless `keep_unusable` (then its text is returned)."""
    try:
        found: str | None = path.read_text().strip()
    except FileNotFoundError:
        found = None
    except (OSError, UnicodeDecodeError) as exc:
        if not create or not isinstance(exc, UnicodeDecodeError):
            raise ServiceError(service, f"cannot read the {what} in {path}: {exc}; fix its permissions") from None
        found = ""
    if found is not None and GENERATED.fullmatch(found):
        return found
    if not create:
        return (found or None) if keep_unusable else None
    if found is not None:
        log.warning("%s: %s held no usable %s (empty or damaged): a new one was written", service, path, what)
    made = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(made + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return made
