"""What is in the WebDAV share, for the dashboard's scripts page and the submit form (no HTTP here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SCRIPTS_FOLDER = "scripts"
MAX_FILES = 2000  # a share with more files is listed in part, with a note


@dataclass(frozen=True)
class ShareFile:
    path: str  # relative to the share, with "/"
    size: int
    modified: float


def list_files(root: Path, folder: str = "", limit: int = MAX_FILES) -> list[ShareFile]:
    """Regular files under `root/folder`, sorted by path; symlinks and hidden files are left out."""
    base = (root / folder) if folder else root
    if not base.is_dir():
        return []
    out: list[ShareFile] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            if full.is_symlink():
                continue
            try:
                st = full.stat()
            except OSError:
                continue
            out.append(ShareFile(full.relative_to(root).as_posix(), st.st_size, st.st_mtime))
            if len(out) >= limit:
                return out
    return out


def script_job_params(path: str, args: str = "") -> str:
    """The HeroScript that runs a share file with the built-in `script` actor."""
    quoted = path.replace("'", "\\'")
    line = f"!!script.run path:'{quoted}'"
    if args:
        line += " args:'" + args.replace("'", "\\'") + "'"
    return line
