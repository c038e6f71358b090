"""Sessions and their turns, as a trainee or teacher reads them after (or during) a call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel

router = APIRouter(prefix="/api", tags=["sessions"])


class TurnOut(BaseModel):
    turn: int
    speaker: str
    text: str
    move: str | None = None
    engine: str | None = None
    acts: dict[str, Any] | None = None
    start_s: float | None = None
    end_s: float | None = None
    interrupted: bool = False
    metrics: dict[str, Any] = {}


class SessionOut(BaseModel):
    id: str
    scenario_id: str
    trainee: str | None
    mode: str
    language: str
    seed: int
    engine: str
    channel: str
    status: str
    end_reason: str | None
    created_at: datetime
    ended_at: datetime | None
    scorecard_id: str | None
    total: float | None = None
    passed: bool | None = None


class SessionDetail(SessionOut):
    turns: list[TurnOut]
    final_state: dict[str, Any] | None = None


def _session_out(ctx, row) -> dict[str, Any]:
    d = row.model_dump()
    card = ctx.store.get_scorecard(row.scorecard_id) if row.scorecard_id else None
    d["total"] = card.total if card else None
    d["passed"] = card.passed if card else None
    return d


@router.get("/sessions", response_model=list[SessionOut])
def list_sessions(request: Request, trainee: str | None = None, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0)) -> list[dict[str, Any]]:
    ctx = request.app.state.ctx
    return [_session_out(ctx, row) for row in ctx.store.list_sessions(trainee=trainee, limit=limit, offset=offset)]


@router.get("/sessions/{session_id}", response_model=SessionDetail)
def get_session(session_id: str, request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    row = ctx.store.get_session(session_id)
    if row is None:
        raise HTTPException(404, f"no session {session_id!r} / 找不到该通话")
    d = _session_out(ctx, row)
    # the director's state is the customer's inner life: only after the call, and only for an ended practice call
    reveal = row.status != "active" and row.mode == "practice"
    d["final_state"] = row.final_state if reveal else None
    d["turns"] = [
        TurnOut(turn=t.idx, speaker=t.speaker, text=t.text, move=t.move if reveal else None, engine=t.engine,
                acts=t.acts if t.speaker == "agent" else None, start_s=t.start_s, end_s=t.end_s,
                interrupted=t.interrupted, metrics=t.metrics)
        for t in ctx.store.turns(session_id)
    ]
    return d
