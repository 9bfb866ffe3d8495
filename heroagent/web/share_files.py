"""The WebDAV share's files as the Scripts page uses them: a path checked, a file's start shown, what runs it, an
upload written. No Flask here: web/share_pages.py turns these into pages.

Paths are checked as the share itself checks them: `resolve_in_share` (jobs/share_paths.py, what the `script`
actor uses) refuses a path that leaves the share (`..`, an absolute path, a symlink out), and, as the WebDAV
server follows no symlink, no symlink is taken here either, even one that stays inside.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from heroagent.errors import InvalidInputError, NotFoundError
from heroagent.jobs.errors import JobFailed
from heroagent.jobs.run.builtin_actors import command_for
from heroagent.jobs.share_paths import resolve_in_share
from heroagent.webdav.share import SCRIPTS_FOLDER

PREVIEW_BYTES = 64 * 1024  # of a file the page shows; the download has all of it
UPLOAD_MAX_BYTES = 8 * 1024 * 1024  # a file uploaded from the page; larger ones go through WebDAV itself
HERO_SUFFIX = ".hero"  # a file of HeroScript: run as a job's params
_COPY_CHUNK = 256 * 1024


class ShareError(InvalidInputError):
    """A path or a file the share refuses (a 400 naming why)."""


def share_path(root: Path, path: str, *, must_exist: bool = True) -> Path:
    """The file `path` names in the share (relative, with '/'), checked; ShareError (or NotFoundError for a
    file that is not there) saying why not."""
    try:
        found = resolve_in_share(root, path, must_exist=must_exist)
    except JobFailed as exc:
        message = str(exc).replace("script path", "path").replace("script ", "file ")
        raise (NotFoundError if "not found" in message else ShareError)(message) from None
    if found != Path(os.path.normpath(root.resolve() / path)):
        raise ShareError(f"path {path!r} goes through a symlink; the share follows none, so neither does this page")
    return found


@dataclass(frozen=True)
class Preview:
    """A file's start as the page shows it: its text (None: binary, not shown), its size, whether it is cut."""

    text: str | None
    size: int
    cut: bool


def preview(file: Path, limit: int = PREVIEW_BYTES) -> Preview:
    """The first `limit` bytes of a file as text, or None when they are not text (a NUL byte, or not UTF-8
    apart from a character the cut splits)."""
    size = file.stat().st_size
    with file.open("rb") as f:
        start = f.read(limit)
    if b"\x00" in start:
        return Preview(None, size, size > limit)
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError as exc:
        if size <= limit or exc.start < len(start) - 3:  # not a character cut in two at the end
            return Preview(None, size, size > limit)
        text = start[: exc.start].decode("utf-8")
    return Preview(text, size, size > limit)


@dataclass(frozen=True)
class Runner:
    """How a file of the share runs as a job: `kind` 'hero' (its HeroScript is the job's params), 'script'
    (the `script` actor runs it) or '' (it does not run; `why` says what would run it)."""

    kind: str
    why: str = ""


def runner_for(root: Path, path: str) -> Runner:
    """What runs the share's file `path`: a .hero file is a job's HeroScript; a file in scripts/ that the
    `script` actor can start (executable, #!, .py, .sh) is a script; anything else says what it would need."""
    if path.endswith(HERO_SUFFIX):
        return Runner("hero")
    if not path.startswith(SCRIPTS_FOLDER + "/"):
        return Runner(
            "",
            f"it is not in the share's {SCRIPTS_FOLDER}/ folder, where files run with the script actor "
            "(a .hero file runs anywhere, as HeroScript)",
        )
    try:
        command_for(share_path(root, path))
    except (ShareError, NotFoundError) as exc:  # gone meanwhile, or a symlink
        return Runner("", str(exc))
    except JobFailed:
        return Runner("", "the script actor runs executables, files starting with #!, .py and .sh files")
    return Runner("script")


def hero_text(file: Path, limit: int) -> str:
    """A .hero file's HeroScript: UTF-8 text of at most `limit` bytes ([jobs] max_value_bytes)."""
    size = file.stat().st_size
    if size > limit:
        raise ShareError(f"the file is {size} bytes: over a job's params limit of {limit} ([jobs] max_value_bytes)")
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ShareError("the file is not UTF-8 text, so it is no HeroScript") from None


def check_name(name: str) -> str:
    """An uploaded file's name, as a file of the share may be named; ShareError saying what is wrong."""
    if not name or name in (".", ".."):
        raise ShareError("name: the file needs a name")
    if "/" in name or "\\" in name or "\x00" in name:
        raise ShareError(f"name: {name[:80]!r} must be a file's name, without '/' or '\\\\' (pick the folder apart)")
    if name.startswith("."):
        raise ShareError(f"name: {name[:80]!r} starts with '.': such files are hidden from the share's list")
    if len(name.encode()) > 255:
        raise ShareError("name: over 255 bytes, longer than a file's name may be")
    return name


def write_upload(root: Path, folder: str, name: str, data: IO[bytes], *, replace: bool) -> tuple[str, int]:
    """Write an uploaded file as `folder/name` in the share: its path checked like any other, at most
    UPLOAD_MAX_BYTES, written beside its place and moved there at once (a reader never sees half a file);
    an existing file is kept unless `replace`. Returns (its path in the share, its size)."""
    folder = folder.strip().rstrip("/")
    path = f"{folder}/{check_name(name)}" if folder else check_name(name)
    target = share_path(root, path, must_exist=False)
    if not target.parent.is_dir():
        raise ShareError(f"folder: {folder!r} is no folder of the share (make it there first, over WebDAV)")
    if target.exists() and not replace:
        raise ShareError(f"{path} is already in the share; tick 'replace' to write over it")
    fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        size = _copy(data, fd)
        os.chmod(tmp, 0o644)
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if a file of that name came meanwhile: never written over
            except FileExistsError:
                raise ShareError(f"{path} is already in the share; tick 'replace' to write over it") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path, size


def _copy(data: IO[bytes], fd: int) -> int:
    """Copy the upload into `fd` (closed after), refusing one over UPLOAD_MAX_BYTES."""
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := data.read(_COPY_CHUNK):
            size += len(chunk)
            if size > UPLOAD_MAX_BYTES:
                raise ShareError(
                    f"the file is over the upload limit of {UPLOAD_MAX_BYTES // (1024 * 1024)} MiB; "
                    "put larger files in the share over WebDAV"
                )
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size
