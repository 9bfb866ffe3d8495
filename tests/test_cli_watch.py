"""`heroagent job watch` as a user runs it, against a real server: one line per job event (JSON lines with
--json), each event once across the reconnects the server's stream ends cause and across a server restart
(then a note that events may be missing), Ctrl-C exits 0, a refused stream is one error line and exit 2."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from heroagent import HeroAgent
from heroagent.config import Config, to_toml
from heroagent.web import events as web_events
from tests.conftest import child_env, make_config, wait_until

StartAgent = Callable[..., HeroAgent]
LIVENESS = 30.0


class Watch:
    """A `heroagent job watch` process; its output lines are collected as they come."""

    def __init__(self, config_file: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heroagent", "job", "watch", "--config", str(config_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], into: Callable[[str], None]) -> None:
        for line in stream:
            into(line.rstrip("\n"))

    def lines(self, count: int) -> list[str]:
        """The next `count` lines of its output (a bound on liveness only)."""
        return [self.out.get(timeout=LIVENESS) for _ in range(count)]

    def said(self, words: str) -> bool:
        """Whether a line it wrote to stderr has these words."""
        return any(words in line for line in self.err)

    def interrupt(self) -> int:
        """Ctrl-C; its exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=LIVENESS)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=LIVENESS)


@pytest.fixture
def watches() -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(config_file: Path, *args: str) -> Watch:
        started.append(Watch(config_file, *args))
        return started[-1]

    yield start
    for watch in started:
        watch.stop()


def config_file_of(config: Config, data_dir: Path) -> Path:
    path = data_dir / "watch.toml"
    path.write_text(to_toml(config))
    return path


def streams_open(agent: HeroAgent) -> bool:
    """Whether an event stream is open now (the watch connected: it starts with what comes next)."""
    import requests

    from tests.conftest import ui_url

    text = requests.get(ui_url(agent, "/metrics"), timeout=LIVENESS).text
    return "\nheroagent_event_streams 0\n" not in text


def by_job(events: list[dict[str, Any]]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for event in events:
        found.setdefault(event["job_id"], []).append(event["status"])
    return found


def test_watch_prints_each_event_once_across_the_streams_ends_and_ctrl_c_exits_0(
    web_agent: StartAgent, data_dir: Path, watches: Callable[..., Watch], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_events, "STREAM_SECONDS", 0.3)  # the server ends each stream at once: many reconnects
    agent = web_agent()
    watch = watches(config_file_of(agent.config, data_dir), "--json", "--topic", "watched")
    assert wait_until(lambda: streams_open(agent), timeout=LIVENESS)
    jm = agent.get_job_manager()
    jobs = []
    for _ in range(4):
        jobs.append(jm.create_job("watched", "!!fake.return_success"))
        jm.create_job("other", "!!fake.return_success")  # not its topic
        jm.wait_for_job(jobs[-1].job_id, timeout=LIVENESS)
    events = [json.loads(line) for line in watch.lines(3 * len(jobs))]
    assert by_job(events) == {job.job_id: ["new", "active", "done"] for job in jobs}
    assert len({e["id"] for e in events}) == len(events)  # none twice
    assert {e["event"] for e in events} == {"job"} and {e["topic"] for e in events} == {"watched"}
    assert watch.interrupt() == 0
    assert not [line for line in watch.err if "Traceback" in line]
    assert watch.out.empty()


def test_watch_follows_a_server_restart_and_says_events_may_be_missing(
    data_dir: Path, watches: Callable[..., Watch]
) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, jobs={"worker_count": 2})
    first = HeroAgent(config).start()
    try:
        watch = watches(config_file_of(config, data_dir), "--group", "g")
        assert wait_until(lambda: streams_open(first), timeout=LIVENESS)
        job = first.get_job_manager().create_job("restart", "!!fake.return_success", group="g")
        lines = watch.lines(3)
        assert [line.split()[5] for line in lines] == ["new", "active", "done"]
        assert all(f" {job.job_id} " in line and "restart" in line and "group g" in line for line in lines)
    finally:
        first.stop()
    second = HeroAgent(config).start()  # the same address: the watch connects again by itself
    try:
        after = second.get_job_manager().create_job("restart", "!!fake.return_success", group="g")
        lines = watch.lines(3)
        assert all(f" {after.job_id} " in line for line in lines)
        said = watch.said  # stderr comes through a pipe of its own: it may lag behind stdout
        assert wait_until(lambda: said("events may be missing") and said("earlier run")), watch.err
        assert said("cannot reach") or said("cannot stream now"), watch.err
        assert watch.interrupt() == 0
    finally:
        second.stop()


def test_a_refused_watch_is_one_error_line_and_exit_2(web_agent: StartAgent, data_dir: Path) -> None:
    agent = web_agent(ui={"api_token": "watch-token-" + "w" * 20})
    with_token = config_file_of(agent.config, data_dir)
    no_token = data_dir / "no-token.toml"
    no_token.write_text(with_token.read_text().replace(agent.config.ui.api_token, ""))

    def run(*args: str, config_file: Path = no_token) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heroagent", "job", "watch", "--config", str(config_file), *args],
            capture_output=True,
            text=True,
            timeout=LIVENESS,
            env=child_env(),
        )

    refused = run()
    assert refused.returncode == 2 and "401" in refused.stderr and "set [ui] api_token" in refused.stderr
    bad = run("--status", "nope", config_file=with_token)
    assert bad.returncode == 2 and "status" in bad.stderr and "Traceback" not in bad.stderr
    nobody = run("--url", "http://127.0.0.1:1")
    assert nobody.returncode == 2 and "cannot reach the server's API" in nobody.stderr
