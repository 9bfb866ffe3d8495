"""Issue 30, item 7: the Scripts page shows a file of the share (escaped text, the first 64 KiB, a binary one
not at all) and downloads it whole, uploads one (CSRF, size limit, path checks: no '..', absolute path or
symlink), and offers Run only on what runs: a .hero file's HeroScript, a script the `script` actor starts."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from heroagent import HeroAgent
from heroagent.jobs import JobStatus
from heroagent.web.share_files import UPLOAD_MAX_BYTES
from tests.web.webclient import csrf, make_client, text


@pytest.fixture
def share(agent: HeroAgent) -> Path:
    """The agent's share, with a file of each kind."""
    root = agent.config.share_root
    assert root is not None
    (root / "scripts" / "hello.sh").write_text('#!/bin/sh\necho "hello <b>there</b>"\n')
    (root / "scripts" / "notes.txt").write_text("not a program\n")
    (root / "scripts" / "tool.py").write_text("print('tool')\n")
    (root / "greet.hero").write_text("!!fake.return_success message:'from a hero file'\n")
    (root / "docs").mkdir()
    (root / "docs" / "readme.md").write_text("# readme\n")
    return root


@pytest.fixture
def client(agent: HeroAgent) -> FlaskClient:
    return make_client(agent)


def upload(client: FlaskClient, name: str, data: bytes, **form: Any) -> Any:
    fields = {"csrf_token": csrf(client, "/scripts"), "folder": "scripts", **form, "file": (io.BytesIO(data), name)}
    return client.post("/scripts/upload", data=fields, content_type="multipart/form-data")


def test_run_is_offered_only_on_what_runs(client: FlaskClient, share: Path) -> None:
    page = client.get("/scripts").get_data(as_text=True)
    runnable = set(re.findall(r'class="run" data-path="([^"]+)"', page))
    assert runnable == {"greet.hero", "scripts/hello.sh", "scripts/tool.py"}
    rows = dict(re.findall(r'<tr data-path="([^"]+)">(.*?)</tr>', page, re.S))
    assert "does not run" in rows["scripts/notes.txt"] and "executables" in rows["scripts/notes.txt"]
    assert "not in the share&#39;s scripts/ folder" in rows["docs/readme.md"]
    assert 'href="/scripts/file?path=docs/readme.md"' in page
    notes = client.get("/scripts/file?path=scripts/notes.txt").get_data(as_text=True)
    assert 'id="run"' not in notes and "does not run as a job: the script actor runs executables" in text(notes)
    refused = client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": "scripts/notes.txt"})
    assert refused.status_code == 400 and "does not run as a job" in text(refused.get_data())


def test_a_file_is_shown_escaped_and_cut_and_downloads_whole(client: FlaskClient, share: Path) -> None:
    page = client.get("/scripts/file?path=scripts/hello.sh").get_data(as_text=True)
    assert "echo &#34;hello &lt;b&gt;there&lt;/b&gt;&#34;" in page and "<b>there" not in page
    assert "!!script.run path:" in text(page) and 'id="run"' in page
    huge = "".join(f"line {i}\n" for i in range(2_000_000))  # ~20 MB
    (share / "scripts" / "huge.sh").write_text(huge)
    answer = client.get("/scripts/file?path=scripts/huge.sh")
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and len(body) < 100_000 and 'id="file-cut"' in body
    download = client.get("/scripts/download?path=scripts/huge.sh")
    assert download.mimetype == "application/octet-stream" and download.get_data(as_text=True) == huge
    assert download.headers["Content-Disposition"].startswith("attachment")
    (share / "blob.bin").write_bytes(bytes(range(256)) * 100)
    binary = client.get("/scripts/file?path=blob.bin").get_data(as_text=True)
    assert 'id="binary"' in binary and 'id="file-text"' not in binary
    (share / "latin.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    assert 'id="binary"' in client.get("/scripts/file?path=latin.txt").get_data(as_text=True)  # no UTF-8: not text
    (share / "cut.txt").write_bytes(b"a" * (64 * 1024 - 1) + "é".encode())  # the cut splits the last character
    assert 'id="file-text"' in client.get("/scripts/file?path=cut.txt").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("../outside.txt", 400, "leaves the WebDAV share"),
        ("scripts/../../outside.txt", 400, "leaves the WebDAV share"),
        ("/etc/passwd", 400, "must be relative to the share"),
        ("scripts/out", 400, "leaves the WebDAV share"),
        ("scripts/alias.sh", 400, "goes through a symlink"),
        ("linked/hello.sh", 400, "goes through a symlink"),
        ("scripts/nothing.sh", 404, "not found"),
        ("scripts", 400, "is a folder"),
        ("", 400, "must be relative"),
    ],
)
def test_paths_out_of_the_share_are_refused(
    client: FlaskClient, share: Path, data_dir: Path, path: str, status: int, message: str
) -> None:
    (data_dir / "outside.txt").write_text("secret")
    os.symlink(data_dir / "outside.txt", share / "scripts" / "out")
    os.symlink("hello.sh", share / "scripts" / "alias.sh")
    os.symlink("scripts", share / "linked")
    for answer in (
        client.get("/scripts/file", query_string={"path": path}),
        client.get("/scripts/download", query_string={"path": path}),
        client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": path}),
    ):
        assert answer.status_code == status, path
        shown = text(answer.get_data())
        assert message in shown and "secret" not in shown and "Traceback" not in shown


def test_upload_then_show_then_run_a_hero_file(client: FlaskClient, agent: HeroAgent, share: Path) -> None:
    script = b"!!fake.return_success message:'uploaded'\n"
    answer = upload(client, "mine.hero", script)
    assert answer.status_code == 303 and answer.headers["Location"] == "/scripts/file?path=scripts/mine.hero"
    assert (share / "scripts" / "mine.hero").read_bytes() == script
    assert oct((share / "scripts" / "mine.hero").stat().st_mode & 0o777) == "0o644"
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Uploaded scripts/mine.hero ({len(script)} bytes)." in page and "submits its HeroScript" in page
    assert not [p for p in (share / "scripts").iterdir() if p.name.startswith(".upload-")]  # no leftovers
    ran = client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": "scripts/mine.hero"})
    assert ran.status_code == 303
    job_id = int(ran.headers["Location"].rsplit("/", 1)[1])
    job = agent.get_job_manager().wait_for_job(job_id, timeout=15)
    assert (job.status, job.params, job.topic) == (JobStatus.DONE, script.decode(), "scripts") and job.log
    assert "uploaded" in job.result_text


def test_a_hero_file_the_job_rules_refuse_is_shown_with_why(client: FlaskClient, share: Path) -> None:
    (share / "bad.hero").write_text("!!fake.return_success message:'open\n")
    answer = client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": "bad.hero"})
    assert answer.status_code == 400
    body = answer.get_data(as_text=True)
    assert 'id="run-error"' in body and "bad.hero was not run" in text(body) and 'id="file-text"' in body
    (share / "binary.hero").write_bytes(b"\xff\xfe\x00")
    answer = client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": "binary.hero"})
    assert answer.status_code == 400 and "not UTF-8 text" in text(answer.get_data())


def test_run_a_script_with_the_script_actor(client: FlaskClient, agent: HeroAgent, share: Path) -> None:
    ran = client.post("/scripts/run", data={"csrf_token": csrf(client, "/scripts"), "path": "scripts/hello.sh"})
    job = agent.get_job_manager().wait_for_job(int(ran.headers["Location"].rsplit("/", 1)[1]), timeout=15)
    assert job.status is JobStatus.DONE and "hello <b>there</b>" in job.result_text


def test_an_existing_file_is_replaced_only_when_asked(client: FlaskClient, share: Path) -> None:
    kept = upload(client, "hello.sh", b"echo replaced\n")
    assert kept.status_code == 400 and "already in the share; tick 'replace'" in text(kept.get_data())
    assert "hello <b>there</b>" in (share / "scripts" / "hello.sh").read_text()
    replaced = upload(client, "hello.sh", b"echo replaced\n", replace="on")
    assert replaced.status_code == 303 and (share / "scripts" / "hello.sh").read_text() == "echo replaced\n"
    top = upload(client, "top.txt", b"top", folder="")
    assert top.status_code == 303 and (share / "top.txt").read_text() == "top"


@pytest.mark.parametrize(
    ("name", "folder", "message"),
    [
        ("../../escape.sh", "scripts", "without '/'"),
        ("..", "scripts", "needs a name"),
        (".hidden", "scripts", "hidden from the share's list"),
        ("a\\b.sh", "scripts", "without '/'"),
        ("x" * 300, "scripts", "over 255 bytes"),
        ("ok.sh", "../", "leaves the WebDAV share"),
        ("ok.sh", "/etc", "must be relative to the share"),
        ("ok.sh", "nowhere", "is no folder of the share"),
        ("ok.sh", "linked", "goes through a symlink"),
        ("ok.sh", "outside", "leaves the WebDAV share"),
        ("alias.sh", "scripts", "goes through a symlink"),
    ],
)
def test_hostile_uploads_are_refused(
    client: FlaskClient, share: Path, data_dir: Path, name: str, folder: str, message: str
) -> None:
    os.symlink("scripts", share / "linked")
    os.symlink(data_dir, share / "outside")
    os.symlink("hello.sh", share / "scripts" / "alias.sh")
    before = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*"))
    answer = upload(client, name, b"echo owned\n", folder=folder, replace="on")
    assert answer.status_code == 400 and message in text(answer.get_data())
    assert 'id="upload-error"' in answer.get_data(as_text=True)
    assert sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")) == before  # nothing written
    assert "hello <b>there</b>" in (share / "scripts" / "hello.sh").read_text()


def test_an_upload_over_the_limit_or_without_the_token_is_refused(client: FlaskClient, share: Path) -> None:
    big = upload(client, "big.bin", b"x" * (UPLOAD_MAX_BYTES + 128 * 1024))
    assert big.status_code == 413 and "over the limit of 8 MiB for a file sent from this page" in text(big.get_data())
    assert not (share / "scripts" / "big.bin").exists()
    just_over = upload(client, "big.bin", b"x" * (UPLOAD_MAX_BYTES + 1))  # within the body's headroom
    assert just_over.status_code == 400 and "over the upload limit" in text(just_over.get_data())
    assert not [p for p in (share / "scripts").iterdir() if p.name.startswith((".upload-", "big"))]
    forged = client.post(
        "/scripts/upload",
        data={"folder": "scripts", "file": (io.BytesIO(b"echo owned"), "forged.sh")},
        content_type="multipart/form-data",
    )
    assert forged.status_code == 403 and not (share / "scripts" / "forged.sh").exists()
    for path, form in (("/scripts/run", {"path": "scripts/hello.sh"}),):
        assert client.post(path, data=form).status_code == 403
    missing = client.post("/scripts/upload", data={"csrf_token": csrf(client, "/scripts"), "folder": "scripts"})
    assert missing.status_code == 400 and "pick a file" in text(missing.get_data())


def test_a_read_only_share_takes_no_upload(client: FlaskClient, agent: HeroAgent, share: Path) -> None:
    agent.config.webdav.readonly = True
    assert "read-only" in client.get("/scripts").get_data(as_text=True)
    answer = upload(client, "new.sh", b"echo")
    assert answer.status_code == 400 and "read-only" in text(answer.get_data())
    assert not (share / "scripts" / "new.sh").exists()
