"""End of turn: a VAD plus a silence timer with a minimum and a maximum delay.

:class:`Endpointer` is fed 16 kHz s16le frames of any size. It cuts them into 30 ms VAD frames
(webrtcvad, plus an energy floor so that near-silence never counts as speech) and runs a small state
machine on **audio time** (seconds of audio consumed), so the logic is deterministic and testable
with synthetic frames; a wall clock (``clock``, injectable) is used only to stamp events and by
:meth:`Endpointer.tick` to end a turn when the client stops sending audio.

Events (:class:`EndpointEvent`):

- ``speech_start``: emitted once at least ``min_speech_s`` (0.3 s) of voiced audio has accumulated
  (gaps up to ``speech_gap_s`` allowed). Use it for barge-in: stop the customer's audio.
- ``end_of_turn``: after the speech, silence lasted long enough. How long depends on what is known
  about the turn (see :meth:`Endpointer.set_turn_complete`): ``min_silence_s`` when the turn looks
  complete or nothing is known, ``max_silence_s`` when it looks unfinished (a trailing comma or
  "嗯/那个/and/um"), and it is forced at ``max_turn_s`` of continuous talk (or noise).
  A short utterance (``min_utterance_s`` <= voiced < ``min_speech_s``, e.g. "对。") ends a turn too,
  without a ``speech_start`` before it, so backchannels do not trigger barge-in but are not lost.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import numpy as np

from .audio import SAMPLE_RATE, s16le_to_int16

FRAME_MS = 30
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 480
FRAME_BYTES = FRAME_SAMPLES * 2


class VadBackend(Protocol):
    def is_speech(self, frame: bytes) -> bool:  # one 30 ms 16 kHz s16le frame
        ...


class WebRtcVad:
    """webrtcvad with an energy floor (frames quieter than ``floor_dbfs`` are never speech)."""

    def __init__(self, aggressiveness: int = 2, floor_dbfs: float = -45.0):
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._floor = (10 ** (floor_dbfs / 20.0) * 32768.0) ** 2

    def is_speech(self, frame: bytes) -> bool:
        x = s16le_to_int16(frame).astype(np.float32)
        if float(np.mean(x * x)) < self._floor:
            return False
        return bool(self._vad.is_speech(frame, SAMPLE_RATE))


class EnergyVad:
    """Energy threshold only. For tests of the timing logic with synthetic frames."""

    def __init__(self, threshold_dbfs: float = -40.0):
        self._thr = (10 ** (threshold_dbfs / 20.0) * 32768.0) ** 2

    def is_speech(self, frame: bytes) -> bool:
        x = s16le_to_int16(frame).astype(np.float32)
        return float(np.mean(x * x)) >= self._thr


EventKind = Literal["speech_start", "end_of_turn"]


@dataclass(frozen=True)
class EndpointEvent:
    kind: EventKind
    t: float  # audio time (s since the stream started) at which the event was decided
    speech_start_t: float  # audio time where the speech began
    speech_end_t: float | None  # end_of_turn: audio time where the last voiced frame ended
    wall: float  # clock() when emitted
    reason: str = ""  # end_of_turn: silence_min | silence_max | max_turn | stalled | flush | short
    silence_s: float = 0.0  # end_of_turn: silence waited


_INCOMPLETE_ZH = ("嗯", "呃", "那个", "就是", "然后", "还有", "因为", "但是", "所以", "而且", "如果", "的话", "我想", "这个")
_INCOMPLETE_EN = {"and", "but", "so", "because", "um", "uh", "er", "the", "a", "an", "to", "of", "if", "or", "my", "i", "with"}


def looks_complete(text: str) -> bool | None:
    """Heuristic turn-completion hint from a (partial) transcript.

    True: ends like a finished sentence; False: ends with a comma, a filler or a conjunction; None:
    no opinion (treated like True by the endpointer, i.e. the minimum delay).
    """
    s = text.strip()
    if not s:
        return None
    if s[-1] in "，,、：:;；-—…":
        return False
    core = re.sub(r"[。．.!！?？\s]+$", "", s)
    if not core:
        return None
    for w in _INCOMPLETE_ZH:
        if core.endswith(w):
            return False
    last = re.findall(r"[A-Za-z']+", core[-12:])
    if last and last[-1].lower() in _INCOMPLETE_EN and core[-1].isascii():
        return False
    if s[-1] in "。．.!！?？":
        return True
    return None


class Endpointer:
    def __init__(
        self,
        *,
        min_silence_s: float | None = None,
        max_silence_s: float | None = None,
        min_speech_s: float = 0.3,
        min_utterance_s: float = 0.12,
        speech_gap_s: float = 0.15,
        max_turn_s: float = 30.0,
        vad: VadBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if min_silence_s is None or max_silence_s is None:
            from server.settings import get_settings

            s = get_settings()
            min_silence_s = s.eot_min_silence_s if min_silence_s is None else min_silence_s
            max_silence_s = s.eot_max_silence_s if max_silence_s is None else max_silence_s
        if not 0 < min_silence_s <= max_silence_s:
            raise ValueError(f"need 0 < min_silence_s ({min_silence_s}) <= max_silence_s ({max_silence_s})")
        self.min_silence_s = float(min_silence_s)
        self.max_silence_s = float(max_silence_s)
        self.min_speech_s = min_speech_s
        self.min_utterance_s = min_utterance_s
        self.speech_gap_s = speech_gap_s
        self.max_turn_s = max_turn_s
        self.vad = vad if vad is not None else WebRtcVad()
        self.clock = clock
        self._buf = b""
        self._samples = 0  # audio consumed, in samples
        self._hint: bool | None = None
        self._last_feed_wall: float | None = None
        self._reset_turn()

    # --- state ---------------------------------------------------------------------------------

    def _reset_turn(self) -> None:
        self.state: Literal["idle", "candidate", "speech"] = "idle"
        self._start_t = 0.0  # first voiced frame of the turn
        self._voiced_s = 0.0  # voiced audio in the turn
        self._last_voiced_end = 0.0  # end time of the latest voiced frame
        self._recent: list[bool] = []  # last frames' VAD decisions (for resume smoothing)
        self._hint = None

    @property
    def t(self) -> float:
        """Audio time consumed so far (s)."""
        return self._samples / SAMPLE_RATE

    @property
    def in_speech(self) -> bool:
        return self.state == "speech"

    @property
    def candidate_start_t(self) -> float | None:
        return self._start_t if self.state != "idle" else None

    @property
    def trailing_silence_s(self) -> float:
        """Silence since the last voiced frame of the current turn (0 when idle)."""
        return 0.0 if self.state == "idle" else max(0.0, self.t - self._last_voiced_end)

    def set_turn_complete(self, complete: bool | None) -> None:
        """Hint for the current turn: True/None -> ``min_silence_s``; False -> ``max_silence_s``."""
        self._hint = complete

    def update_transcript(self, text: str) -> None:
        """Set the hint from the latest partial transcript (see :func:`looks_complete`)."""
        self._hint = looks_complete(text)

    def required_silence_s(self) -> float:
        return self.max_silence_s if self._hint is False else self.min_silence_s

    # --- input ---------------------------------------------------------------------------------

    def feed(self, pcm: bytes) -> list[EndpointEvent]:
        """Feed s16le 16 kHz audio (any length; an odd trailing byte is carried)."""
        self._last_feed_wall = self.clock()
        self._buf += bytes(pcm)
        events: list[EndpointEvent] = []
        n = len(self._buf) // FRAME_BYTES
        for i in range(n):
            frame = self._buf[i * FRAME_BYTES : (i + 1) * FRAME_BYTES]
            ev = self._step(self.vad.is_speech(frame))
            if ev:
                events.extend(ev)
        self._buf = self._buf[n * FRAME_BYTES :]
        return events

    def feed_decisions(self, decisions: list[bool]) -> list[EndpointEvent]:
        """Advance by whole 30 ms frames with given VAD decisions (for tests and other VADs)."""
        self._last_feed_wall = self.clock()
        out: list[EndpointEvent] = []
        for d in decisions:
            out.extend(self._step(bool(d)))
        return out

    def tick(self, now: float | None = None) -> list[EndpointEvent]:
        """Call periodically: ends a turn when audio stopped arriving (the gap counts as silence)."""
        if self.state == "idle" or self._last_feed_wall is None:
            return []
        now = self.clock() if now is None else now
        gap = max(0.0, now - self._last_feed_wall)
        silence = (self.t - self._last_voiced_end) + gap
        if self.state == "speech" and silence >= self.required_silence_s():
            return [self._eot("stalled", silence)]
        if self.state == "candidate" and silence >= self.min_silence_s:
            if self._voiced_s >= self.min_utterance_s:
                return [self._eot("short", silence)]
            self._reset_turn()
        return []

    def flush(self) -> list[EndpointEvent]:
        """End of stream: close an open turn."""
        if self.state == "speech" or (self.state == "candidate" and self._voiced_s >= self.min_utterance_s):
            return [self._eot("flush", self.t - self._last_voiced_end)]
        self._reset_turn()
        return []

    # --- the state machine ---------------------------------------------------------------------

    def _eot(self, reason: str, silence: float) -> EndpointEvent:
        ev = EndpointEvent(
            "end_of_turn",
            t=self.t,
            speech_start_t=self._start_t,
            speech_end_t=self._last_voiced_end,
            wall=self.clock(),
            reason=reason,
            silence_s=round(silence, 4),
        )
        self._reset_turn()
        return ev

    def _step(self, voiced: bool) -> list[EndpointEvent]:
        frame_s = FRAME_SAMPLES / SAMPLE_RATE
        t0 = self.t
        self._samples += FRAME_SAMPLES
        t1 = self.t
        self._recent = (self._recent + [voiced])[-3:]
        out: list[EndpointEvent] = []

        if self.state == "idle":
            if voiced:
                self.state = "candidate"
                self._start_t = t0
                self._voiced_s = frame_s
                self._last_voiced_end = t1
            return out

        if self.state == "candidate":
            if voiced:
                self._voiced_s += frame_s
                self._last_voiced_end = t1
                if self._voiced_s >= self.min_speech_s - 1e-9:
                    self.state = "speech"
                    out.append(
                        EndpointEvent("speech_start", t=t1, speech_start_t=self._start_t, speech_end_t=None, wall=self.clock())
                    )
                return out
            gap = t1 - self._last_voiced_end
            if self._voiced_s >= self.min_utterance_s:
                # a short utterance ("对。"): keep it as a turn if silence follows
                if gap >= self.min_silence_s - 1e-9:
                    out.append(self._eot("short", gap))
            elif gap > self.speech_gap_s + 1e-9:
                self._reset_turn()
            return out

        # state == "speech"
        # speech resumes only on 2 of the last 3 frames voiced (one stray frame is not speech)
        if voiced and sum(self._recent) >= 2:
            self._voiced_s += frame_s
            self._last_voiced_end = t1
        silence = t1 - self._last_voiced_end
        if t1 - self._start_t >= self.max_turn_s - 1e-9:
            out.append(self._eot("max_turn", silence))
        elif silence >= self.required_silence_s() - 1e-9:
            out.append(self._eot("silence_max" if self._hint is False else "silence_min", silence))
        return out
