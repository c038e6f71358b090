"""The trainee side of a call: endpointer + recogniser in one object, fed with mic frames.

::

    listener = TurnListener(get_recognizer("zh"), "zh", min_silence_s=0.5, max_silence_s=3.0)
    for ev in await listener.feed(frame):        # frame: 16 kHz s16le bytes, 20-100 ms
        if ev.kind == "speech_start": ...       # barge-in: stop the customer's audio
        elif ev.kind == "partial": ...          # ev.transcript.text
        elif ev.kind == "final": ...            # ev.transcript (may be ""), ev.endpoint (timings)
    await listener.tick()                       # every ~100 ms: ends a turn when frames stop coming
    await listener.close()                      # end of call: flushes an open turn

Only speech (plus a short pre-roll) reaches the recogniser; silence between turns costs nothing.
Partials also feed the endpointer's completion hint, so "我想问一下，" waits up to the maximum delay
while "好的，谢谢。" ends after the minimum.

Speculative final (off unless ``speculate_after_s`` is set, e.g. 0.25 s): once the trainee has been quiet
that long, the recogniser's final decode starts on the audio so far, overlapping the rest of the
end-of-turn wait; speech coming back drops it (a wasted decode), and speech heard after its snapshot is
never lost (the final decodes afresh).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal

from .audio import SAMPLE_RATE
from .endpoint import EndpointEvent, Endpointer, VadBackend
from .stt import RecognizerSession, SpeechRecognizer, Transcript


@dataclass(frozen=True)
class ListenerEvent:
    kind: Literal["speech_start", "partial", "final"]
    transcript: Transcript | None = None
    endpoint: EndpointEvent | None = None
    latency_s: float | None = None  # final: wall time from end-of-turn decision to final text


class TurnListener:
    def __init__(
        self,
        recognizer: SpeechRecognizer,
        language: str,
        *,
        min_silence_s: float | None = None,
        max_silence_s: float | None = None,
        preroll_s: float = 0.3,
        vad: VadBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        use_transcript_hint: bool = True,
        partial_quiet_s: float = 0.2,
        speculate_after_s: float | None = None,
        **endpointer_options,
    ):
        self.partial_quiet_s = partial_quiet_s
        # start the final decode after this much trailing silence, overlapping the rest of the end-of-turn
        # wait (None: decode only at the end of the turn)
        self.speculate_after_s = speculate_after_s
        self._spec_at: float | None = None  # stream time of the speculative snapshot
        self.language = language
        self.endpointer = Endpointer(
            min_silence_s=min_silence_s, max_silence_s=max_silence_s, vad=vad, clock=clock, **endpointer_options
        )
        self.session: RecognizerSession = recognizer.new_session(language)
        self.preroll_s = preroll_s
        self.clock = clock
        self.use_transcript_hint = use_transcript_hint
        # audio not yet given to the recogniser, with its stream start time
        keep_s = self.endpointer.max_silence_s + self.endpointer.min_speech_s + preroll_s + 1.0
        self._ring: deque[tuple[float, bytes]] = deque()
        self._ring_keep_s = keep_s
        self._stream_s = 0.0
        self._streaming = False  # audio of the current turn goes to the recogniser
        self.speculations_dropped = 0  # early final decodes wasted because the trainee went on talking

    async def feed(self, pcm: bytes) -> list[ListenerEvent]:
        pcm = bytes(pcm)
        if len(pcm) % 2:
            raise ValueError("odd-length frame: use PcmAssembler")
        t0 = self._stream_s
        self._stream_s += len(pcm) / 2 / SAMPLE_RATE
        out: list[ListenerEvent] = []
        if self._streaming:
            # no new partial once the trainee has gone quiet: the final should not queue behind it
            silent_s = self.endpointer.trailing_silence_s
            quiet = silent_s >= self.partial_quiet_s
            if self.speculate_after_s is not None:
                if silent_s >= self.speculate_after_s and self._spec_at is None:
                    self.session.speculate()
                    self._spec_at = t0
                elif silent_s < self.speculate_after_s and self._spec_at is not None:
                    self._drop_speculation()
            out.extend(self._partials(await self.session.feed(pcm, allow_partial=not quiet)))
        else:
            self._ring.append((t0, pcm))
            while self._ring and self._ring[0][0] < self._stream_s - self._ring_keep_s:
                self._ring.popleft()
        for ev in self.endpointer.feed(pcm):
            out.extend(await self._on_endpoint(ev))
        return out

    async def tick(self, now: float | None = None) -> list[ListenerEvent]:
        out: list[ListenerEvent] = []
        for ev in self.endpointer.tick(now):
            out.extend(await self._on_endpoint(ev))
        return out

    async def close(self) -> list[ListenerEvent]:
        out: list[ListenerEvent] = []
        for ev in self.endpointer.flush():
            out.extend(await self._on_endpoint(ev))
        await self.session.aclose()
        return out

    # ---------------------------------------------------------------------------------------------

    def _drop_speculation(self) -> None:
        self.session.drop_speculation()
        self._spec_at = None
        self.speculations_dropped += 1

    def _partials(self, trs: list[Transcript]) -> list[ListenerEvent]:
        if trs and self.use_transcript_hint:
            self.endpointer.update_transcript(trs[-1].text)
        return [ListenerEvent("partial", transcript=t) for t in trs]

    async def _drain_ring(self, start_t: float, end_t: float | None = None) -> list[ListenerEvent]:
        """Give buffered audio from ``start_t - preroll`` (to ``end_t``) to the recogniser."""
        lo = start_t - self.preroll_s
        out: list[ListenerEvent] = []
        chunks = []
        for t, pcm in self._ring:
            t_end = t + len(pcm) / 2 / SAMPLE_RATE
            if t_end <= lo or (end_t is not None and t >= end_t):
                continue
            a = max(0, int(round((lo - t) * SAMPLE_RATE))) * 2
            b = len(pcm) if end_t is None else min(len(pcm), int(round((end_t - t) * SAMPLE_RATE)) * 2)
            chunks.append(pcm[a:b])
        self._ring.clear()
        if chunks:
            out.extend(self._partials(await self.session.feed(b"".join(chunks))))
        return out

    async def _on_endpoint(self, ev: EndpointEvent) -> list[ListenerEvent]:
        out: list[ListenerEvent] = []
        if ev.kind == "speech_start":
            out.append(ListenerEvent("speech_start", endpoint=ev))
            if not self._streaming:
                self._streaming = True
                out.extend(await self._drain_ring(ev.speech_start_t))
            return out
        # end of turn
        if not self._streaming:  # a short utterance: it never went to the recogniser
            tail = (ev.speech_end_t or ev.t) + 0.25
            out.extend(await self._drain_ring(ev.speech_start_t, tail))
        self._streaming = False
        self._ring.clear()
        if self._spec_at is not None and (ev.speech_end_t is None or ev.speech_end_t > self._spec_at):
            self._drop_speculation()  # speech after the snapshot (in the same frame as the end of turn)
        self._spec_at = None
        t0 = self.clock()
        final = await self.session.finalize()
        out.append(ListenerEvent("final", transcript=final, endpoint=ev, latency_s=round(self.clock() - t0, 4)))
        return out
