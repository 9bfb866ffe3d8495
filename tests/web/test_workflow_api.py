"""Issue 29 over HTTP: chains, groups and depends_on refuse hostile input with a 400 naming the field, make
nothing, and leave the server working (it restarts on the same data)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from heroagent import HeroAgent
from tests.conftest import ui_url

StartAgent = Callable[..., HeroAgent]
OK = {"topic": "t", "params": "!!fake.return_success"}

HOSTILE = [
    ("/api/chains", '{"jobs": "x"}', "jobs: must be a non-empty list"),
    ("/api/chains", '{"jobs": []}', "jobs: must be a non-empty list"),
    ("/api/chains", '{"jobs": [1]}', "jobs[0]: must be a job"),
    ("/api/chains", '{"jobs": [{"topic": "t", "params": "x"}], "group": 1e400}', "group"),
    ("/api/chains", '{"jobs": [{"topic": "t", "params": "!!fake.return_success"}], "extra": 1}', "extra: unknown"),
    (
        "/api/groups",
        '{"jobs": [{"topic": "t", "params": "!!fake.return_success"}], "on_complete": 5}',
        "on_complete[0]",
    ),
    ("/api/groups", '{"jobs": [{"topic": "t", "params": "!!fake.return_success", "group": "mine"}]}', "jobs[0].group"),
    ("/api/groups", '{"jobs": [{"topic": "t", "params": "!!fake.return_success"}], "group": "x:on_complete"}', "group"),
    ("/api/jobs", '{"topic": "t", "params": "!!fake.return_success", "depends_on": ["@0"]}', "not an earlier job"),
    ("/api/jobs", '{"topic": "t", "params": "!!fake.return_success", "depends_on": [1e400]}', "depends_on"),
    ("/api/jobs", '{"topic": "t", "params": "!!fake.return_success", "depends_on": [NaN]}', "nan is not a job id"),
    (
        "/api/jobs",
        '{"topic": "t", "params": "!!fake.return_success", "depends_on": [1' + "0" * 400 + "]}",
        "depends_on",
    ),
    ("/api/jobs", '{"topic": "t", "params": "!!fake.return_success", "depends_on": "1,2,x\\u0000"}', "depends_on"),
    ("/api/jobs", '{"topic": "t", "params": "!!fake.return_success", "depends_on": [99999999]}', "does not exist"),
    (
        "/api/jobs",
        '{"topic": "t", "params": "!!fake.return_success", "depends_on": [1], "on_parent_failure": "x"}',
        "on_parent_failure",
    ),
    (
        "/api/jobs",
        '{"topic": "t", "params": "!!fake.return_success", "callback_url": "file:///etc/passwd"}',
        "callback_url",
    ),
]


def test_hostile_workflow_input_is_a_400_that_makes_nothing(web_agent: StartAgent) -> None:
    agent = web_agent()
    jm = agent.get_job_manager()
    before = jm.create_job(**OK).job_id  # type: ignore[arg-type]
    for path, body, named in HOSTILE:
        answer = requests.post(ui_url(agent, path), data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert answer.status_code == 400, (path, body[:80], answer.status_code, answer.text[:200])
        assert named in answer.json()["error"], (path, body[:80], answer.json())
    huge = {"jobs": [OK] * 1001}
    answer = requests.post(ui_url(agent, "/api/groups"), json=huge, timeout=30)
    assert answer.status_code == 400 and "over the limit of 1000" in answer.json()["error"]
    for group in ("nosuch", "a" * 5000, "%00", "..%2F..%2Fetc"):
        answer = requests.get(ui_url(agent, f"/api/groups/{group}"), timeout=10)
        assert answer.status_code == 404, (group[:20], answer.status_code)
    assert jm.create_job(**OK).job_id == before + 1  # type: ignore[arg-type]  # nothing was made, no id spent
    agent.stop()
    restarted = web_agent()  # the same data dir: it starts again
    assert restarted.get_job_manager().wait_for_job(before + 1, timeout=20).status.value == "done"


@pytest.mark.parametrize("value", ["0", "257", "1e400", "nan", "-1"])
def test_worker_processes_out_of_range_is_refused(value: str) -> None:
    import subprocess
    import sys

    from tests.conftest import child_env

    result = subprocess.run(
        [sys.executable, "-m", "heroagent", "worker", "--redis", "redis://127.0.0.1:1/0", "--processes", value],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert result.returncode == 2 and "--processes" in result.stderr and "Traceback" not in result.stderr
