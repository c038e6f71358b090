"""Grading as the server and the CLI use it: find the rubric, build the record, grade, store.

`make_session_grader(ctx)` is what `AppContext.build` wires in: the call runtime calls it when a call
ends, and the `ended` message carries the scorecard id it returns. Rule grading is fast (well under
a millisecond of the grader's own time per call) and runs inline; the optional LLM judge is slow, so
with Settings.llm_judge on it runs afterwards in a thread and stores a second, judged scorecard (the
latest scorecard of a session is the one the API returns).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from grading.grader import grade_record
from grading.judge import LLMJudge
from grading.record import (
    CallRecord,
    TranscriptError,
    TranscriptIn,
    load_transcript_file,
    parse_transcript_json,
    record_from_session,
    record_from_transcript,
)
from grading.rubric import Rubric, list_rubrics, resolve_rubric
from grading.scorecard import Scorecard

if TYPE_CHECKING:
    from personas.library import Library
    from personas.schema import Scenario
    from server.deps import AppContext
    from server.settings import Settings
    from server.store import CallStore

log = logging.getLogger("callcoach.grading")


def teacher_rubric_dir(settings: Settings | None) -> Path | None:
    return getattr(settings, "rubric_dir", None) if settings is not None else None


def rubric_for(scenario: Scenario | None, settings: Settings | None = None, requested: str | None = None) -> Rubric:
    """The rubric to use: the one asked for, else the scenario's own (when it names one), else Settings.rubric."""
    teacher = teacher_rubric_dir(settings)
    if requested:
        return resolve_rubric(requested, teacher)
    rubrics = list_rubrics(teacher)
    if scenario is not None and scenario.rubric and scenario.rubric != "default" and scenario.rubric in rubrics.rubrics:
        return rubrics.get(scenario.rubric)
    wanted = getattr(settings, "rubric", None) or "default"
    try:
        return rubrics.get(wanted)
    except KeyError:
        log.warning("rubric %r not found; using the default rubric", wanted)
        return rubrics.get("default")


def judge_from_settings(settings: Settings | None, force: bool | None = None) -> LLMJudge | None:
    """The LLM judge when it is switched on (Settings.llm_judge, or force=True) and a base URL is set."""
    if settings is None:
        return None
    on = settings.llm_judge if force is None else force
    if not on:
        return None
    return LLMJudge.from_settings(settings)


def grade_record_with(rec: CallRecord, settings: Settings | None = None, rubric: str | Rubric | None = None,
                      judge: LLMJudge | None = None) -> Scorecard:
    rb = rubric if isinstance(rubric, Rubric) else rubric_for(rec.scenario, settings, rubric)
    return grade_record(rec, rb, judge=judge)


def grade_transcript(transcript: TranscriptIn | dict | str | Path, *, settings: Settings | None = None,
                     rubric: str | Rubric | None = None, library: Library | None = None,
                     judge: LLMJudge | None = None, scenario_id: str | None = None,
                     language: str | None = None) -> Scorecard:
    """Grade a transcript: a TranscriptIn, its JSON (dict or text), or a file (.json or the text format)."""
    if isinstance(transcript, Path):
        tr = load_transcript_file(transcript)
    elif isinstance(transcript, TranscriptIn):
        tr = transcript
    else:
        tr = parse_transcript_json(transcript)
    if library is None:
        from personas.library import load_library

        library = load_library(getattr(settings, "library_dir", None) if settings else None)
    rec = record_from_transcript(tr, library, scenario_id=scenario_id, language=language)
    return grade_record_with(rec, settings, rubric, judge)


def grade_session(store: CallStore, session_id: str, *, settings: Settings | None = None,
                  rubric: str | Rubric | None = None, judge: LLMJudge | None = None) -> Scorecard:
    rec = record_from_session(store, session_id)
    return grade_record_with(rec, settings, rubric, judge)


def store_scorecard(store: CallStore, card: Scorecard) -> str:
    from server.models import Scorecard as ScorecardRow

    row = ScorecardRow(session_id=card.session_id, rubric_id=card.rubric_id, rubric_version=card.rubric_version,
                       total=card.total, passed=card.passed, data=card.model_dump(mode="json"))
    return store.add_scorecard(row).id


def make_session_grader(ctx: AppContext) -> Callable[[str], str | None]:
    """session id -> id of the stored scorecard (None if the call could not be graded; the error is logged)."""
    settings = ctx.settings

    def judge_later(session_id: str) -> None:
        try:
            judge = judge_from_settings(settings)
            if judge is None:
                return
            card = grade_session(ctx.store, session_id, settings=settings, judge=judge)
            store_scorecard(ctx.store, card)
        except Exception:  # the rule-based scorecard is already stored
            log.exception("LLM-judged grading of session %s failed", session_id)

    def grade(session_id: str) -> str | None:
        try:
            card = grade_session(ctx.store, session_id, settings=settings)
            scorecard_id = store_scorecard(ctx.store, card)
        except (TranscriptError, LookupError) as exc:
            log.warning("session %s not graded: %s", session_id, exc)
            return None
        except Exception:
            log.exception("grading session %s failed", session_id)
            return None
        if settings.llm_judge and settings.llm_base_url:
            threading.Thread(target=judge_later, args=(session_id,), name=f"judge-{session_id[:8]}",
                             daemon=True).start()
        return scorecard_id

    return grade


def scorecard_for_session(ctx: AppContext, session_id: str) -> dict[str, Any]:
    """The latest stored scorecard of a session, grading it now if it has none. Raises LookupError
    (no such session), TranscriptError (nothing to grade) or RuntimeError (the call is still going)."""
    row = ctx.store.get_session(session_id)
    if row is None:
        raise LookupError(f"no session {session_id!r} / 找不到该通话")
    card = ctx.store.latest_scorecard(session_id)
    if card is not None:
        data = dict(card.data)
        data["id"] = card.id
        return data
    if row.status == "active":
        raise RuntimeError("the call is still in progress / 通话尚未结束")
    sc = grade_session(ctx.store, session_id, settings=ctx.settings)
    sid = store_scorecard(ctx.store, sc)
    data = sc.model_dump(mode="json")
    data["id"] = sid
    return data
