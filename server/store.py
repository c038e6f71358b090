"""Reads and writes of sessions and turns. Every write commits at once: a crash loses nothing sent."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from personas.schema import Scenario
from server.models import CallSession, ScenarioSnapshot, Scorecard, Turn, utcnow


_TURN_INSERT = Turn.__table__.insert()
_SESSION_TOUCH = (
    CallSession.__table__.update().where(CallSession.__table__.c.id == bindparam("sid")).values(updated_at=bindparam("now"))
)


class CallStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ---------------------------------------------------------------- scenarios
    def snapshot(self, scenario: Scenario) -> str:
        content = scenario.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        with self._session() as db:
            if db.get(ScenarioSnapshot, digest) is None:
                db.add(ScenarioSnapshot(id=digest, scenario_id=scenario.id, version=scenario.version, content=content))
                try:
                    db.commit()
                except IntegrityError:  # another call stored the same snapshot first
                    db.rollback()
        return digest

    def load_snapshot(self, snapshot_id: str) -> Scenario | None:
        with self._session() as db:
            snap = db.get(ScenarioSnapshot, snapshot_id)
            return Scenario.model_validate(snap.content) if snap else None

    # ---------------------------------------------------------------- sessions
    def create_session(self, **fields: Any) -> CallSession:
        row = CallSession(**fields)
        with self._session() as db:
            db.add(row)
            db.commit()
            db.refresh(row)
        return row

    def get_session(self, session_id: str) -> CallSession | None:
        with self._session() as db:
            return db.get(CallSession, session_id)

    def update_session(self, session_id: str, **fields: Any) -> CallSession | None:
        with self._session() as db:
            row = db.get(CallSession, session_id)
            if row is None:
                return None
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = utcnow()
            db.add(row)
            db.commit()
            db.refresh(row)
            return row

    def end_session(self, session_id: str, status: str, end_reason: str | None, final_state: dict | None) -> None:
        self.update_session(session_id, status=status, end_reason=end_reason, final_state=final_state, ended_at=utcnow())

    def list_sessions(self, trainee: str | None = None, limit: int = 100, offset: int = 0) -> list[CallSession]:
        with self._session() as db:
            q = select(CallSession).order_by(col(CallSession.created_at).desc()).offset(offset).limit(limit)
            if trainee is not None:
                q = q.where(CallSession.trainee == trainee)
            return list(db.exec(q))

    def stale_active(self, older_than: timedelta) -> list[CallSession]:
        cutoff = utcnow() - older_than
        with self._session() as db:
            q = select(CallSession).where(CallSession.status == "active", col(CallSession.updated_at) < cutoff)
            return list(db.exec(q))

    # ---------------------------------------------------------------- turns
    def add_turn(self, session_id: str, idx: int, speaker: str, text: str, **fields: Any) -> None:
        """Insert one turn and touch its session, in one committed transaction (Core: this is the hot path)."""
        now = utcnow()
        values = {"session_id": session_id, "idx": idx, "speaker": speaker, "text": text, "created_at": now,
                  "events": [], "metrics": {}, "interrupted": False, **fields}
        with self.engine.begin() as conn:
            conn.execute(_TURN_INSERT, values)
            conn.execute(_SESSION_TOUCH, {"sid": session_id, "now": now})

    def update_turn(self, session_id: str, idx: int, **fields: Any) -> None:
        with self._session() as db:
            row = db.exec(select(Turn).where(Turn.session_id == session_id, Turn.idx == idx)).first()
            if row is None:
                return
            for k, v in fields.items():
                setattr(row, k, v)
            db.add(row)
            db.commit()

    def turns(self, session_id: str) -> list[Turn]:
        with self._session() as db:
            return list(db.exec(select(Turn).where(Turn.session_id == session_id).order_by(col(Turn.idx))))

    # ---------------------------------------------------------------- scorecards
    def add_scorecard(self, card: Scorecard) -> Scorecard:
        with self._session() as db:
            db.add(card)
            if card.session_id:
                parent = db.get(CallSession, card.session_id)
                if parent is not None:
                    parent.scorecard_id = card.id
                    db.add(parent)
            db.commit()
            db.refresh(card)
        return card

    def get_scorecard(self, scorecard_id: str) -> Scorecard | None:
        with self._session() as db:
            return db.get(Scorecard, scorecard_id)

    def latest_scorecard(self, session_id: str) -> Scorecard | None:
        with self._session() as db:
            q = select(Scorecard).where(Scorecard.session_id == session_id).order_by(col(Scorecard.created_at).desc())
            return db.exec(q).first()


def seconds_since(t: datetime) -> float:
    if t.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        t = t.replace(tzinfo=timezone.utc)
    return (utcnow() - t).total_seconds()
