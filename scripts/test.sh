#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine and run the whole suite:
# PostgreSQL, the local LLM server, Chromium, the offline speech models. Extra args go to pytest.
#   bash scripts/test.sh [-k ...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
cd "$ROOT"
bash scripts/install.sh --all

# assigned, then exported: `export X=$(cmd)` would hide a failing start script from `set -e`
CALLCOACH_TEST_PG_URL="${CALLCOACH_TEST_PG_URL:-$(bash scripts/start_postgres.sh | tail -n 1)}"
export CALLCOACH_TEST_PG_URL
if [[ -f scripts/start_llm_server.sh ]]; then
    CALLCOACH_TEST_LLM_URL="${CALLCOACH_TEST_LLM_URL:-$(bash scripts/start_llm_server.sh | tail -n 1)}"
    export CALLCOACH_TEST_LLM_URL
    trap 'bash scripts/start_llm_server.sh stop >/dev/null 2>&1 || true' EXIT
fi
export CALLCOACH_TEST_ARTIFACTS="${CALLCOACH_TEST_ARTIFACTS:-$ROOT/test-artifacts}"
mkdir -p "$CALLCOACH_TEST_ARTIFACTS"
"$PYTHON" -m pytest "$@"
