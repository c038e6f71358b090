"""The single source of configuration: every knob is read from the environment (prefix CALLCOACH_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Defaults are the offline ones: SQLite, scripted engine, offline voices."""

    model_config = SettingsConfigDict(env_prefix="CALLCOACH_", env_file=None, extra="ignore")

    # storage
    data_dir: Path = Field(default=Path.home() / ".callcoach", description="database, recordings, model cache")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CALLCOACH_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; default is SQLite (WAL) in data_dir",
    )

    # the call
    engine: Literal["scripted", "llm", "auto"] = "auto"  # auto: llm when llm_base_url is set, else scripted
    seed: int = 0
    language: Literal["zh", "en"] = "zh"
    resume_grace_s: float = 60.0  # a dropped call can be resumed this long, then it is closed as abandoned
    max_message_bytes: int = 64 * 1024
    silence_timeout_s: float = 25.0  # text-mode silence before the customer prompts ("喂？还在吗？")
    library_dir: Path | None = None  # extra scenario folder besides the built-in library

    # web
    host: str = "127.0.0.1"
    port: int = 8000
    tls: bool = False  # serve HTTPS (browsers allow the microphone only on HTTPS or localhost)
    tls_certfile: Path | None = None  # your own certificate; without it a self-signed one is made in data_dir/tls
    tls_keyfile: Path | None = None

    # LLM engine (OpenAI-compatible)
    llm_base_url: str | None = None
    llm_model: str = "qwen2.5-coder-1.5b-instruct"
    llm_api_key: str = "not-needed"
    llm_first_token_timeout_s: float = 4.0
    llm_total_timeout_s: float = 12.0
    llm_max_chars: int = 160
    llm_prompt_log: Path | None = None  # append every prompt sent to the LLM (JSON lines), for audits and tests

    # speech
    stt_engine: Literal["whisper", "vosk"] = "whisper"
    vosk_model_path: Path | None = None
    tts_engine: Literal["auto", "edge", "offline"] = "auto"
    edge_probe_timeout_s: float = 1.5
    eot_min_silence_s: float = 0.5  # end of turn: minimum silence after speech
    eot_max_silence_s: float = 3.0  # end of turn: maximum wait when the recogniser is unsure
    # start Whisper's final decode after this much trailing silence, overlapping the end-of-turn wait
    # (wasted when the trainee goes on talking; None or 0: decode only once the turn has ended). Off by
    # default: on 2 cores it saved ~60 ms per turn and cost capacity (benchmarks/results/voice_latency*.json)
    stt_speculate_after_s: float | None = None

    # grading
    rubric: str = "default"
    rubric_dir: Path | None = None  # teachers' rubric folder besides the built-in grading/rubrics/
    llm_judge: bool = False
    llm_judge_runs: int = 3

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'callcoach.db'}"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    def resolved_engine(self) -> str:
        if self.engine == "auto":
            return "llm" if self.llm_base_url else "scripted"
        return self.engine


@lru_cache
def get_settings() -> Settings:
    return Settings()
