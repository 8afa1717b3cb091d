#!/usr/bin/env bash
# Make sure a headless Chromium and its WebDriver are there for the console's browser test
# (tests/test_console_browser.py drives /usr/bin/chromium through /usr/bin/chromedriver, never
# downloading a browser). CHROMIUM=/path and CHROMEDRIVER=/path name others; else, where
# apt-get exists, it says so and installs Debian's chromium and chromium-driver.
# Exit 0 ok, 2 not found.
set -euo pipefail

BROWSER="${CHROMIUM:-/usr/bin/chromium}"
DRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
HOW="install chromium and chromium-driver with your package manager, or set CHROMIUM and CHROMEDRIVER"

present() { [ -x "$BROWSER" ] && [ -x "$DRIVER" ]; }

present && exit 0
if [ -n "${CHROMIUM:-}${CHROMEDRIVER:-}" ]; then
  echo "tests/run.sh: CHROMIUM=$BROWSER or CHROMEDRIVER=$DRIVER is not an executable file; $HOW" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/run.sh: the console's browser test needs chromium and chromedriver, which are not installed, and apt-get is not available: $HOW" >&2
  exit 2
fi
echo "tests/run.sh: the console's browser test needs chromium and chromedriver, which are not installed; installing them with apt-get (chromium chromium-driver)"
apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
  || true
present && exit 0
echo "tests/run.sh: installing chromium with apt-get failed (are you root?); $HOW" >&2
exit 2
