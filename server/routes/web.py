"""What the browser client needs beyond the call websocket and the REST API: its configuration,
the trainee's history with per-dimension scores, and (only with CALLCOACH_TEST_HOOKS=1) a test hook
that closes a live call's websocket from the server side.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import weakref
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

router = APIRouter(prefix="/api", tags=["web"])
log = logging.getLogger("callcoach.web")

TEST_HOOKS = os.environ.get("CALLCOACH_TEST_HOOKS") == "1"


def voice_available() -> bool:
    """Voice calls need the voice pipeline module (server/speech/call_audio.py)."""
    try:
        return importlib.util.find_spec("server.speech.call_audio") is not None
    except (ImportError, ValueError):
        return False


@router.get("/web/config")
def web_config(request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    return {
        "voice": voice_available(),
        "resume_grace_s": ctx.settings.resume_grace_s,
        "default_language": ctx.settings.language,
        "engines": sorted(ctx.engines),
        "test_hooks": TEST_HOOKS,
    }


def _iso(dt) -> str | None:
    if dt is None:
        return None
    s = dt.isoformat()
    return s if dt.tzinfo is not None else s + "Z"  # SQLite hands back naive datetimes written as UTC


@router.get("/web/history")
def history(request: Request, trainee: str = Query(..., min_length=1, max_length=120),
            limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
    """A trainee's calls, oldest first, each with its total and per-dimension scores (for the chart)."""
    ctx = request.app.state.ctx
    titles: dict[str, dict[str, str]] = {}
    for s in ctx.library:
        titles[s.id] = {"zh": s.title.get("zh"), "en": s.title.get("en")}
    rows = ctx.store.list_sessions(trainee=trainee, limit=limit)
    calls = []
    for row in reversed(rows):  # list_sessions is newest first
        card = ctx.store.get_scorecard(row.scorecard_id) if row.scorecard_id else None
        dims = []
        if card is not None:
            for d in card.data.get("dimensions", []):
                dims.append({"id": d.get("id"), "name": d.get("name"), "score": d.get("score"), "max": d.get("max")})
        calls.append({
            "session_id": row.id,
            "scenario_id": row.scenario_id,
            "title": titles.get(row.scenario_id, {}),
            "mode": row.mode,
            "language": row.language,
            "channel": row.channel,
            "status": row.status,
            "end_reason": row.end_reason,
            "created_at": _iso(row.created_at),
            "total": card.total if card else None,
            "passed": card.passed if card else None,
            "pass_mark": card.data.get("pass_mark") if card else None,
            "dimensions": dims,
        })
    return {"trainee": trainee, "calls": calls, "dimension_names": _dimension_names(ctx)}


def _dimension_names(ctx) -> dict[str, dict[str, str]]:
    """Dimension id -> {zh, en} from every rubric, so the chart's legend follows the UI language
    (a scorecard carries its dimension names in the call's language only)."""
    try:
        from grading.rubric import list_rubrics
        from grading.service import teacher_rubric_dir

        names: dict[str, dict[str, str]] = {}
        for rubric in list_rubrics(teacher_rubric_dir(ctx.settings)):
            for d in rubric.dimensions:
                names.setdefault(d.id, {"zh": d.name.get("zh"), "en": d.name.get("en")})
        return names
    except Exception:  # the chart falls back to the names on the scorecards
        log.exception("could not read the rubrics' dimension names")
        return {}


if TEST_HOOKS:
    # Test-only: remember every call connection so a test can close one from the server side,
    # as a proxy or a server restart would. Never enabled unless CALLCOACH_TEST_HOOKS=1.
    from server.routes import call_ws

    _connections: weakref.WeakSet = weakref.WeakSet()
    _orig_init = call_ws.CallConnection.__init__

    def _tracking_init(self, *args: Any, **kwargs: Any) -> None:
        _orig_init(self, *args, **kwargs)
        _connections.add(self)

    call_ws.CallConnection.__init__ = _tracking_init  # type: ignore[method-assign]

    @router.post("/test/sessions/{session_id}/drop")
    async def drop_socket(session_id: str) -> dict[str, Any]:
        """Close the live websocket of a session (code 1012, as a restarting server would)."""
        dropped = 0
        for conn in list(_connections):
            if conn.rt is not None and conn.rt.id == session_id and not conn.closed:
                try:
                    await conn.ws.close(code=1012)
                except RuntimeError:
                    pass
                dropped += 1
        if not dropped:
            raise HTTPException(404, f"no live websocket for session {session_id!r}")
        log.warning("test hook: dropped %d websocket(s) of session %s", dropped, session_id)
        return {"dropped": dropped}
