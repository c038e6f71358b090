"""Database tables (SQLModel). JSON columns hold acts, director state and metrics as they were."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class ScenarioSnapshot(SQLModel, table=True):
    """The exact scenario (persona included) a session ran against; keyed by content hash."""

    __tablename__ = "scenario_snapshot"
    id: str = Field(primary_key=True, max_length=64)  # sha256 of the canonical JSON
    scenario_id: str = Field(index=True, max_length=64)
    version: int
    content: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class CallSession(SQLModel, table=True):
    __tablename__ = "call_session"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    scenario_id: str = Field(index=True, max_length=64)
    snapshot_id: str = Field(foreign_key="scenario_snapshot.id", max_length=64)
    trainee: str | None = Field(default=None, max_length=120, index=True)
    mode: str = Field(max_length=16)  # practice | exam
    language: str = Field(max_length=8)
    seed: int
    engine: str = Field(max_length=16)
    channel: str = Field(default="text", max_length=8)  # text | voice
    status: str = Field(default="active", max_length=16, index=True)  # active | ended | abandoned
    end_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    final_state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    info: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # tts/stt choice, ...
    scorecard_id: str | None = Field(default=None, max_length=32)
    recording_path: str | None = None


class Turn(SQLModel, table=True):
    __tablename__ = "turn"
    __table_args__ = (UniqueConstraint("session_id", "idx"), Index("ix_turn_session_idx", "session_id", "idx"))
    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="call_session.id", max_length=32)
    idx: int
    speaker: str = Field(max_length=10)  # agent | customer
    text: str = Field(sa_column=Column(Text, nullable=False))
    move: str | None = Field(default=None, max_length=32)  # customer turns: the director's move
    engine: str | None = Field(default=None, max_length=16)  # customer turns: which engine spoke
    acts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # agent turns: detection
    state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # director state after the turn
    events: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    start_s: float | None = None  # offset in the call (seconds since start)
    end_s: float | None = None
    interrupted: bool = False


class Scorecard(SQLModel, table=True):
    __tablename__ = "scorecard"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str | None = Field(default=None, foreign_key="call_session.id", max_length=32, index=True)
    rubric_id: str = Field(max_length=64)
    rubric_version: int
    total: float
    passed: bool
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
