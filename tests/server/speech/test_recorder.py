"""Call recorder: stereo alignment on the call clock, barge-in truncation, crash safety, offsets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from server.speech.audio import SAMPLE_RATE, float_to_s16le, frames
from server.speech.recorder import Recorder, read_recording, repair_wav

ROOT = Path(__file__).resolve().parents[3]


class FakeClock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def tone(seconds: float, amp: float = 0.5, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return float_to_s16le(amp * np.sin(2 * np.pi * freq * t))


def active(x: np.ndarray, thr: int = 1000) -> tuple[float, float]:
    idx = np.flatnonzero(np.abs(x) > thr)
    return idx[0] / SAMPLE_RATE, (idx[-1] + 1) / SAMPLE_RATE


def test_stereo_alignment_on_call_clock(tmp_path):
    clock = FakeClock()
    rec = Recorder(tmp_path / "call.wav", clock=clock, fsync=False)
    # customer greets at t=0 for 2 s (TTS produced instantly, played in real time)
    span_c = rec.write_customer(tone(2.0))
    assert (span_c.start_s, span_c.end_s) == (0.0, 2.0)
    # trainee mic streams 20 ms frames from t=0: 2.5 s silence then 1.5 s of speech
    mic = b"\x00\x00" * int(2.5 * SAMPLE_RATE) + tone(1.5, freq=300)
    for f in frames(mic, 20):
        rec.write_trainee(f)
        clock.t += 0.02
    # the customer answers when the trainee's turn ended (t=4.3), 1 s long
    clock.t = 50.0 + 4.3
    span2 = rec.write_customer(tone(1.0, freq=600))
    assert span2.start_s == pytest.approx(4.3)
    t1 = rec.mark_turn("trainee", 2.5, 4.0)
    t2 = rec.mark_turn("customer", span2.start_s, span2.end_s)
    clock.t = 50.0 + 5.5
    info = rec.close()
    assert info.duration_s == pytest.approx(5.5)
    assert [t.index for t in info.turns] == [0, 1] and t1.speaker == "trainee" and t2.end_s == pytest.approx(5.3)
    r = read_recording(info.path)
    assert r.header_ok and r.sample_rate == SAMPLE_RATE
    lo, hi = active(r.trainee)
    assert lo == pytest.approx(2.5, abs=0.01) and hi == pytest.approx(4.0, abs=0.01)
    cust = r.customer
    assert active(cust[: int(3 * SAMPLE_RATE)]) == pytest.approx((0.0, 2.0), abs=0.01)
    lo2, hi2 = active(cust[int(3 * SAMPLE_RATE) :])
    assert 3.0 + lo2 == pytest.approx(4.3, abs=0.01) and 3.0 + hi2 == pytest.approx(5.3, abs=0.01)
    with wave.open(str(info.path)) as w:  # a standard WAV for any player
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        assert w.getnframes() == int(5.5 * SAMPLE_RATE)


def test_barge_in_drops_unplayed_customer_audio(tmp_path):
    clock = FakeClock()
    rec = Recorder(tmp_path / "b.wav", clock=clock, fsync=False)
    rec.write_customer(tone(5.0))  # queued for t=0..5
    clock.t += 1.2
    dropped = rec.truncate_customer()  # trainee interrupted at 1.2 s
    assert dropped == pytest.approx(3.8)
    assert rec.customer_end_s() == pytest.approx(1.2)
    clock.t += 1.0
    info = rec.close()
    assert info.unplayed_dropped_s == pytest.approx(3.8)
    r = read_recording(info.path)
    assert active(r.customer)[1] == pytest.approx(1.2, abs=0.01)
    assert r.duration_s == pytest.approx(2.2)


def test_late_frames_and_gaps(tmp_path):
    clock = FakeClock()
    rec = Recorder(tmp_path / "g.wav", clock=clock, commit_lag_s=0.5, fsync=False)
    rec.write_trainee(tone(0.5))  # 0..0.5
    clock.t += 3.0  # the client paused for a while: next audio is placed at "now"
    span = rec.write_trainee(tone(0.5))
    assert span.end_s == pytest.approx(3.0)
    late = rec.write_trainee(tone(0.2), at=0.1)  # explicitly placed far in the past: dropped
    assert late.start_s >= 2.4
    info = rec.close()
    assert info.late_dropped_s > 0


def test_unclosed_recording_is_readable_and_repairable(tmp_path):
    clock = FakeClock()
    path = tmp_path / "crash.wav"
    rec = Recorder(path, clock=clock, commit_lag_s=0.5, flush_interval_s=1.0, fsync=False)
    for f in frames(tone(6.0), 20):
        rec.write_trainee(f)
        rec.write_customer(f)
        clock.t += 0.02
    # no close(): read what is on disk
    r = read_recording(path)
    assert r.duration_s >= 6.0 - 0.5 - 1.0 - 0.05
    assert active(r.trainee)[0] == pytest.approx(0.0, abs=0.001)
    with wave.open(str(path)) as w:
        header_frames = w.getnframes()
    assert header_frames / SAMPLE_RATE >= 6.0 - 0.5 - 1.0 - 0.05
    assert repair_wav(path) in (True, False)
    with wave.open(str(path)) as w:
        assert w.getnframes() == r.trainee.size


def test_killed_process_keeps_audio_up_to_the_last_second(tmp_path):
    """A real writer process is SIGKILLed mid-call; the file holds all but the last ~1.5 s."""
    path = tmp_path / "killed.wav"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from server.speech.recorder import Recorder
        from server.speech.audio import float_to_s16le
        rec = Recorder({str(path)!r}, commit_lag_s=0.3, flush_interval_s=0.5)
        frame = float_to_s16le(0.3 * np.sin(np.arange(320) / 5.0))
        t0 = time.monotonic()
        n = 0
        while True:
            rec.write_trainee(frame)
            n += 1
            if n == 100:
                print("2s", flush=True)
            time.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))
        """
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "2s"
        time.sleep(1.0)  # ~3 s of audio written
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    r = read_recording(path)
    print(f"after SIGKILL at ~3.0 s: {r.duration_s:.2f} s readable, header ok={r.header_ok}")
    assert 3.0 - 1.5 <= r.duration_s <= 3.5
    repair_wav(path)
    with wave.open(str(path)) as w:
        assert w.getnframes() == r.trainee.size


def test_closed_recorder_rejects_writes(tmp_path):
    rec = Recorder(tmp_path / "c.wav", clock=FakeClock(), fsync=False)
    rec.close()
    with pytest.raises(ValueError):
        rec.write_trainee(tone(0.1))
    assert rec.close().duration_s == 0.0
