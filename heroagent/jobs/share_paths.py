"""A file the WebDAV share holds, named by a path relative to it: for every process that reads one.

The server's `script` actor, a remote worker and `heroagent job submit --script` all take a path from
a user; a path that leaves the share (`..`, an absolute path, a symlink out) is refused here, once.
"""

from __future__ import annotations

from pathlib import Path

from heroagent.jobs.errors import JobFailed


def resolve_in_share(root: Path, path: str, *, must_exist: bool = True) -> Path:
    """The file `path` names inside the share; a path that leaves the share (.., symlinks) is refused.
    `must_exist=False` (a file about to be written): it may be missing, but not a folder."""
    base = root.resolve()
    if not path or path.startswith("/") or "\x00" in path:
        raise JobFailed(f"script path {path!r} must be relative to the share (like scripts/backup.sh)")
    candidate = (base / path).resolve()
    if not candidate.is_relative_to(base):
        raise JobFailed(f"script path {path!r} leaves the WebDAV share; refused")
    if candidate.is_dir():
        raise JobFailed(f"script path {path!r} is a folder of the WebDAV share, not a file")
    if must_exist and not candidate.is_file():
        raise JobFailed(f"script {path!r} not found in the WebDAV share ({base})")
    return candidate
