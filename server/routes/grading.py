"""Grading over HTTP: grade a posted transcript, a session's scorecard and report, and the rubrics."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from grading.record import TranscriptError, parse_transcript_json, parse_transcript_text
from grading.report import render_html, render_text
from grading.rubric import list_rubrics
from grading.scorecard import Scorecard
from grading.service import grade_transcript, scorecard_for_session, teacher_rubric_dir

router = APIRouter(prefix="/api", tags=["grading"])
MAX_BODY = 2 * 1024 * 1024


def _ctx(request: Request):
    return request.app.state.ctx


def _rubric(ctx, rubric_id: str | None):
    if not rubric_id:
        return None
    try:
        return list_rubrics(teacher_rubric_dir(ctx.settings)).get(rubric_id)
    except KeyError as exc:
        raise HTTPException(422, exc.args[0]) from None


def _out(card: Scorecard | dict, fmt: str):
    if fmt == "json":
        return JSONResponse(card if isinstance(card, dict) else card.model_dump(mode="json"))
    sc = card if isinstance(card, Scorecard) else Scorecard.model_validate({k: v for k, v in card.items() if k != "id"})
    if fmt == "html":
        return HTMLResponse(render_html(sc))
    return PlainTextResponse(render_text(sc))


@router.post("/grade")
async def grade(request: Request, rubric: str | None = None, scenario: str | None = None,
                format: Literal["json", "html", "text"] = "json"):
    """Grade a transcript: JSON `{"language", "scenario"?, "turns": [{"speaker", "text", "start"?, "end"?}]}`,
    or (Content-Type text/plain) one turn per line prefixed 坐席：/客户：/Agent:/Customer:."""
    ctx = _ctx(request)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"transcript too large (over {MAX_BODY // 1024} KiB) / 文本过大")
    if not body.strip():
        raise HTTPException(422, "empty body: send a transcript / 请求体为空，请提交通话文本")
    ctype = request.headers.get("content-type", "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(422, "the body is not UTF-8 text / 请使用 UTF-8 编码") from None
    rb = _rubric(ctx, rubric)
    try:
        if ctype.startswith("text/plain"):
            tr = parse_transcript_text(text)
        else:
            try:
                data: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TranscriptError(f"not valid JSON ({exc}); send JSON, or text/plain with 坐席：/客户： lines") from None
            tr = parse_transcript_json(data)
        card = grade_transcript(tr, settings=ctx.settings, rubric=rb, library=ctx.library, scenario_id=scenario)
    except TranscriptError as exc:
        raise HTTPException(422, str(exc)) from None
    return _out(card, format)


@router.get("/sessions/{session_id}/scorecard")
def session_scorecard(session_id: str, request: Request, format: Literal["json", "html", "text"] = "json"):
    """The session's latest scorecard (graded now if the call ended without one)."""
    try:
        data = scorecard_for_session(_ctx(request), session_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0] if exc.args else exc)) from None
    except RuntimeError as exc:
        raise HTTPException(409, str(exc)) from None
    except TranscriptError as exc:
        raise HTTPException(422, str(exc)) from None
    return _out(data, format)


@router.get("/sessions/{session_id}/report", response_class=HTMLResponse)
def session_report(session_id: str, request: Request):
    """The standalone, printable HTML report of the session's scorecard."""
    return session_scorecard(session_id, request, format="html")


@router.get("/scorecards/{scorecard_id}")
def get_scorecard(scorecard_id: str, request: Request, format: Literal["json", "html", "text"] = "json"):
    row = _ctx(request).store.get_scorecard(scorecard_id)
    if row is None:
        raise HTTPException(404, f"no scorecard {scorecard_id!r} / 找不到该评分")
    data = dict(row.data)
    data["id"] = row.id
    return _out(data, format)


def _rubric_summary(r, source: str) -> dict[str, Any]:
    return {
        "id": r.id, "version": r.version, "name": r.name.model_dump(), "source": source, "pass_mark": r.pass_mark,
        "dimensions": [{"id": d.id, "name": d.name.model_dump(), "weight": d.weight,
                        "criteria": [{"id": c.id, "name": c.name.model_dump(), "points": c.points, "rule": c.rule}
                                     for c in d.criteria]} for d in r.dimensions],
        "blockers": [{"id": b.id, "name": b.name.model_dump()} for b in r.blockers],
    }


@router.get("/rubrics")
def rubrics(request: Request) -> dict[str, Any]:
    """Every rubric (built-in and the teacher folder) and the files that failed validation."""
    rs = list_rubrics(teacher_rubric_dir(_ctx(request).settings))
    return {"rubrics": [_rubric_summary(r, rs.sources[r.id]) for r in rs],
            "errors": [str(e) for e in rs.errors]}


@router.get("/rubrics/{rubric_id}")
def rubric(rubric_id: str, request: Request) -> dict[str, Any]:
    rs = list_rubrics(teacher_rubric_dir(_ctx(request).settings))
    try:
        r = rs.get(rubric_id)
    except KeyError as exc:
        raise HTTPException(404, exc.args[0]) from None
    return {**r.model_dump(mode="json"), "source": rs.sources[r.id]}
