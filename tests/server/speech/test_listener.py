"""The listener's speculative final (timing logic, fake recogniser): the final decode starts once the trainee
has been quiet for `speculate_after_s`, is dropped when speech comes back, and is never used when speech
was heard after its snapshot. The same path on real Whisper audio is in test_stt_whisper.py."""

from __future__ import annotations

import asyncio

import numpy as np

from server.speech.audio import SAMPLE_RATE, float_to_s16le, silence
from server.speech.endpoint import EnergyVad
from server.speech.listener import TurnListener
from server.speech.stt import RecognizerSession, SpeechRecognizer, Transcript


class FakeSession(RecognizerSession):
    """Records what the listener asks for; the final says whether it came from the speculation."""

    def __init__(self) -> None:
        super().__init__("zh")
        self.calls: list[str] = []
        self._spec_at_samples: int | None = None

    async def feed(self, pcm: bytes, *, allow_partial: bool = True) -> list[Transcript]:
        self._samples += len(pcm) // 2
        return []

    def speculate(self) -> None:
        self.calls.append("speculate")
        self._spec_at_samples = self._samples

    def drop_speculation(self) -> None:
        self.calls.append("drop")
        self._spec_at_samples = None

    async def finalize(self) -> Transcript:
        used = self._spec_at_samples is not None
        self.calls.append("final:speculated" if used else "final:decoded")
        self._spec_at_samples = None
        self.utterance += 1
        return Transcript("spec" if used else "full", True, "zh", 0.0, self.t, "fake")


class FakeRecognizer(SpeechRecognizer):
    name = "fake"

    def __init__(self) -> None:
        self.session = FakeSession()

    def supports(self, language: str) -> bool:
        return True

    def load(self) -> None:
        pass

    def new_session(self, language: str, **options) -> FakeSession:
        return self.session


def tone(seconds: float) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return float_to_s16le((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))


def listen(chunks: list[bytes], **kw) -> tuple[list[str], list[str], TurnListener]:
    kw.setdefault("speculate_after_s", 0.25)
    rec = FakeRecognizer()
    lis = TurnListener(rec, "zh", min_silence_s=0.5, max_silence_s=3.0, vad=EnergyVad(), **kw)

    async def go() -> list[str]:
        finals = []
        for chunk in chunks:
            for i in range(0, len(chunk), 640):  # 20 ms frames
                for ev in await lis.feed(chunk[i: i + 640]):
                    if ev.kind == "final":
                        finals.append(ev.transcript.text)
        return finals

    return asyncio.run(go()), rec.session.calls, lis


def test_the_final_decode_starts_in_the_silence_and_is_used():
    finals, calls, lis = listen([silence(0.3), tone(1.0), silence(1.0)])
    assert finals == ["spec"]
    assert calls == ["speculate", "final:speculated"]
    assert lis.speculations_dropped == 0


def test_a_pause_inside_the_turn_wastes_one_speculation_and_the_later_one_is_used():
    # 0.36 s pause: past the 0.25 s speculation point, short of the 0.5 s end of turn
    finals, calls, lis = listen([silence(0.3), tone(0.8), silence(0.36), tone(0.8), silence(1.0)])
    assert finals == ["spec"]
    assert calls == ["speculate", "drop", "speculate", "final:speculated"]
    assert lis.speculations_dropped == 1


def test_speech_heard_after_the_snapshot_is_never_lost():
    """Speech and the end of the turn arrive in one big frame after the snapshot: decode afresh."""
    rec = FakeRecognizer()
    lis = TurnListener(rec, "zh", min_silence_s=0.5, max_silence_s=3.0, vad=EnergyVad(), speculate_after_s=0.25)

    async def go() -> list[str]:
        out = []
        for chunk in (silence(0.3), tone(0.8), silence(0.3), tone(0.2) + silence(0.7)):
            out += [ev.transcript.text for ev in await lis.feed(chunk) if ev.kind == "final"]
        return out

    assert asyncio.run(go()) == ["full"]
    assert rec.session.calls == ["speculate", "drop", "final:decoded"]


def test_speculation_can_be_switched_off():
    finals, calls, _ = listen([silence(0.3), tone(1.0), silence(1.0)], speculate_after_s=None)
    assert finals == ["full"] and calls == ["final:decoded"]
