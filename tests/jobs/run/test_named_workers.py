"""Named workers (issue 12, item 9): `heroagent worker --id`, shown on its jobs, the overview and by
`heroagent workers`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from heroagent import HeroAgent
from heroagent.config import to_toml
from heroagent.jobs import JobStatus
from heroagent.redis_connect import redis_url_for
from tests.conftest import REPO, make_config, ui_url, wait_until


def test_a_named_worker_is_seen_everywhere(data_dir: Path) -> None:
    config = make_config(data_dir, webdav={"enabled": False}, jobs={"topics": ["local"]})
    config_file = data_dir / "c.toml"
    config_file.write_text(to_toml(config))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HEROAGENT_")}, "PYTHONPATH": str(REPO)}
    with HeroAgent(config) as agent:
        url = redis_url_for(config)  # the socket, with ?password=: as `heroagent worker` finds it on this machine
        cmd = [sys.executable, "-m", "heroagent", "worker", "--redis", url, "--topics", "edge", "--id", "edge-1"]
        worker = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            jm = agent.get_job_manager()
            final = jm.wait_for_job(jm.create_job("edge", "!!fake.return_success").job_id, timeout=30)
            assert final.status is JobStatus.DONE and final.worker.startswith(f"edge-1:{os.uname().nodename}:")
            listed = subprocess.run(
                [sys.executable, "-m", "heroagent", "workers", "--config", str(config_file)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert listed.returncode == 0 and any(line.startswith("edge-1:") for line in listed.stdout.splitlines())
            assert wait_until(lambda: "edge-1:" in requests.get(ui_url(agent, "/"), timeout=5).text)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=20)
        password = agent.redis.password  # type: ignore[union-attr]
        said = worker.stderr.read() if worker.stderr else ""
        assert password and password not in said, said  # the URL it names is redacted
        assert "password=***" in said and "edge-1:" in said
    bad = subprocess.run(
        [sys.executable, "-m", "heroagent", "worker", "--redis", "redis://127.0.0.1:1/0", "--id", "no spaces"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "--id 'no spaces'" in bad.stderr and "Traceback" not in bad.stderr
    unreachable_cmd = [sys.executable, "-m", "heroagent", "worker", "--redis", "redis://:s3cret-pw@127.0.0.1:1/0"]
    unreachable = subprocess.run(unreachable_cmd, env=env, capture_output=True, text=True, timeout=60)
    assert (
        unreachable.returncode == 2
        and "cannot reach Redis at redis://:***@127.0.0.1:1/0 (--redis)" in unreachable.stderr
    )
    assert "s3cret-pw" not in unreachable.stderr + unreachable.stdout
