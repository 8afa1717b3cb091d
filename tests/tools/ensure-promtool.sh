#!/usr/bin/env bash
# Make sure promtool is there for the alert-rule check (tests/test_deploy_monitoring.py).
# PROMTOOL=/path/to/promtool names one; else promtool on PATH; else, where apt-get exists, it says
# so and installs Debian's prometheus package, which ships promtool. Exit 0 ok, 2 not found.
set -euo pipefail

HOW="install Debian's prometheus package (it ships promtool), or set PROMTOOL=/path/to/promtool"

if [ -n "${PROMTOOL:-}" ]; then
  if [ -f "$PROMTOOL" ] && [ -x "$PROMTOOL" ]; then exit 0; fi
  echo "tests/run.sh: PROMTOOL=$PROMTOOL is not an executable file; $HOW" >&2
  exit 2
fi
command -v promtool >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/run.sh: the alert-rule test needs promtool, which is not installed, and apt-get is not available: $HOW" >&2
  exit 2
fi
echo "tests/run.sh: the alert-rule test needs promtool, which is not installed; installing it with apt-get (prometheus)"
apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; } \
  || true
command -v promtool >/dev/null 2>&1 && exit 0
echo "tests/run.sh: installing prometheus with apt-get failed (are you root?); $HOW" >&2
exit 2
