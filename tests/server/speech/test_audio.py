"""PCM helpers: conversions, odd frames, resampling, quality checks (no models)."""

from __future__ import annotations

import numpy as np
import pytest

from server.speech.audio import (
    SAMPLE_RATE,
    OddFrameError,
    PcmAssembler,
    analyse,
    float_to_s16le,
    frames,
    pcm_to_16k,
    resample,
    s16le_to_float,
    s16le_to_int16,
    silence,
)


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * rate / x.size)


def test_roundtrip_and_clipping():
    x = np.array([0.0, 0.5, -0.5, 1.5, -1.5], np.float32)
    b = float_to_s16le(x)
    assert len(b) == 10
    y = s16le_to_int16(b)
    assert y.tolist() == [0, 16384, -16384, 32767, -32768]  # overs clip, no wrap-around
    assert np.allclose(s16le_to_float(b)[:3], x[:3], atol=1e-4)


def test_odd_length_strict_raises():
    with pytest.raises(OddFrameError):
        s16le_to_int16(b"\x01\x02\x03")
    with pytest.raises(OddFrameError):
        PcmAssembler(strict=True).feed(b"\x00\x01\x02")


def test_odd_length_carry_keeps_every_byte():
    pcm = float_to_s16le(tone(440, 0.1, SAMPLE_RATE))
    asm = PcmAssembler()
    out = b""
    # cut into odd-sized pieces
    i, sizes = 0, [3, 5, 7, 1, 2, 11, 101]
    k = 0
    while i < len(pcm):
        n = sizes[k % len(sizes)]
        got = asm.feed(pcm[i : i + n])
        assert len(got) % 2 == 0
        out += got
        i += n
        k += 1
    assert out == pcm and asm.pending_bytes == 0


@pytest.mark.parametrize("rate", [8000, 22050, 24000, 44100, 48000])
def test_resample_preserves_pitch_and_length(rate):
    x = tone(440.0, 1.0, rate)
    y = resample(x, rate, SAMPLE_RATE)
    assert abs(y.size - SAMPLE_RATE) <= 1
    assert abs(peak_freq(y, SAMPLE_RATE) - 440.0) < 3.0
    assert 0.45 < float(np.max(np.abs(y[100:-100]))) < 0.55


def test_declared_rate_is_resampled_by_assembler():
    x = tone(1000.0, 0.5, 48000)
    asm = PcmAssembler(48000)
    out = asm.feed(float_to_s16le(x))
    y = s16le_to_float(out)
    assert abs(y.size - 8000) <= 2
    assert abs(peak_freq(y, SAMPLE_RATE) - 1000.0) < 5.0
    assert pcm_to_16k(float_to_s16le(x), 16000) == float_to_s16le(x)


def test_frames_split():
    pcm = silence(1.0)
    fr = list(frames(pcm, 20))
    assert len(fr) == 50 and all(len(f) == 640 for f in fr)


def test_quality_flags():
    rng = np.random.default_rng(0)
    quiet = analyse(np.zeros(16000, np.float32))
    assert quiet.is_silent and not quiet.is_noise and not quiet.is_clipped
    noise = analyse(rng.uniform(-0.5, 0.5, 16000).astype(np.float32))
    assert noise.is_noise and not noise.is_silent
    sine = analyse(tone(300, 1.0, SAMPLE_RATE))
    assert not sine.is_noise and not sine.is_clipped
    clipped = analyse(np.clip(tone(300, 1.0, SAMPLE_RATE, amp=3.0), -1, 1))
    assert clipped.is_clipped and clipped.clipped_ratio > 0.3
    assert analyse(float_to_s16le(tone(300, 1.0, SAMPLE_RATE))).duration_s == pytest.approx(1.0)
