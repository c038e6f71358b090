#!/usr/bin/env bash
# Set up (first time) and run CallCoach with the offline defaults; prints the URL to open.
#   bash scripts/run.sh [--host 0.0.0.0] [--port 8000] [--https]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
bash "$ROOT/scripts/install.sh"
cd "$ROOT"
exec "$PYTHON" -m server.cli serve "$@"
