"""The job history survives a damaged lookup table: the records say their job ids, so it is rebuilt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from heroagent import HeroAgent
from heroagent.config import Config
from heroagent.jobs.history.store import JobStore
from heroagent.jobs.model import Job, JobStatus
from tests.conftest import child_env, make_config, wait_until


def test_the_history_is_rebuilt_when_its_lookup_table_was_emptied(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobsdb")
    jobs = [Job(topic="t", params=f"!!fake.return_success message:{i}") for i in range(30)]
    store.insert(jobs)
    for job in jobs[:10]:
        job.status = JobStatus.DONE
    store.record(jobs[:10])
    store.delete_many([jobs[3].job_id, jobs[4].job_id])
    store.close()
    (tmp_path / "jobsdb" / "lookup.idx").write_bytes(b"")  # 30 jobs vanished and ids restarted at 1 before
    again = JobStore(tmp_path / "jobsdb")
    try:
        kept = {job.job_id for job in jobs} - {jobs[3].job_id, jobs[4].job_id}
        assert set(again.db.ids()) == kept and again.db.recovery.rebuilt_lookup
        assert again.get(jobs[0].job_id).status is JobStatus.DONE
        assert [v.status for v in again.history(jobs[0].job_id)] == [JobStatus.NEW, JobStatus.DONE]
        new = Job(topic="t", params="!!fake.return_success")
        again.insert([new])
        assert new.job_id == jobs[-1].job_id + 1  # no id handed out twice
    finally:
        again.close()


def _agent_with_history(data_dir: Path, jobs: int) -> tuple[Config, list[int]]:
    config = make_config(data_dir, webdav={"enabled": False}, ui={"enabled": False}, scheduler={"enabled": False})
    with HeroAgent(config) as agent:
        jm = agent.get_job_manager()
        made = [j.job_id for j in jm.create_jobs([{"topic": "t", "params": "!!fake.return_success"}] * jobs)]
        assert wait_until(lambda: all(jm.store.status_of(i) is JobStatus.DONE for i in made), timeout=60)
    return config, made


def test_a_data_file_cut_after_a_clean_stop_is_never_silent_until_acknowledged(data_dir: Path) -> None:
    """Issue 31, item 11: a 0.db cut to half lost 1,767 jobs with health ok and one log line."""
    config, made = _agent_with_history(data_dir, 300)
    data_file = max(config.jobs_db_path.glob("*.db"), key=lambda p: int(p.stem))
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    with HeroAgent(config) as agent:
        assert agent.health()["jobs"] == "degraded"
        problems = " ".join(agent.problems())
        assert "history damage" in problems and "records lost" in problems and f"{data_file.name}" in problems
        assert "heroagent ourdb check --fix" in problems
        lost = [i for i in made if agent.get_job_manager().store.status_of(i) is None]
        assert lost and f"{len(lost)} id(s)" in problems, problems
    with HeroAgent(config) as agent:  # a restart does not forget it
        assert agent.health()["jobs"] == "degraded"
    toml = data_dir / "c.toml"
    toml.write_text(f'data_dir = "{data_dir}"\n')
    checked = subprocess.run(
        [sys.executable, "-m", "heroagent", "ourdb", "check", "--config", str(toml), "--fix"],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert "damage:" in checked.stdout and "acknowledged" in checked.stdout, checked
    with HeroAgent(config) as agent:
        assert agent.health()["jobs"] == "running" and not agent.problems()


def test_a_lookup_entry_pointing_at_garbage_is_a_503_naming_it_and_health_says_so(data_dir: Path) -> None:
    """Issue 31, item 11: one flipped lookup.idx entry made a job vanish (health ok, its history a 500)."""
    from heroagent.ourdb.lookup import HEADER_SIZE
    from heroagent.ourdb.record import Location

    config, made = _agent_with_history(data_dir, 50)
    lookup = config.jobs_db_path / "lookup.idx"
    raw = bytearray(lookup.read_bytes())
    keysize = 6  # the history's
    entry = HEADER_SIZE + made[10] * keysize
    raw[entry : entry + keysize] = Location(0, 3).encode(keysize)  # job made[10] now points at garbage in 0.db
    lookup.write_bytes(bytes(raw))
    config.ui.enabled = True
    with HeroAgent(config) as agent:
        import requests

        from tests.conftest import ui_url

        r = requests.get(ui_url(agent, f"/api/jobs/{made[10]}"), timeout=10)
        assert r.status_code == 503 and "damaged" in r.json()["error"], r.text
        assert agent.health()["jobs"] == "degraded" and f"job {made[10]}" in " ".join(agent.problems())
        assert requests.get(ui_url(agent, f"/api/jobs/{made[11]}"), timeout=10).status_code == 200
