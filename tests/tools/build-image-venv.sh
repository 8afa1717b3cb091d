#!/usr/bin/env bash
# Build .tools/image-venv the way deploy/Dockerfile builds /opt/portcullis: the same script
# (deploy/docker/install.sh) on a copy of exactly what the Dockerfile copies into its build stage,
# with pip from the package index. tests/test_deploy_artifacts.py then runs `portcullis check` and
# `portcullis serve` from it with the image's settings, and the image's HEALTHCHECK script.
# Skipped (about a second) when nothing changed; when only the sources changed (not
# pyproject.toml nor install.sh), only the project is reinstalled (seconds, not a minute).
# Exit 0 ok, 1 the install failed. Set PORTCULLIS_TOOLS_DIR to build elsewhere.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="${PORTCULLIS_TOOLS_DIR:-$ROOT/.tools}"
VENV="$TOOLS/image-venv"
COPIED=(pyproject.toml README.md gateway middleware upstream portcullis_demo deploy/docker/install.sh)

cd "$ROOT"
digest() { find "$@" -type f ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64; }
stamp="$(digest pyproject.toml deploy/docker/install.sh) $(digest "${COPIED[@]}")"
old=$(cat "$VENV/.stamp" 2>/dev/null || true)
if [ -x "$VENV/bin/portcullis" ] && [ "$old" = "$stamp" ]; then
  exit 0
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
for part in "${COPIED[@]}"; do
  mkdir -p "$context/$(dirname "$part")"
  cp -R "$part" "$context/$part"
done
find "$context" -name __pycache__ -prune -exec rm -rf {} +
if [ -x "$VENV/bin/portcullis" ] && [ "${old%% *}" = "${stamp%% *}" ]; then
  # Same dependencies and install steps: the project's own code only.
  how=("$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check --quiet --no-deps
       --force-reinstall "$context")
else
  rm -rf "$VENV"
  mkdir -p "$TOOLS"
  how=(sh "$context/deploy/docker/install.sh" "$VENV" "$context")
fi
if ! "${how[@]}" >"$context/install.log" 2>&1; then
  cat "$context/install.log" >&2
  echo "tests/run.sh: installing Portcullis as deploy/Dockerfile does failed (above)" >&2
  exit 1
fi
echo "$stamp" >"$VENV/.stamp"
