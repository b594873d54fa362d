#!/usr/bin/env bash
# Usage: scripts/lock.sh [UV PIP COMPILE ARGS...]   e.g. --upgrade, --upgrade-package minio
#
# Refreshes requirements.lock (the services' dependencies, which compose/Dockerfile
# installs) and requirements-dev.lock (those plus the dev extra, which scripts/install.sh
# installs) from pyproject.toml, every file pinned with its hashes. Versions already in a
# lock file are kept unless an argument upgrades them; commit both files, then ./test.sh.
# Needs uv (https://docs.astral.sh/uv/): the one on PATH, else a throwaway copy from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

uv=$(command -v uv || true)
if [[ -z $uv ]]; then
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  python3 -m pip install -q --target "$tools" uv || die "pip install uv failed"
  uv=$tools/bin/uv
fi
compile() {
  "$uv" pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
    --python-platform x86_64-unknown-linux-gnu --custom-compile-command scripts/lock.sh "$@"
}
compile -o requirements.lock "$@"
compile --extra dev -o requirements-dev.lock "$@"
