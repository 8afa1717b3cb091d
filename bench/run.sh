#!/usr/bin/env bash
# The benchmark in one command: install what it needs (wrk, py-spy; idempotent), then run it.
# Arguments go to `python -m bench` (see `--help`); e.g. bash bench/run.sh --out bench-report.md
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/setup.sh >&2
exec .venv/bin/python -m bench "$@"
