"""`heroagent` as a user runs it: a real subprocess, probed over the network, stopped by signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from heroagent.config import load_config, to_toml
from tests.conftest import (
    child_env,
    make_config,
    pid_running,
    redis_server_pids,
    run_cli,
    stop_twice,
    wait_until,
)


def heroagent_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "heroagent", *args]


STARTED: list[subprocess.Popen[str]] = []


def start_serve(config_file: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        heroagent_cmd("serve", "--config", str(config_file)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def stop_every_server() -> Iterator[None]:
    """Whatever a test asserts, no `heroagent serve` it started outlives it."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=20)


def read_banner(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            return lines
    _, err = proc.communicate(timeout=10)
    raise AssertionError(f"no banner: {lines} / {err}")


@pytest.fixture
def config_file(data_dir: Path) -> Path:
    path = data_dir / "heroagent.toml"
    path.write_text(to_toml(make_config(data_dir)))
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_and_stops_cleanly_on_a_signal(config_file: Path, data_dir: Path, sig: signal.Signals) -> None:
    config = tomllib.loads(config_file.read_text())
    before = redis_server_pids()
    proc = start_serve(config_file)
    try:
        banner = "\n".join(read_banner(proc))
        ports = (config["redis"]["tcp_port"], config["webdav"]["port"], config["ui"]["port"])
        for port in ports:
            assert f":{port}" in banner
        assert "redis.sock" in banner
        password = (data_dir / "redis" / "password").read_text().strip()
        assert password not in banner  # the generated password is used, never printed
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=ports[0]).ping()
        assert redis.Redis(port=ports[0], password=password).ping()
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/api/health") as response:
            assert json.load(response)["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/") as response:
            assert response.status == 200
        ours = redis_server_pids() - before
        assert len(ours) == 1
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"{sig.name} received, stopping" in err
    assert "Traceback" not in err
    assert not any(pid_running(p) for p in ours)


def test_a_second_signal_hurries_the_stop_and_the_running_job_goes_back_to_its_queue(data_dir: Path) -> None:
    """With a job running and a long stop grace, the first SIGTERM waits for the job (as it should); a
    second one cut nothing short before: the stop took the whole grace. Now the job goes back to its
    queue at once, the stop ends, and the job is there at the next start."""
    from heroagent import HeroAgent
    from heroagent.client import JobClient
    from heroagent.jobs import JobStatus

    config = make_config(data_dir, jobs={"stop_grace": 120.0})
    config_file = data_dir / "heroagent.toml"
    config_file.write_text(to_toml(config))
    proc = start_serve(config_file)
    try:
        read_banner(proc)
        client = JobClient.from_config(config)
        job = client.create_job("hurry", "!!fake.sleep seconds:120", timeout=300)
        assert wait_until(lambda: client.get_job(job.job_id).status is JobStatus.ACTIVE)
        err = stop_twice(proc)  # the grace is 120 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "still running at stop; returned to its queue" in err and "Traceback" not in err
    with HeroAgent(make_config(data_dir, jobs={"topics": ["elsewhere"]})) as agent:  # it takes no "hurry" job
        back = agent.get_job_manager().get_job(job.job_id)
        assert back.status is JobStatus.NEW and "returned to its queue" in back.error, back


def test_serve_killed_with_sigkill_leaves_no_redis(config_file: Path) -> None:
    before = redis_server_pids()
    proc = start_serve(config_file)
    read_banner(proc)
    ours = redis_server_pids() - before
    assert ours
    proc.kill()
    proc.communicate(timeout=10)
    assert wait_until(lambda: not any(pid_running(p) for p in ours), timeout=10)
    # ...and the next start on the same data dir works.
    again = start_serve(config_file)
    read_banner(again)
    again.terminate()
    again.communicate(timeout=20)
    assert again.returncode == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[redis]\ntcp_port = 99999\n", "[redis] tcp_port = 99999: must be a port number from 1 to 65535"),
        ("[nope]\n", "nope: unknown key"),
        ("[ui\n", "not valid TOML"),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_cli("serve", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_2_naming_the_setting(config_file: Path) -> None:
    import socket

    config = tomllib.loads(config_file.read_text())
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", config["webdav"]["port"]))
        busy.listen()
        before = redis_server_pids()
        result = run_cli("serve", "--config", str(config_file))
    assert result.returncode == 2
    assert "error: webdav: port" in result.stderr and "[webdav] port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (redis_server_pids() - before)


def test_config_show_prints_the_effective_config(config_file: Path) -> None:
    result = subprocess.run(
        heroagent_cmd("config", "show", "--config", str(config_file)),
        capture_output=True,
        text=True,
        env=dict(child_env(), HEROAGENT_JOBS_WORKER_COUNT="9"),
    )
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout)
    assert shown["jobs"]["worker_count"] == 9
    assert shown["redis"]["tcp_port"] == tomllib.loads(config_file.read_text())["redis"]["tcp_port"]


def test_config_show_hides_secrets_unless_asked(tmp_path: Path) -> None:
    """Its output is what people paste into a bug report: passwords, the token, the WebDAV users'
    passwords and a Redis URL's password are *** (an unset one stays ""), unless --show-secrets."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[redis]\nurl = "redis://:url-s3cret@db.example:6379/0"\n[ui]\npassword = "ui-s3cret"\n'
        'api_token = "token-s3cret-token-s3cret-token-s3cret"\n[webdav.users]\nalice = "dav-s3cret"\n'
        'bob = "http://bob-s3cret"\n'
        '[jobs.ai]\nbase_url = "https://u:ai-s3cret@llm.example/v1"\napi_key = "key-s3cret"\n'
        '[jobs.openrpc]\ncalc = "https://rpc.example/v1?token=rpc-s3cret"\n'
    )
    shown = run_cli("config", "show", "--config", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "s3cret" not in shown.stdout
    config = tomllib.loads(shown.stdout)
    assert config["redis"] == {**config["redis"], "url": "redis://:***@db.example:6379/0", "password": ""}
    assert (config["ui"]["password"], config["ui"]["api_token"]) == ("***", "***")
    assert config["webdav"]["users"] == {"alice": "***", "bob": "***"}  # a password, whatever it looks like
    ai = config["jobs"]["ai"]
    assert (ai["base_url"], ai["api_key"]) == ("https://u:***@llm.example/v1", "***")
    assert config["jobs"]["openrpc"] == {"calc": "https://rpc.example/v1?token=***"}
    full = run_cli("config", "show", "--show-secrets", "--config", str(path))
    assert tomllib.loads(full.stdout)["webdav"]["users"] == {"alice": "dav-s3cret", "bob": "http://bob-s3cret"}
    assert "url-s3cret" in full.stdout and "ui-s3cret" in full.stdout


def test_config_show_with_no_file_shows_defaults() -> None:
    result = run_cli("config", "show")
    assert result.returncode == 0
    assert tomllib.loads(result.stdout)["ui"]["port"] == 9021


def test_config_show_loads_back_whatever_it_shows(tmp_path: Path) -> None:
    """What `config show` prints is a config file: with secrets hidden (empty URLs stay empty, not "://")
    it loads; with --show-secrets it loads back to the same config, every section included."""
    path = tmp_path / "c.toml"
    path.write_text(
        '[ui]\npassword = "ui-s3cret"\napi_token = "token-s3cret-token-s3cret-token-s3cret"\n'
        '[webdav.users]\nalice = "dav-s3cret"\n[jobs.ai]\napi_key = "key-s3cret"\n'
        '[[schedules]]\nname = "nightly"\ntopic = "t"\nparams = "!!fake.return_success"\ncron = "0 3 * * *"\n'
    )
    for flags in ([], ["--show-secrets"]):
        shown = run_cli("config", "show", *flags, "--config", str(path))
        assert shown.returncode == 0, shown.stderr
        assert '://"' not in shown.stdout
        again = tmp_path / f"again{len(flags)}.toml"
        again.write_text(shown.stdout)
        reloaded = load_config(str(again))
        if flags:
            original = load_config(str(path))
            assert to_toml(reloaded) == to_toml(original)


def test_job_commands_against_a_running_server(config_file: Path, data_dir: Path) -> None:
    proc = start_serve(config_file)
    try:
        read_banner(proc)
        cfg = ("--config", str(config_file))
        done = run_cli("job", "submit", *cfg, "demo", "!!fake.return_success message:hi", "--wait", "--json")
        assert done.returncode == 0, done.stderr
        job = json.loads(done.stdout)
        assert job["status"] == "done" and job["result"] == ["hi"]
        failed = run_cli("job", "submit", *cfg, "demo", "!!fake.return_error message:boom", "--wait", "--json")
        assert failed.returncode == 1 and "boom" in failed.stdout
        failed_id = str(json.loads(failed.stdout)["job_id"])
        retried = run_cli("job", "retry", *cfg, failed_id, "--json")
        assert retried.returncode == 0 and json.loads(retried.stdout)["retries"] == 1, retried.stderr
        assert wait_until(lambda: '"attempts": 2' in run_cli("job", "get", *cfg, failed_id, "--json").stdout)
        assert wait_until(lambda: '"status": "error"' in run_cli("job", "get", *cfg, failed_id, "--json").stdout)
        done_id = str(job["job_id"])
        assert run_cli("job", "delete", *cfg, done_id).stdout.strip() == f"deleted job {done_id}"
        assert run_cli("job", "get", *cfg, done_id).returncode == 2
        followed = run_cli("job", "submit", *cfg, "demo", "!!fake.sleep seconds:1", "--log")
        follow = run_cli("job", "logs", *cfg, followed.stdout.strip(), "--follow")
        assert follow.returncode == 0 and "done" in follow.stdout.splitlines()[-1], follow.stdout
        (data_dir / "webdav" / "scripts" / "hello.hero").write_text("!!fake.return_success message:'from a file'\n")
        from_file = run_cli("job", "submit", *cfg, "demo", "--script", "scripts/hello.hero", "--wait", "--json")
        assert "from a file" in json.loads(from_file.stdout)["result"]
        escape = run_cli("job", "submit", *cfg, "demo", "--script", "../../etc/passwd")
        assert escape.returncode == 2 and "leaves the WebDAV share" in escape.stderr
        queued = run_cli("job", "submit", *cfg, "demo", "!!fake.sleep seconds:30", "--log")
        job_id = queued.stdout.strip()
        assert job_id.isdigit()
        listing = run_cli("job", "list", *cfg, "--topic", "demo")
        assert listing.returncode == 0 and listing.stdout.splitlines()[0].split()[:2] == ["ID", "STATUS"]
        assert len(json.loads(run_cli("job", "list", *cfg, "--json", "--status", "error").stdout)) == 1
        assert "topic" in run_cli("job", "get", *cfg, job_id).stdout
        canceled = run_cli("job", "cancel", *cfg, job_id, "--json")
        assert canceled.returncode == 0, canceled.stderr
        assert wait_until(lambda: "canceled" in run_cli("job", "history", *cfg, job_id).stdout, timeout=15)
        assert "started on worker" in run_cli("job", "logs", *cfg, job_id).stdout
        missing = run_cli("job", "get", *cfg, "99999")
        assert missing.returncode == 2 and "no job with id 99999" in missing.stderr
        circled = run_cli(
            "job", "submit", *cfg, "demo", "!!fake.return_success", "--circle", "c-7", "--session", "s1", "--json"
        )
        assert json.loads(circled.stdout)["circle_id"] == "c-7" and json.loads(circled.stdout)["session_key"] == "s1"

        def in_circle() -> list[int]:
            listed = run_cli("job", "list", *cfg, "--circle-id", "c-7", "--json").stdout
            return [j["job_id"] for j in json.loads(listed)]

        assert wait_until(lambda: in_circle() == [json.loads(circled.stdout)["job_id"]], timeout=10)
        bad = run_cli("job", "submit", *cfg, "bad topic!", "x")
        assert bad.returncode == 2 and "topic" in bad.stderr and "Traceback" not in bad.stderr
        dead = json.loads(run_cli("job", "dead", "list", *cfg, "--topic", "demo", "--json").stdout)
        assert [j["job_id"] for j in dead] == [int(failed_id)]
        again = run_cli("job", "dead", "retry", *cfg, "--topic", "demo")
        assert again.returncode == 0 and again.stdout.strip() == "queued 1 dead job(s) again", again.stderr
        # Every field a job takes is an option: priority and the no-overlap pair too.
        keyed = run_cli(
            "job", "submit", *cfg, "demo", "!!fake.return_success", "--priority", "7", "--no-overlap-key", "k1",
            "--overlap-delay", "0.5", "--json",
        )  # fmt: skip
        made = json.loads(keyed.stdout)
        assert (made["priority"], made["no_overlap_key"], made["overlap_delay"]) == (7, "k1", 0.5), keyed.stderr
        too_urgent = run_cli("job", "submit", *cfg, "demo", "!!fake.return_success", "--priority", "10")
        assert too_urgent.returncode == 2 and "priority" in too_urgent.stderr and "Traceback" not in too_urgent.stderr
        # A wait that runs out says so in one line, exit 3; the job goes on.
        waited = run_cli("job", "submit", *cfg, "demo", "!!fake.sleep seconds:3", "--wait", "--wait-timeout", "0.5")
        assert waited.returncode == 3 and "Traceback" not in waited.stderr, waited.stderr
        assert waited.stderr.startswith("error: job ") and "it goes on" in waited.stderr
        for option, value, said in (("--in", "1e400", "delay: inf"), ("--timeout", "nan", "timeout: nan")):
            hostile = run_cli("job", "submit", *cfg, "demo", "!!fake.return_success", option, value)
            assert hostile.returncode == 2 and f"{said} must be a finite number" in hostile.stderr, hostile.stderr
            assert "Traceback" not in hostile.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_job_commands_without_a_server_say_so(config_file: Path) -> None:
    result = run_cli("job", "list", "--config", str(config_file))
    assert result.returncode == 2
    assert "is `heroagent serve` running" in result.stderr
    assert "Traceback" not in result.stderr
