#!/usr/bin/env bash
# Start the local OpenAI-compatible LLM server (llama-cpp-python + Qwen2.5-Coder-1.5B-Instruct Q4_K_M)
# in the background, wait until it answers, print its base URL on stdout.
#
#   base_url=$(bash scripts/start_llm_server.sh)      # e.g. http://127.0.0.1:8081/v1
#   export CALLCOACH_LLM_BASE_URL="$base_url"
#   bash scripts/start_llm_server.sh stop              # stop the server started here
#   bash scripts/start_llm_server.sh status
#
# Needs scripts/install_llm.sh to have run (the model is joined on first start if it is not yet).
# Environment: PORT (8081), HOST (127.0.0.1), LLM_START_TIMEOUT (180 s), PYTHON, LLM_THREADS (2),
#   LLM_CACHE_MIB (64, 0 = no prompt-state cache; it costs up to ~1.5 GB RAM),
#   LLM_PIDFILE / LLM_LOG (default $CALLCOACH_DATA_DIR/run/llm-server-$PORT.{pid,log}).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8081}"
TIMEOUT="${LLM_START_TIMEOUT:-180}"
RUN_DIR="${CALLCOACH_DATA_DIR:-$HOME/.callcoach}/run"
PIDFILE="${LLM_PIDFILE:-$RUN_DIR/llm-server-$PORT.pid}"
LOG="${LLM_LOG:-$RUN_DIR/llm-server-$PORT.log}"
BASE_URL="http://$HOST:$PORT/v1"

log() { printf '[start_llm_server] %s\n' "$*" >&2; }

answers() { curl -fsS --max-time 3 "$BASE_URL/models" >/dev/null 2>&1; }

server_pid() {  # pid from the pid file if that process is alive
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid=$(<"$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
    return 1
}

stop_server() {
    local pid
    if ! pid=$(server_pid); then
        log "no server running from $PIDFILE"; rm -f "$PIDFILE"; return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid still alive, killing"; kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$PIDFILE"
}

case "${1:-start}" in
    stop) stop_server; exit 0 ;;
    status)
        if pid=$(server_pid) && answers; then log "running, pid $pid"; echo "$BASE_URL"; exit 0; fi
        log "not running"; exit 1 ;;
    start) ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

mkdir -p "$RUN_DIR" "$(dirname "$PIDFILE")" "$(dirname "$LOG")"

if answers; then
    if pid=$(server_pid); then
        log "already running (pid $pid)"
    else
        log "something already answers on $HOST:$PORT (not started by this script); using it"
    fi
    echo "$BASE_URL"
    exit 0
fi

if ! "$PYTHON" -c "import llama_cpp.server" 2>/dev/null; then
    log "llama_cpp.server is not installed: run  bash scripts/install_llm.sh"; exit 1
fi

stop_server >/dev/null 2>&1 || true  # a stale pid file whose server does not answer

log "starting on $HOST:$PORT (log: $LOG)"
# `serve` joins/verifies the model, then execs llama_cpp.server: the pid below is the server's.
cd "$ROOT"
nohup "$PYTHON" -m server.llm_model serve --host "$HOST" --port "$PORT" >"$LOG" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"

start=$(date +%s)
until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
        log "server exited during start-up; last lines of $LOG:"
        tail -n 30 "$LOG" >&2 || true
        rm -f "$PIDFILE"
        exit 1
    fi
    if (( $(date +%s) - start >= TIMEOUT )); then
        log "no answer from $BASE_URL/models after ${TIMEOUT}s; last lines of $LOG:"
        tail -n 30 "$LOG" >&2 || true
        stop_server
        exit 1
    fi
    sleep 1
done
log "ready in $(( $(date +%s) - start )) s (pid $pid)"
echo "$BASE_URL"
