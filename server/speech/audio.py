"""PCM helpers: s16le <-> numpy, resampling, frame assembly, chunking and quality checks.

The wire format everywhere in CallCoach is PCM signed 16-bit little-endian, mono, 16 000 Hz
(``SAMPLE_RATE``). Audio at another declared rate is resampled with a polyphase filter
(``scipy.signal.resample_poly``: band-limited, cheap, exact for rational ratios such as 24k->16k or
22.05k->16k).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Iterator

import numpy as np

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes, s16le


class AudioFormatError(ValueError):
    """Audio that cannot be interpreted as s16le PCM (odd byte count in strict mode, bad rate ...)."""


class OddFrameError(AudioFormatError):
    """A frame with an odd number of bytes where a whole number of 16-bit samples was required."""


# --- conversions ---------------------------------------------------------------------------------


def s16le_to_int16(pcm: bytes | bytearray | memoryview) -> np.ndarray:
    """Bytes -> int16 array (a copy). Raises OddFrameError on an odd byte count."""
    if len(pcm) % SAMPLE_WIDTH:
        raise OddFrameError(f"s16le data must have an even byte count, got {len(pcm)}")
    return np.frombuffer(bytes(pcm), dtype="<i2").astype(np.int16)


def s16le_to_float(pcm: bytes | bytearray | memoryview) -> np.ndarray:
    """Bytes -> float32 array in [-1, 1)."""
    return s16le_to_int16(pcm).astype(np.float32) / 32768.0


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> int16 with clipping (no wrap-around on overs)."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def float_to_s16le(x: np.ndarray) -> bytes:
    return float_to_int16(x).astype("<i2").tobytes()


def int16_to_s16le(x: np.ndarray) -> bytes:
    return np.asarray(x, dtype=np.int16).astype("<i2").tobytes()


def to_float(x: np.ndarray) -> np.ndarray:
    """Any int16/float array -> float32 in [-1, 1]."""
    x = np.asarray(x)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32, copy=False)


# --- resampling ----------------------------------------------------------------------------------


def resample(x: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float (or int16) signal; returns float32. Identity when the rates match."""
    if src_rate <= 0 or dst_rate <= 0:
        raise AudioFormatError(f"bad sample rate {src_rate} -> {dst_rate}")
    x = to_float(x)
    if src_rate == dst_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    g = gcd(int(src_rate), int(dst_rate))
    up, down = int(dst_rate) // g, int(src_rate) // g
    try:
        from scipy.signal import resample_poly
    except ImportError:  # pragma: no cover - scipy is a dependency here; linear fallback
        n_out = int(round(x.size * dst_rate / src_rate))
        t_out = np.arange(n_out) * (src_rate / dst_rate)
        return np.interp(t_out, np.arange(x.size), x).astype(np.float32)
    return resample_poly(x, up, down).astype(np.float32)


def pcm_to_16k(pcm: bytes, src_rate: int) -> bytes:
    """s16le at ``src_rate`` -> s16le at 16 kHz."""
    if src_rate == SAMPLE_RATE:
        return bytes(pcm)
    return float_to_s16le(resample(s16le_to_int16(pcm), src_rate, SAMPLE_RATE))


# --- streaming helpers ---------------------------------------------------------------------------


class PcmAssembler:
    """Turns arbitrary byte frames into whole 16-bit samples, optionally resampled to 16 kHz.

    Browsers and sockets do not promise even-length frames. In ``carry`` mode (default) a trailing
    odd byte is kept and prepended to the next frame, so nothing is lost; in ``strict`` mode an odd
    frame raises :class:`OddFrameError` (a typed error the websocket can report).

    A declared rate other than 16 kHz is resampled per frame (polyphase; tiny edge effects at frame
    boundaries are inaudible and irrelevant to STT).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, strict: bool = False):
        if sample_rate < 8000 or sample_rate > 192000:
            raise AudioFormatError(f"unsupported sample rate {sample_rate}")
        self.sample_rate = int(sample_rate)
        self.strict = strict
        self._carry = b""

    @property
    def pending_bytes(self) -> int:
        return len(self._carry)

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Return the whole-sample s16le bytes at 16 kHz contained in ``data`` (plus any carry)."""
        data = bytes(data)
        if self.strict and len(data) % 2:
            raise OddFrameError(f"frame of {len(data)} bytes is not whole 16-bit samples")
        buf = self._carry + data
        if len(buf) % 2:
            self._carry, buf = buf[-1:], buf[:-1]
        else:
            self._carry = b""
        if self.sample_rate != SAMPLE_RATE and buf:
            buf = pcm_to_16k(buf, self.sample_rate)
        return buf


def frames(pcm: bytes, frame_ms: float = 20.0, sample_rate: int = SAMPLE_RATE) -> Iterator[bytes]:
    """Split s16le PCM into frames of ``frame_ms`` (the last one may be shorter)."""
    step = int(sample_rate * frame_ms / 1000) * SAMPLE_WIDTH
    if step <= 0:
        raise ValueError("frame too short")
    for i in range(0, len(pcm), step):
        yield pcm[i : i + step]


def duration_s(pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    n = len(pcm) // SAMPLE_WIDTH if isinstance(pcm, (bytes, bytearray, memoryview)) else len(pcm)
    return n / float(sample_rate)


def silence(seconds: float, sample_rate: int = SAMPLE_RATE) -> bytes:
    return b"\x00\x00" * int(round(seconds * sample_rate))


# --- quality checks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioQuality:
    duration_s: float
    rms_dbfs: float  # -inf for digital silence
    peak: float  # 0..1
    clipped_ratio: float  # share of samples at (or within 0.1% of) full scale
    flatness: float  # spectral flatness 0 (tonal/speech) .. 1 (white noise)

    @property
    def is_silent(self) -> bool:
        return self.rms_dbfs < -55.0

    @property
    def is_clipped(self) -> bool:
        return self.clipped_ratio > 0.001

    @property
    def is_noise(self) -> bool:
        """Loud and spectrally flat: hiss, a fan, an open line -- not speech."""
        return not self.is_silent and self.flatness > 0.5


def rms_dbfs(x: np.ndarray) -> float:
    x = to_float(x)
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def clipping_ratio(x: np.ndarray, threshold: float = 0.999) -> float:
    x = to_float(x)
    if x.size == 0:
        return 0.0
    return float(np.mean(np.abs(x) >= threshold))


def spectral_flatness(x: np.ndarray, n_fft: int = 512) -> float:
    """Mean spectral flatness (geometric / arithmetic mean of the power spectrum) over frames."""
    x = to_float(x)
    if x.size < n_fft:
        return 0.0
    n = (x.size // n_fft) * n_fft
    fr = x[:n].reshape(-1, n_fft) * np.hanning(n_fft).astype(np.float32)
    p = np.abs(np.fft.rfft(fr, axis=1)) ** 2 + 1e-12
    flat = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    energy = np.mean(fr**2, axis=1)
    loud = energy > 1e-7
    if not loud.any():
        return 0.0
    return float(np.mean(flat[loud]))


def analyse(x: np.ndarray | bytes, sample_rate: int = SAMPLE_RATE) -> AudioQuality:
    if isinstance(x, (bytes, bytearray, memoryview)):
        x = s16le_to_int16(x)
    f = to_float(x)
    return AudioQuality(
        duration_s=f.size / float(sample_rate),
        rms_dbfs=rms_dbfs(f),
        peak=float(np.max(np.abs(f))) if f.size else 0.0,
        clipped_ratio=clipping_ratio(f),
        flatness=spectral_flatness(f),
    )
