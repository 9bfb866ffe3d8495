#!/usr/bin/env bash
# Install everything the test suite needs (Python and Debian packages), then run it all.
# Used as it is by the README's test command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v litmus >/dev/null 2>&1 || need_apt+=(litmus)
command -v cadaver >/dev/null 2>&1 || need_apt+=(cadaver)
# Browser tests drive Debian's chromium through Playwright (never `playwright install`).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# TLS tests run Debian's redis-server (built with TLS; the bundled one is not).
[ -x /usr/bin/redis-server ] || need_apt+=(redis-server)
# Sentinel tests run Debian's redis-sentinel beside it.
[ -x /usr/bin/redis-sentinel ] || need_apt+=(redis-sentinel)
[ -x /usr/bin/openssl ] || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The package starts a redis-server service on port 6379: the tests start their own, on free ports.
if command -v service >/dev/null 2>&1 && pgrep -x redis-server >/dev/null 2>&1; then
    service redis-server stop >/dev/null 2>&1 || true
fi
if command -v service >/dev/null 2>&1 && pgrep -x redis-sentinel >/dev/null 2>&1; then
    service redis-sentinel stop >/dev/null 2>&1 || true
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'

ruff check .
ruff format --check .
mypy
# Two test processes (pytest-xdist): most tests wait on servers, processes and timers, not the CPU, so on
# two cores two processes take the suite from ~16 to ~9 minutes (three: ~6, but timing-sensitive tests then
# see more contention). TEST_WORKERS=0 runs it in this process.
python3 -m pytest -n "${TEST_WORKERS:-2}" "$@"
# The lowest versions pyproject.toml allows, on a smoke set (scripts/floors.sh); FLOORS=0 skips it.
if [ "${FLOORS:-1}" != 0 ]; then
    bash scripts/floors.sh "$@"
fi
