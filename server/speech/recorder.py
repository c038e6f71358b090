"""Call recording: one stereo WAV, trainee on the left, customer on the right, on one call clock.

::

    rec = Recorder(path)                        # call clock starts now (clock() injectable)
    rec.write_trainee(frame)                    # mic audio, placed continuously (or at=offset_s)
    span = rec.write_customer(pcm)              # TTS audio, placed at max(now, end of last customer audio)
    rec.truncate_customer(at_s)                 # barge-in: drop customer audio not played
    turn = rec.mark_turn("trainee", start_s, end_s)      # -> TurnSpan, kept in rec.turns
    info = rec.close()                          # RecordingInfo(path, duration_s, turns, ...)

Audio is kept in memory only for the last ``commit_lag_s`` (late mic frames can still land) plus
customer audio scheduled in the future (so a barge-in removes what was never played); everything
older is written to disk as interleaved 16 kHz s16le stereo. The WAV header's sizes are rewritten
and the file flushed (and fsync'ed) at least every ``flush_interval_s``; if the process dies the
file holds all audio up to ~``commit_lag_s + flush_interval_s`` before the crash, and
:func:`read_recording` / :func:`repair_wav` recover it even when the header was not updated.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from .audio import SAMPLE_RATE, s16le_to_int16

Speaker = Literal["trainee", "customer"]
CHANNEL = {"trainee": 0, "customer": 1}
HEADER_BYTES = 44


def wav_header(n_frames: int, sample_rate: int = SAMPLE_RATE, channels: int = 2) -> bytes:
    data = n_frames * channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, channels, sample_rate,
        sample_rate * channels * 2, channels * 2, 16, b"data", data,
    )


@dataclass(frozen=True)
class Span:
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TurnSpan:
    speaker: Speaker
    start_s: float
    end_s: float
    index: int


@dataclass
class RecordingInfo:
    path: Path
    sample_rate: int
    duration_s: float
    turns: list[TurnSpan] = field(default_factory=list)
    late_dropped_s: float = 0.0  # trainee audio that arrived after its place was written
    unplayed_dropped_s: float = 0.0  # customer audio scheduled beyond the end


class Recorder:
    def __init__(
        self,
        path: Path | str,
        *,
        sample_rate: int = SAMPLE_RATE,
        clock: Callable[[], float] = time.monotonic,
        commit_lag_s: float = 0.5,
        flush_interval_s: float = 1.0,
        fsync: bool = True,
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self.clock = clock
        self.t0 = clock()
        self.commit_lag_s = commit_lag_s
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        self._f = open(self.path, "wb+")
        self._f.write(wav_header(0, sample_rate))
        self._written = 0  # frames on disk
        self._buf = [np.zeros(0, np.int16), np.zeros(0, np.int16)]  # from frame self._written on
        self._cursor = [0, 0]  # end (absolute frame) of the latest write per channel
        self._header_frames = 0
        self._last_flush = self.t0
        self._late = 0
        self._unplayed = 0
        self.turns: list[TurnSpan] = []
        self._lock = threading.Lock()
        self.closed = False

    # --- clock -----------------------------------------------------------------------------------

    def now_s(self) -> float:
        return self.clock() - self.t0

    def _frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))

    # --- writing ---------------------------------------------------------------------------------

    def write_trainee(self, pcm: bytes, at: float | None = None) -> Span:
        """Mic audio. Default placement: right after the previous trainee audio, unless that is
        more than 0.5 s behind the clock (the client paused the stream), then ending now."""
        with self._lock:
            x = s16le_to_int16(pcm)
            if at is None:
                start = self._cursor[0]
                now_f = self._frames(self.now_s())
                if start + x.size < now_f - self._frames(0.5):
                    start = max(start, now_f - x.size)
            else:
                start = self._frames(at)
            return self._place(0, x, start)

    def write_customer(self, pcm: bytes, at: float | None = None) -> Span:
        """Customer audio, placed where it will be heard: at ``at``, or when the previous customer
        audio ends, but never before now (it cannot be played in the past)."""
        with self._lock:
            x = s16le_to_int16(pcm)
            if at is None:
                start = max(self._cursor[1], self._frames(self.now_s()))
            else:
                start = self._frames(at)
            return self._place(1, x, start)

    def truncate_customer(self, at: float | None = None) -> float:
        """Barge-in: customer audio after ``at`` (default now) was not played; drop it. Returns s dropped."""
        with self._lock:
            cut = max(self._frames(self.now_s() if at is None else at), self._written)
            end = self._cursor[1]
            if end <= cut:
                return 0.0
            b = self._buf[1]
            lo = cut - self._written
            if lo < b.size:
                b[lo:] = 0
            self._cursor[1] = cut
            self._unplayed += end - cut
            return (end - cut) / self.sample_rate

    def mark_turn(self, speaker: Speaker, start_s: float, end_s: float) -> TurnSpan:
        turn = TurnSpan(speaker, round(start_s, 3), round(max(end_s, start_s), 3), len(self.turns))
        self.turns.append(turn)
        return turn

    def customer_end_s(self) -> float:
        """Where the customer's queued audio ends (call time)."""
        return self._cursor[1] / self.sample_rate

    def trainee_end_s(self) -> float:
        return self._cursor[0] / self.sample_rate

    def _place(self, ch: int, x: np.ndarray, start: int) -> Span:
        if self.closed:
            raise ValueError("recorder is closed")
        end = start + x.size
        if start < self._written:  # too late for the part already on disk
            cut = min(x.size, self._written - start)
            self._late += cut
            x, start = x[cut:], self._written
        if x.size:
            need = end - self._written
            for c in (0, 1):
                if self._buf[c].size < need:
                    self._buf[c] = np.concatenate([self._buf[c], np.zeros(need - self._buf[c].size, np.int16)])
            self._buf[ch][start - self._written : end - self._written] = x
        self._cursor[ch] = max(self._cursor[ch], end)
        self._commit(self._frames(self.now_s() - self.commit_lag_s))
        return Span(start / self.sample_rate, end / self.sample_rate)

    def tick(self) -> None:
        """Call now and then (e.g. each frame or once a second) to commit and flush when idle."""
        with self._lock:
            if not self.closed:
                self._commit(self._frames(self.now_s() - self.commit_lag_s))

    def _commit(self, upto: int, force_flush: bool = False) -> None:
        n = upto - self._written
        if n > 0:
            inter = np.zeros((n, 2), np.int16)
            for c in (0, 1):
                b = self._buf[c]
                k = min(n, b.size)
                inter[:k, c] = b[:k]
                self._buf[c] = b[k:].copy() if b.size > k else np.zeros(0, np.int16)
            self._f.seek(0, os.SEEK_END)
            self._f.write(inter.astype("<i2").tobytes())
            self._written = upto
        now = self.clock()
        if force_flush or (self._written != self._header_frames and now - self._last_flush >= self.flush_interval_s):
            self._f.flush()
            self._f.seek(0)
            self._f.write(wav_header(self._written, self.sample_rate))
            self._f.seek(0, os.SEEK_END)
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())
            self._header_frames = self._written
            self._last_flush = now

    def flush(self) -> None:
        with self._lock:
            self._commit(self._frames(self.now_s() - self.commit_lag_s), force_flush=True)

    def close(self, end_s: float | None = None) -> RecordingInfo:
        """Write everything up to ``end_s`` (default: now, or the end of the trainee audio if later).
        Customer audio queued beyond that was never played and is dropped."""
        with self._lock:
            if not self.closed:
                end = self._frames(end_s) if end_s is not None else max(self._frames(self.now_s()), self._cursor[0])
                end = max(end, self._written)
                if self._cursor[1] > end:
                    self._unplayed += self._cursor[1] - end
                self._commit(end, force_flush=True)
                self._f.close()
                self.closed = True
            return RecordingInfo(
                self.path, self.sample_rate, self._written / self.sample_rate, list(self.turns),
                self._late / self.sample_rate, self._unplayed / self.sample_rate,
            )

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- reading -------------------------------------------------------------------------------------


@dataclass
class Recording:
    sample_rate: int
    trainee: np.ndarray  # int16
    customer: np.ndarray  # int16
    header_ok: bool  # False when the header sizes were stale (crash) and the file length was used

    @property
    def duration_s(self) -> float:
        return self.trainee.size / self.sample_rate


def read_recording(path: Path | str) -> Recording:
    """Read a (possibly unfinished) recording; the data length comes from the file size."""
    raw = Path(path).read_bytes()
    if len(raw) < HEADER_BYTES or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a CallCoach WAV recording")
    channels, rate = struct.unpack("<HI", raw[22:28])
    declared = struct.unpack("<I", raw[40:44])[0]
    data = raw[HEADER_BYTES:]
    frame_bytes = channels * 2
    data = data[: len(data) // frame_bytes * frame_bytes]
    x = np.frombuffer(data, "<i2").astype(np.int16).reshape(-1, channels)
    return Recording(rate, x[:, 0].copy(), x[:, min(1, channels - 1)].copy(), declared == len(data))


def repair_wav(path: Path | str) -> bool:
    """Rewrite a WAV header whose sizes do not match the data (after a crash). True if changed."""
    path = Path(path)
    with open(path, "r+b") as f:
        head = f.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b"RIFF":
            raise ValueError(f"{path}: not a WAV file")
        channels, rate = struct.unpack("<HI", head[22:28])
        size = os.fstat(f.fileno()).st_size - HEADER_BYTES
        frame_bytes = channels * 2
        frames_ = size // frame_bytes
        if size % frame_bytes:
            f.truncate(HEADER_BYTES + frames_ * frame_bytes)
        new = wav_header(frames_, rate, channels)
        if new == head and not size % frame_bytes:
            return False
        f.seek(0)
        f.write(new)
        return True
