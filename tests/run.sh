#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need into .venv, then runs
# lint (ruff), format check, types (mypy --strict), the layering contracts and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "tests/run.sh: Python 3.11 or newer is needed (set PYTHON=...)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
install_log=$(mktemp)
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >"$install_log" 2>&1; then
  cat "$install_log" >&2
  echo "tests/run.sh: installing the project and its test tools failed (above)" >&2
  exit 2
fi
rm -f "$install_log"
echo "== redis-server";       bash tests/tools/ensure-redis.sh   # says so before installing with apt
echo "== nginx";              bash tests/tools/ensure-nginx.sh   # the replica tests' load balancer, the same way
echo "== promtool";           bash tests/tools/ensure-promtool.sh || [ -z "${CI:-}" ]   # alert rules; apt, like redis
echo "== chromium";           bash tests/tools/ensure-chromium.sh || [ -z "${CI:-}" ]   # the console's browser test; apt, like redis
echo "== image venv";         bash tests/tools/build-image-venv.sh || [ -z "${CI:-}" ]   # deploy/Dockerfile's install steps
echo "== node tools";         bash tests/tools/install-node-tools.sh || { rc=$?; [ "$rc" -eq 3 ] && [ -z "${CI:-}" ] || exit "$rc"; }

echo "== ruff check";         .venv/bin/ruff check .
echo "== ruff format";        .venv/bin/ruff format --check .
echo "== mypy --strict";      .venv/bin/mypy
echo "== pytest";             .venv/bin/python -m pytest --timeout 180 --durations 25 "$@"
