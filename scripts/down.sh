#!/usr/bin/env bash
# Stop the service and Asterisk started by scripts/up.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -f var/hotline.pid ]; then kill "$(cat var/hotline.pid)" 2>/dev/null; rm -f var/hotline.pid; fi
if [ -f var/worker.pid ]; then kill "$(cat var/worker.pid)" 2>/dev/null; rm -f var/worker.pid; fi
.venv/bin/hotline asterisk down
