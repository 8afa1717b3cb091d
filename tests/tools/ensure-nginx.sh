#!/usr/bin/env bash
# Make sure nginx is there for the replica tests, which start a private one (its own config, a
# free port, round robin over the test's gateways). NGINX=/path/to/nginx names one; else nginx on
# PATH (or /usr/sbin); else, where apt-get exists, it says so and installs the Debian package.
# Exit 0 ok, 2 not found.
set -euo pipefail

HOW="install nginx with your package manager, or set NGINX=/path/to/nginx"

if [ -n "${NGINX:-}" ]; then
  if [ -f "$NGINX" ] && [ -x "$NGINX" ]; then exit 0; fi
  echo "tests/run.sh: NGINX=$NGINX is not an executable file; $HOW" >&2
  exit 2
fi
command -v nginx >/dev/null 2>&1 && exit 0
[ -x /usr/sbin/nginx ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/run.sh: the replica tests behind a load balancer need nginx, which is not installed, and apt-get is not available: $HOW" >&2
  exit 2
fi
echo "tests/run.sh: the replica tests behind a load balancer need nginx, which is not installed; installing it with apt-get (nginx)"
apt-get install -y -q nginx >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx >/dev/null 2>&1; } \
  || true
[ -x /usr/sbin/nginx ] && exit 0
echo "tests/run.sh: installing nginx with apt-get failed (are you root?); $HOW" >&2
exit 2
