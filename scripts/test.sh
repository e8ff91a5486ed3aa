#!/usr/bin/env bash
# Run the whole test suite: unit tests, SQLite + PostgreSQL, the real Asterisk, Vosk and headless Chromium.
# A real component that cannot start fails the run; skips are turned into failures (HOTLINE_NO_SKIP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export HOTLINE_NO_SKIP=1
exec .venv/bin/python -m pytest -ra -p no:cacheprovider "$@"
