"""The Scripts page: the WebDAV share's files, each shown (text, escaped, its first 64 KiB) and downloadable,
uploaded from the page, and run when something can run it (web/share_files.py says what).

Uploads are written by this process through the same path checks as every other use of the share, not
through the WebDAV server (which may be off, or need a login the browser does not have); they are page forms
like the others (the session's CSRF token) with their own body limit (web/__init__.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, flash, get_flashed_messages, redirect, render_template, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from heroagent.jobs.errors import InvalidJobError
from heroagent.jobs.model import Job
from heroagent.web.context import current_agent, current_manager
from heroagent.web.share_files import (
    PREVIEW_BYTES,
    UPLOAD_MAX_BYTES,
    ShareError,
    hero_text,
    preview,
    runner_for,
    share_path,
    write_upload,
)
from heroagent.webdav.share import SCRIPTS_FOLDER, list_files, script_job_params

bp = Blueprint("scripts", __name__)

SCRIPT_TOPIC = "scripts"  # the topic of the jobs this page runs (what the submit form uses for a script too)


def _root() -> Path:
    """The share's folder; ShareError when there is none (no WebDAV and no [webdav] root)."""
    root = current_agent().config.share_root
    if root is None:
        raise ShareError("no share is configured: set [webdav] enabled = true or [webdav] root")
    return root


def _listing(**extra: Any) -> dict[str, Any]:
    agent = current_agent()
    root = agent.config.share_root
    files = list_files(root) if root else []
    return {
        "files": files,
        "runners": {f.path: runner_for(root, f.path) for f in files} if root else {},
        "webdav": agent.addresses().get("webdav", ""),
        "root": root,
        "readonly": agent.config.webdav.readonly,
        "scripts_folder": SCRIPTS_FOLDER,
        "upload_mib": UPLOAD_MAX_BYTES // (1024 * 1024),
        "notices": get_flashed_messages(),
        "upload_error": "",
        "folder": SCRIPTS_FOLDER,
        **extra,
    }


@bp.get("/scripts")
def index() -> str:
    return render_template("scripts.html", **_listing())


@bp.get("/scripts/file")
def show(error: str = "") -> str:
    """One file: its text (escaped; the first 64 KiB; a binary file is not shown), Download, and Run when
    something runs it, or what would."""
    root = _root()
    path = request.values.get("path", "")
    file = share_path(root, path)
    return render_template(
        "script_file.html",
        path=path,
        shown=preview(file),
        runner=runner_for(root, path),
        limit_kib=PREVIEW_BYTES // 1024,
        error=error,
        notices=get_flashed_messages(),
    )


@bp.get("/scripts/download")
def download() -> BaseResponse:
    """The whole file, as a download (never shown inline: it is the users' file, not a page of ours)."""
    path = request.args.get("path", "")
    file = share_path(_root(), path)
    return send_file(file, mimetype="application/octet-stream", as_attachment=True, download_name=file.name)


@bp.post("/scripts/upload")
def upload() -> tuple[str, int] | BaseResponse:
    """Write a file into the share (folder + the file's name), then show it."""
    folder = request.form.get("folder", SCRIPTS_FOLDER)
    try:
        if current_agent().config.webdav.readonly:
            raise ShareError("the share is read-only ([webdav] readonly = true): nothing can be uploaded")
        given = request.files.get("file")
        if given is None or not given.filename:
            raise ShareError("file: pick a file to upload")
        path, size = write_upload(
            _root(), folder, given.filename, given.stream, replace=request.form.get("replace") == "on"
        )
    except ShareError as exc:
        return render_template("scripts.html", **_listing(upload_error=str(exc), folder=folder)), 400
    flash(f"Uploaded {path} ({size} bytes).")
    return redirect(url_for("scripts.show", path=path), code=303)


@bp.post("/scripts/run")
def run() -> str | tuple[str, int] | BaseResponse:
    """Run a file: a .hero file's HeroScript as a job's params; a script with the `script` actor; anything else
    is refused with what would run it. A job the job rules refuse is shown on the file's page."""
    root = _root()
    path = request.form.get("path", "")
    file = share_path(root, path)
    runner = runner_for(root, path)
    if not runner.kind:
        raise ShareError(f"{path} does not run as a job: {runner.why}")
    spec: dict[str, Any] = {"topic": SCRIPT_TOPIC, "log": True}
    if runner.kind == "hero":
        spec.update(params=hero_text(file, current_agent().config.jobs.max_value_bytes), params_type="heroscript")
    else:
        spec["params"] = script_job_params(path)
    try:
        job: Job = current_manager().create_jobs([spec])[0]
    except InvalidJobError as exc:
        return show(error=f"{path} was not run: {exc}"), 400
    return redirect(url_for("pages.job", job_id=job.job_id), code=303)
