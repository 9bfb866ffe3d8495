"""The operator's commands (issue 12, item 9) run as a user runs them, against a running appliance:
`heroagent schedule ...`, `heroagent upkeep cleanup [--dry-run]`, `heroagent worker list|drain`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from tests.conftest import make_config, run_cli, start_worker, stop_twice, wait_until


def run(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`heroagent ARGS... --config CONFIG_FILE` (conftest.run_cli)."""
    return run_cli(*args, "--config", str(config_file))


def appliance(data_dir: Path, **jobs: object) -> tuple[HeroAgent, Path]:
    config = make_config(
        data_dir, webdav={"enabled": False}, ui={"enabled": False}, jobs={"lease_seconds": 1.5, **jobs}
    )
    config_file = data_dir / "c.toml"
    config_file.write_text(to_toml(config))
    return HeroAgent(config).start(), config_file


def test_schedule_commands(data_dir: Path) -> None:
    agent, config_file = appliance(data_dir)
    try:
        added = run(
            config_file,
            "schedule",
            "add",
            "tick",
            "--every",
            "1",
            "--topic",
            "ticks",
            "--params",
            "!!fake.return_success",
            "--priority",
            "4",
            "--no-overlap",
        )
        assert added.returncode == 0 and "schedule tick: every 1s" in added.stdout, added.stderr
        jm = agent.get_job_manager()
        assert wait_until(lambda: jm.list_jobs(topic="ticks"), timeout=15)  # the server picked it up at once
        made = jm.list_jobs(topic="ticks")[0]
        assert (made.priority, made.no_overlap_key) == (4, "schedule:tick")
        listed = run(config_file, "schedule", "list", "--json")
        assert listed.returncode == 0
        tick = next(s for s in json.loads(listed.stdout) if s["name"] == "tick")
        assert tick["priority"] == 4 and tick["no_overlap"] is True and tick["paused"] is False
        assert "tick" in run(config_file, "schedule", "list").stdout
        paused = run(config_file, "schedule", "pause", "tick")
        assert paused.returncode == 0 and "schedule tick: paused" in paused.stdout
        assert agent.get_schedules().get("tick").paused
        assert "on, next run" in run(config_file, "schedule", "resume", "tick").stdout
        edited = run(config_file, "schedule", "edit", "tick", "--every", "3600", "--priority", "7")
        assert edited.returncode == 0 and "schedule tick: every 3600s" in edited.stdout, edited.stderr
        now = agent.get_schedules().get("tick").schedule
        assert (now.every, now.priority, now.topic, now.no_overlap) == (3600, 7, "ticks", True)  # the rest stayed
        ran = run(config_file, "schedule", "run", "tick")
        assert ran.returncode == 0 and "schedule tick: job " in ran.stdout, ran.stderr
        job_id = int(ran.stdout.split("job ")[1])
        assert jm.wait_for_job(job_id, timeout=30).priority == 7
        assert job_id in agent.get_schedules().get("tick").recent_jobs
        missing = run(config_file, "schedule", "run", "nosuch")
        assert missing.returncode == 2 and "nosuch" in missing.stderr and "Traceback" not in missing.stderr
        bad_edit = run(config_file, "schedule", "edit", "tick", "--priority", "12")
        assert bad_edit.returncode == 2 and "priority" in bad_edit.stderr
        bad = run(config_file, "schedule", "add", "bad", "--cron", "61 * * * *", "--topic", "t", "--params", "!!a.b")
        assert bad.returncode == 2 and "cron" in bad.stderr and "Traceback" not in bad.stderr
        bad = run(
            config_file,
            "schedule",
            "add",
            "bad",
            "--every",
            "5",
            "--topic",
            "t",
            "--params",
            "!!a.b",
            "--priority",
            "12",
        )
        assert bad.returncode == 2 and "priority: 12 must be at most 9" in bad.stderr
        assert "removed" in run(config_file, "schedule", "remove", "tick").stdout
        gone = run(config_file, "schedule", "pause", "tick")
        assert gone.returncode == 2 and "no schedule named 'tick'" in gone.stderr
    finally:
        agent.stop()
    down = run(config_file, "schedule", "list")
    assert down.returncode == 2 and "cannot reach Redis" in down.stderr and "Traceback" not in down.stderr


def test_upkeep_cleanup_dry_run_says_what_retention_would_remove(data_dir: Path) -> None:
    agent, config_file = appliance(data_dir)
    try:
        jm = agent.get_job_manager()
        jobs = [jm.create_job(t, "!!fake.return_success") for t in ("a", "a", "b")]
        for job in jobs:
            jm.wait_for_job(job.job_id, timeout=15)
        time.sleep(0.05)
        no_days = run(config_file, "upkeep", "cleanup", "--dry-run")
        assert no_days.returncode == 2 and "give --older-than" in no_days.stderr
        dry = run(config_file, "upkeep", "cleanup", "--older-than", "0", "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        plan = json.loads(dry.stdout)
        assert plan["dry_run"] is True and plan["jobs"] == 3 and plan["by_topic"] == {"a": 2, "b": 1}
        assert plan["by_status"] == {"done": 3} and plan["first_ids"] == [j.job_id for j in jobs]
        assert len(jm.store) == 3  # nothing removed
        text = run(config_file, "upkeep", "cleanup", "--older-than", "0", "--dry-run").stdout
        assert text.startswith("would remove 3 finished job(s)") and "by topic: a 2, b 1" in text
        assert "would remove 0" in run(config_file, "upkeep", "cleanup", "--older-than", "1", "--dry-run").stdout
        bad = run(config_file, "upkeep", "cleanup", "--older-than", "nan", "--dry-run")
        assert bad.returncode == 2 and "finite number of days" in bad.stderr
        done = run(config_file, "upkeep", "cleanup", "--older-than", "0")
        assert done.returncode == 0 and done.stdout.startswith("removed 3 finished job(s)")
        assert len(jm.store) == 0
    finally:
        agent.stop()


def test_a_drained_worker_finishes_what_runs_and_exits(data_dir: Path) -> None:
    agent, config_file = appliance(data_dir, topics=["local"])
    url = agent.redis.url  # type: ignore[union-attr]
    worker = start_worker(url, "far", "--id", "far-1", HEROAGENT_JOBS_LEASE_SECONDS="1.5")
    try:
        jm = agent.get_job_manager()
        running = jm.create_job("far", "!!fake.sleep seconds:4")
        assert wait_until(lambda: jm.get_job(running.job_id).status is JobStatus.ACTIVE, timeout=30)
        listed = run(config_file, "worker", "list", "--json")
        far = next(w for w in json.loads(listed.stdout) if w["id"].startswith("far-1:"))
        assert far["state"] == "serving"
        drained = run(config_file, "worker", "drain", far["id"])
        assert drained.returncode == 0 and "draining" in drained.stdout
        assert wait_until(lambda: any(w["id"] == far["id"] and w["state"] == "draining" for w in jm.list_workers()))
        later = jm.create_job("far", "!!fake.return_success")
        assert jm.wait_for_job(running.job_id, timeout=30).status is JobStatus.DONE  # what ran finished
        worker.wait(timeout=30)  # then the process exited by itself
        assert worker.returncode == 0
        assert jm.get_job(later.job_id).status is JobStatus.NEW  # it took nothing new
        unknown = run(config_file, "worker", "drain", "nobody:1:x")
        assert unknown.returncode == 2 and "no worker pool 'nobody:1:x'" in unknown.stderr
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
        agent.stop()


def test_a_second_signal_to_a_worker_hurries_its_stop(data_dir: Path) -> None:
    """`heroagent worker` as `serve`: the first SIGTERM gives the running job its grace (120 s here), the
    second sends it back to its queue at once and the process exits."""
    agent, _ = appliance(data_dir, topics=["local"])
    url = agent.redis.url  # type: ignore[union-attr]
    worker = start_worker(url, "far", HEROAGENT_JOBS_STOP_GRACE="120")
    try:
        jm = agent.get_job_manager()
        job = jm.create_job("far", "!!fake.sleep seconds:120", timeout=300)
        assert wait_until(lambda: jm.get_job(job.job_id).status is JobStatus.ACTIVE, timeout=30)
        err = stop_twice(worker)  # the grace is 120 s
        assert worker.returncode == 0, err
        back = jm.get_job(job.job_id)
        assert back.status is JobStatus.NEW and "returned to its queue" in back.error, back
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=10)
        agent.stop()


def test_chain_and_group_commands(data_dir: Path) -> None:
    """Issue 29: `job chain`, `job group-submit` (with its callback) and `job group` from the CLI."""
    agent, config_file = appliance(data_dir)
    try:
        jm = agent.get_job_manager()
        steps = data_dir / "steps.json"
        steps.write_text(
            json.dumps([{"topic": "cli", "params": f"!!fake.return_success message:'s{n}'"} for n in range(3)])
        )
        made = run(config_file, "job", "chain", str(steps), "--json")
        assert made.returncode == 0, made.stderr
        chain = json.loads(made.stdout)
        ids = [j["job_id"] for j in chain["jobs"]]
        assert [j["status"] for j in chain["jobs"]] == ["new", "waiting", "waiting"]
        assert chain["jobs"][2]["depends_on"] == [ids[1]]
        members = json.dumps([{"topic": "cli", "params": "!!fake.return_success"}] * 2)
        callback = json.dumps({"topic": "cli", "params": "!!fake.return_success message:'all'"})
        made = run(config_file, "job", "group-submit", members, "--on-complete", callback, "--group", "nightly")
        assert made.returncode == 0, made.stderr
        assert "group nightly: 2 job(s)" in made.stdout
        last = jm.wait_for_job(ids[-1], timeout=20)
        assert last.status.value == "done"
        assert wait_until(lambda: jm.get_group("nightly")["ended"] == 2)
        shown = run(config_file, "job", "group", "nightly")
        assert shown.returncode == 0 and "2 of 2 ended" in shown.stdout and "on_complete: job" in shown.stdout
        bad = run(config_file, "job", "chain", "[{nope")
        assert bad.returncode != 0 and "JOBS: not JSON" in bad.stderr and "Traceback" not in bad.stderr
        bad = run(config_file, "job", "chain", '[{"topic": "cli"}]')
        assert bad.returncode != 0 and "params: required" in bad.stderr and "Traceback" not in bad.stderr
    finally:
        agent.stop()
