#!/usr/bin/env bash
# Installs what the benchmark needs beyond the project itself; idempotent, safe to rerun.
#   - wrk (Debian package), the compiled load generator; skipped with a note where apt is absent
#   - py-spy and pyinstrument into .venv, for `python -m bench profile`
#   - valgrind (Debian package), for `python -m bench instructions`
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import gateway, uvicorn, orjson, httptools, uvloop, mcp' 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi

if command -v wrk >/dev/null 2>&1; then
  echo "bench/setup.sh: wrk present ($(command -v wrk))"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "bench/setup.sh: installing wrk with apt-get"
    $SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || {
      $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq wrk >/dev/null
    }
  fi
  if command -v wrk >/dev/null 2>&1; then
    echo "bench/setup.sh: wrk installed ($(command -v wrk))"
  else
    echo "bench/setup.sh: wrk is not available; the bench falls back to its Python load generator" >&2
  fi
fi

if command -v valgrind >/dev/null 2>&1; then
  echo "bench/setup.sh: valgrind present (python -m bench instructions)"
elif command -v apt-get >/dev/null 2>&1; then
  echo "bench/setup.sh: installing valgrind with apt-get (python -m bench instructions)"
  $SUDO apt-get install -y -qq valgrind >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq valgrind >/dev/null
  } || echo "bench/setup.sh: valgrind is not available; python -m bench instructions will not run" >&2
fi

missing=()
.venv/bin/python -c 'import pyinstrument' 2>/dev/null || missing+=(pyinstrument)
[ -x .venv/bin/py-spy ] || missing+=(py-spy)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench/setup.sh: pip installing ${missing[*]} into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi
echo "bench/setup.sh: ready"
