#!/usr/bin/env bash
# Run the whole test suite: the static checks (ruff, mypy, the import-layer contract), then unit tests,
# SQLite + PostgreSQL, the real Asterisk, Vosk and headless Chromium.
# A real component that cannot start fails the run; skips are turned into failures (HOTLINE_NO_SKIP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
echo "checks: ruff, mypy, import layers"
.venv/bin/ruff check -q ivr agent_console recordings call_flows tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache > .venv/lint-imports.log || { cat .venv/lint-imports.log; exit 1; }
export HOTLINE_NO_SKIP=1
# Most of the suite's wall time is waiting on real components (rings, prompts, leases), not CPU: three
# workers overlap those waits. Each worker starts its own Asterisk, PostgreSQL and Chromium on free loopback
# ports. HOTLINE_TEST_WORKERS=0 runs in one process (e.g. to debug one test with -s).
exec .venv/bin/python -m pytest -ra -p no:cacheprovider -n "${HOTLINE_TEST_WORKERS:-3}" "$@"
