#!/bin/sh
# Install Portcullis into a fresh virtual environment: what the image's build stage runs
# (deploy/Dockerfile), and what tests/tools/build-image-venv.sh runs to check the same steps
# without Docker. Usage: install.sh VENV SOURCE_DIR [EXTRA_REQUIREMENT...]
set -eu
venv="$1"
source_dir="$2"
shift 2
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --quiet --upgrade pip
"$venv/bin/pip" install --no-cache-dir --disable-pip-version-check --quiet "$source_dir" "$@"
"$venv/bin/portcullis" --version
