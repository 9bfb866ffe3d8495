#!/bin/sh
# Inside the container a service listens on 0.0.0.0 (reachable through the published port) only when
# its auth is configured; otherwise it stays on 127.0.0.1, as HeroAgent refuses a public address
# without auth. Explicit HEROAGENT_*_HOST variables win.
set -eu
if [ -n "${HEROAGENT_UI_PASSWORD:-}" ] && [ -n "${HEROAGENT_UI_API_TOKEN:-}" ]; then
    export HEROAGENT_UI_HOST="${HEROAGENT_UI_HOST:-0.0.0.0}"
fi
if [ -n "${HEROAGENT_WEBDAV_USERS:-}" ]; then
    export HEROAGENT_WEBDAV_HOST="${HEROAGENT_WEBDAV_HOST:-0.0.0.0}"
fi
if [ -n "${HEROAGENT_REDIS_PASSWORD:-}" ]; then
    export HEROAGENT_REDIS_HOST="${HEROAGENT_REDIS_HOST:-0.0.0.0}"
fi
exec heroagent "$@"
