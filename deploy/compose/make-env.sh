#!/usr/bin/env bash
# Write the .env deploy/compose.yaml reads (default: deploy/.env, beside it): a client API key's
# hash (the key itself is printed once, here, and stored nowhere) and the two keys every replica
# must share. Uses `portcullis keygen`: PORTCULLIS=/path/to/portcullis names the program, else
# portcullis on PATH, else this checkout's .venv. Refuses to overwrite an existing file.
#   Usage: make-env.sh [OUTPUT] [PRINCIPAL]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$HERE/../.env}"
principal="${2:-agents}"
program="${PORTCULLIS:-$(command -v portcullis || echo "$HERE/../../.venv/bin/portcullis")}"

if [ -e "$out" ]; then
  echo "make-env.sh: $out exists; remove it first to make new keys" >&2
  exit 2
fi
made=$("$program" keygen --principal "$principal")
key=$(printf '%s\n' "$made" | sed -n 's/^ *\(pcs_[A-Za-z0-9_-]*\)$/\1/p')
hash=$(printf '%s\n' "$made" | sed -n 's/^sha256 = "\([0-9a-f]\{64\}\)"$/\1/p')
if [ -z "$key" ] || [ -z "$hash" ]; then
  echo "make-env.sh: could not read the output of \`$program keygen\`" >&2
  exit 1
fi
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
cat >"$out" <<ENV
PORTCULLIS_AUTH__API_KEYS='[{"principal": "$principal", "sha256": "$hash"}]'
PORTCULLIS_SESSIONS__REQUEST_STATE_KEY=$(random)
PORTCULLIS_GUARDRAILS__VAULT_KEY=$(random)
ENV
echo "wrote $out; the API key for $principal (shown once, not stored):"
echo
echo "    $key"
