"""The call websocket protocol: every message in either direction is one of these models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioFormat(_Msg):
    """Trainee audio: PCM s16le mono; a rate other than 16 kHz is resampled. A bad field -> `bad_audio`."""

    sample_rate: int = Field(16000, ge=8000, le=192000)
    format: Literal["s16le"] = "s16le"
    channels: Literal[1] = 1


class StartMsg(_Msg):
    type: Literal["start"]
    scenario: str | None = Field(default=None, max_length=64)
    mode: Literal["practice", "exam"] = "practice"
    language: Literal["zh", "en"] | None = None
    seed: int | None = None
    engine: Literal["scripted", "llm"] | None = None
    trainee: str | None = Field(default=None, max_length=120)
    resume: str | None = Field(default=None, max_length=32, description="session id to resume")
    audio: AudioFormat | None = None


class TextMsg(_Msg):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=4000)


class EndMsg(_Msg):
    type: Literal["end"]


class PlaybackMsg(_Msg):
    type: Literal["playback"]
    turn: int
    played_ms: int = Field(ge=0)
    done: bool = False


class PingMsg(_Msg):
    type: Literal["ping"]


ClientMsg = Annotated[StartMsg | TextMsg | EndMsg | PlaybackMsg | PingMsg, Field(discriminator="type")]
CLIENT_TYPES = ("start", "text", "end", "playback", "ping")
client_adapter: TypeAdapter[ClientMsg] = TypeAdapter(ClientMsg)


class ErrorCode:
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    BAD_MESSAGE = "bad_message"
    NOT_STARTED = "not_started"
    ALREADY_STARTED = "already_started"
    UNKNOWN_SCENARIO = "unknown_scenario"
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    UNKNOWN_SESSION = "unknown_session"
    SESSION_CLOSED = "session_closed"
    SESSION_IN_USE = "session_in_use"
    CALL_ENDED = "call_ended"
    BAD_AUDIO = "bad_audio"
    NOT_VOICE = "not_voice"
    INTERNAL = "internal"


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}
