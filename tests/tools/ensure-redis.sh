#!/usr/bin/env bash
# Make sure a redis-server (Redis 6+) is there for the replica tests, which start a private one
# (nothing kept on disk). REDIS_SERVER=/path/to/redis-server names one; else redis-server on PATH;
# else, where apt-get exists, it says so and installs the Debian package. Exit 0 ok, 2 not found.
set -euo pipefail

HOW="install Redis 6+ with your package manager, or set REDIS_SERVER=/path/to/redis-server"

if [ -n "${REDIS_SERVER:-}" ]; then
  if [ -f "$REDIS_SERVER" ] && [ -x "$REDIS_SERVER" ]; then exit 0; fi
  echo "tests/run.sh: REDIS_SERVER=$REDIS_SERVER is not an executable file; $HOW" >&2
  exit 2
fi
command -v redis-server >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/run.sh: the replica tests need redis-server, which is not installed, and apt-get is not available: $HOW" >&2
  exit 2
fi
echo "tests/run.sh: the replica tests need redis-server, which is not installed; installing it with apt-get (redis-server)"
apt-get install -y -q redis-server >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q redis-server >/dev/null 2>&1; } \
  || true
command -v redis-server >/dev/null 2>&1 && exit 0
echo "tests/run.sh: installing redis-server with apt-get failed (are you root?); $HOW" >&2
exit 2
