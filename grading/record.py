"""Input normalisation: a stored session or a transcript file becomes one `CallRecord`.

Either way every agent turn ends up with the shared act detector's `Detection` and, when the scenario
is known, the director's state after it. A stored session already carries both (the acts the customer
reacted to during the call); a transcript with a scenario id is replayed through a fresh `Director`
over its agent turns; a transcript without one is labelled with the same detector and its resolution
is later judged from the conversation alone.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grading.acts.detector import ActDetector, Detection, Hit, Span, default_detector
from grading.acts.labels import Act
from grading.detect_cache import grading_detector

if TYPE_CHECKING:
    from personas.library import Library
    from personas.schema import Scenario
    from server.store import CallStore

MAX_TURNS = 5000
MAX_TURN_CHARS = 20_000


class TranscriptError(ValueError):
    """A transcript or session that cannot be graded; the message says what is wrong and where."""


# ---------------------------------------------------------------------------------------------- records
@dataclass(slots=True)
class TurnRec:
    idx: int  # position in the transcript (0-based), the number every finding cites
    speaker: str  # agent | customer
    text: str
    start: float | None = None
    end: float | None = None
    interrupted: bool = False
    det: Detection | None = None  # agent turns
    labels: frozenset[str] = frozenset()
    state: dict[str, Any] | None = None  # the director's state after this turn (when known)
    move: str | None = None  # customer turns: the director's move


@dataclass
class CallRecord:
    language: str
    turns: list[TurnRec]
    scenario: Scenario | None = None
    scenario_id: str | None = None
    scenario_title: str | None = None
    direction: str | None = None  # inbound | outbound (from the scenario, or declared by the transcript)
    initial_state: dict[str, Any] | None = None  # the director's state before the first turn
    final_state: dict[str, Any] | None = None
    end_reason: str | None = None
    trainee: str | None = None
    session_id: str | None = None
    date: str | None = None  # ISO date-time of the call
    channel: str | None = None  # text | voice
    timed: bool = False  # turn timings are real (voice, or a transcript with start/end)
    source: str = "transcript"  # session | transcript
    director: str = "none"  # stored | replayed | none
    notes: list[str] = field(default_factory=list)

    @property
    def has_director(self) -> bool:
        return self.director != "none"


# ---------------------------------------------------------------------------------------------- input models
class TurnIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    speaker: Literal["agent", "customer"]
    text: str = Field(max_length=MAX_TURN_CHARS)
    start: float | None = Field(default=None, ge=0)
    end: float | None = Field(default=None, ge=0)
    interrupted: bool = False

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker(cls, v: Any) -> Any:
        if isinstance(v, str):
            key = v.strip().lower().rstrip(":：")
            return SPEAKER_ALIASES.get(key, key)
        return v

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if v is None:
            return ""
        return v


class TranscriptIn(BaseModel):
    """The JSON transcript format (issue #3). `meta` holds anything else a tool wants to keep."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["zh", "en"] | None = None
    scenario: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    trainee: str | None = Field(default=None, max_length=120)
    date: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=200)
    turns: list[TurnIn] = Field(max_length=MAX_TURNS)
    meta: dict[str, Any] = Field(default_factory=dict)


SPEAKER_ALIASES = {
    "agent": "agent", "坐席": "agent", "客服": "agent", "a": "agent", "csr": "agent", "rep": "agent",
    "customer": "customer", "客户": "customer", "顾客": "customer", "c": "customer", "caller": "customer",
}
_LINE = re.compile(r"^\s*(坐席|客服|客户|顾客|agent|customer)\s*[:：]\s?(.*)$", re.IGNORECASE)
_HEADER = re.compile(r"^\s*#?\s*(scenario|language|lang|trainee|direction|场景|语言|学员|方向)\s*[:：]\s*(\S.*?)\s*$",
                     re.IGNORECASE)
_HEADER_KEYS = {"scenario": "scenario", "场景": "scenario", "language": "language", "lang": "language",
                "语言": "language", "trainee": "trainee", "学员": "trainee", "direction": "direction",
                "方向": "direction"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CUT = re.compile(r"\s*[\[【](interrupted|被打断|打断)[\]】]\s*$", re.IGNORECASE)  # the turn was cut off


def _format_validation(exc: ValidationError, what: str) -> str:
    parts = []
    for err in exc.errors()[:8]:
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{len(exc.errors()) - 8} more)" if len(exc.errors()) > 8 else ""
    return f"{what}: " + "; ".join(parts) + more


def parse_transcript_json(data: Any) -> TranscriptIn:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TranscriptError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TranscriptError('a transcript is a JSON object {"language": ..., "turns": [...]}, '
                              f"not {type(data).__name__}")
    try:
        return TranscriptIn.model_validate(data)
    except ValidationError as exc:
        raise TranscriptError(_format_validation(exc, "bad transcript")) from None


def parse_transcript_text(text: str) -> TranscriptIn:
    """One turn per line: `坐席：`/`客服：` (agent), `客户：`/`顾客：` (customer), `Agent:`/`Customer:`.
    A line without a prefix continues the turn above; a turn ending in `[被打断]`/`[interrupted]` was cut
    off (by the other side's next turn). Optional header lines before the first turn:
    `scenario: <id>`, `language: zh|en`, `trainee: <name>`, `direction: inbound|outbound`."""
    header: dict[str, str] = {}
    turns: list[dict[str, Any]] = []
    prefixes: set[str] = set()
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        m = _LINE.match(line)
        if m:
            prefix = m.group(1).lower()
            prefixes.add(prefix)
            body, cut = m.group(2).strip(), False
            mk = _CUT.search(body)
            if mk:
                body, cut = body[: mk.start()].rstrip(), True
            turns.append({"speaker": SPEAKER_ALIASES[prefix], "text": body, "interrupted": cut})
            continue
        h = _HEADER.match(line)
        if h and not turns:
            header[_HEADER_KEYS[h.group(1).lower()]] = h.group(2)
            continue
        if line.startswith("#"):
            continue
        if not turns:
            raise TranscriptError(
                f"line {n}: expected a speaker prefix (坐席：/客服：/客户：/顾客：/Agent:/Customer:), got {line[:40]!r}")
        turns[-1]["text"] = (turns[-1]["text"] + " " + line).strip()
    if not turns:
        raise TranscriptError("no turns found: write one turn per line, prefixed 坐席：/客户： or Agent:/Customer:")
    language = header.get("language")
    if language is None:
        if prefixes & {"agent", "customer"} and not prefixes & {"坐席", "客服", "客户", "顾客"}:
            language = "en"
        elif prefixes & {"坐席", "客服", "客户", "顾客"} and not prefixes & {"agent", "customer"}:
            language = "zh"
    data: dict[str, Any] = {"turns": turns}
    for key in ("scenario", "trainee", "direction"):
        if key in header:
            data[key] = header[key]
    if language:
        data["language"] = language
    return parse_transcript_json(data)


def load_transcript_file(path: Path | str) -> TranscriptIn:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptError(f"{path}: cannot read: {exc}") from None
    try:
        if path.suffix.lower() == ".json" or raw.lstrip().startswith("{"):
            return parse_transcript_json(raw)
        return parse_transcript_text(raw)
    except TranscriptError as exc:
        raise TranscriptError(f"{path}: {exc}") from None


def guess_language(texts: list[str]) -> str:
    sample = "".join(texts)[:4000]
    if not sample:
        return "zh"
    cjk = len(_CJK.findall(sample))
    letters = sum(c.isascii() and c.isalpha() for c in sample)
    return "zh" if cjk * 2 >= letters else "en"


# ---------------------------------------------------------------------------------------------- building
def _timed(turns: list[TurnRec]) -> bool:
    """Timing measures only when most turns carry a real interval (text-mode calls have zero-length turns)."""
    if not turns:
        return False
    real = sum(1 for t in turns if t.start is not None and t.end is not None and t.end - t.start > 0.05)
    return real >= max(2, (len(turns) + 1) // 2)


def record_from_transcript(tr: TranscriptIn, library: Library | None = None,
                           detector: ActDetector | None = None, scenario_id: str | None = None,
                           language: str | None = None) -> CallRecord:
    """Label the agent turns with the shared detector; replay the director when the scenario is known."""
    detector = detector or grading_detector()
    if not tr.turns:
        raise TranscriptError("the transcript has no turns: nothing to grade / 没有可评分的对话")
    sid = scenario_id or tr.scenario
    scenario = None
    if sid:
        if library is None:
            from personas.library import load_library

            library = load_library()
        try:
            scenario = library.get(sid)
        except KeyError:
            known = ", ".join(sorted(s.id for s in library)) or "none"
            raise TranscriptError(f"unknown scenario {sid!r}; known: {known}") from None
    lang = language or tr.language or guess_language([t.text for t in tr.turns])
    if lang not in detector.books:
        raise TranscriptError(f"language {lang!r} is not supported; use one of {sorted(detector.books)}")
    if scenario is not None and lang not in scenario.languages:
        raise TranscriptError(f"scenario {scenario.id} is written for {scenario.languages}, not {lang!r}")
    turns = [TurnRec(i, t.speaker, t.text.strip(), t.start, t.end, t.interrupted) for i, t in enumerate(tr.turns)]
    rec = CallRecord(language=lang, turns=turns, scenario=scenario, scenario_id=sid,
                     scenario_title=scenario.title.get(lang) if scenario else tr.title,
                     direction=scenario.direction.value if scenario else tr.direction, trainee=tr.trainee,
                     date=tr.date, timed=_timed(turns), source="transcript")
    if scenario is not None:
        _replay(rec, scenario, detector)
    else:
        _label_only(rec, detector)
    return rec


# The director's state fields the rules read, per turn (the full state is kept for the end of the call).
SNAP_FIELDS = ("anger", "trust", "patience", "turn", "verified", "resolution", "accepted_offer", "objections_raised",
               "objections_answered", "interruptions", "breaches", "ended", "end_reason")


def _snap(state: Any) -> dict[str, Any]:
    out = {}
    for k in SNAP_FIELDS:
        v = getattr(state, k)
        out[k] = list(v) if isinstance(v, list) else v
    return out


_DIRECTOR_ATTRS = frozenset({"scenario", "persona", "rules", "language", "detector", "matcher", "state"})
_prototypes: dict[tuple[int, str, int], Any] = {}


def _new_director(scenario: Scenario, language: str, detector: Any) -> Any:
    """A fresh Director. Building one compiles the scenario's phrasings, so one prototype per scenario and
    language is built and shallow-copied with a new state, as long as a Director holds nothing else that
    a call changes (checked: any new attribute and this falls back to building a fresh one)."""
    from personas.director import Director, DirectorState

    key = (id(scenario), language, id(detector))
    proto = _prototypes.get(key)
    if proto is None or proto.scenario is not scenario:
        proto = Director(scenario, language, detector=detector)
        if len(_prototypes) > 64:
            _prototypes.clear()
        _prototypes[key] = proto
    if set(vars(proto)) != _DIRECTOR_ATTRS:
        return Director(scenario, language, detector=detector)
    d = copy.copy(proto)
    m = scenario.persona.mood
    d.state = DirectorState(anger=m.anger, trust=m.trust, patience=m.patience)
    return d


def _replay(rec: CallRecord, scenario: Scenario, detector: Any) -> None:
    director = _new_director(scenario, rec.language, detector)
    rec.initial_state = director.state.model_dump(mode="json")
    rec.director = "replayed"
    state = rec.initial_state
    prev_customer_cut = False
    for t in rec.turns:
        if t.speaker == "agent":
            t.det = director.detect(t.text)
            t.labels = frozenset(t.det.labels)
            if not director.state.ended:
                interrupted = t.interrupted or prev_customer_cut
                move = director.step(t.det, interrupted=interrupted)
                state = _snap(director.state)
                t.move = move.kind.value
            t.state = state
            prev_customer_cut = False
        else:
            t.state = state
            prev_customer_cut = t.interrupted
    rec.final_state = director.state.model_dump(mode="json")
    rec.end_reason = director.state.end_reason
    if director.state.ended and any(t.speaker == "agent" and t.move is None for t in rec.turns):
        rec.notes.append("director_ended_early")


def _label_only(rec: CallRecord, detector: Any) -> None:
    verified = False
    for t in rec.turns:
        if t.speaker != "agent":
            continue
        t.det = detector.detect(t.text, rec.language, None, verified=verified)
        t.labels = frozenset(t.det.labels)
        if Act.VERIFY_IDENTITY in t.labels:
            verified = True  # as the director does: the agent asked; the next turns may use account data


def detection_from_dict(text: str, language: str, d: dict[str, Any] | None) -> Detection:
    """Rebuild the stored detection (Detection.to_dict) of an agent turn."""
    det = Detection(text=text, language=language)
    if not d:
        return det
    for h in d.get("hits") or []:
        spans = [Span(int(s["start"]), int(s["end"]), str(s["text"])) for s in h.get("spans") or []]
        det.hits.append(Hit(str(h["label"]), spans, h.get("ref")))
    det.topics = list(d.get("topics") or [])
    return det


def record_from_session(store: CallStore, session_id: str, detector: ActDetector | None = None) -> CallRecord:
    """A stored call: its turns, the acts the director reacted to, and the director's state per turn."""
    row = store.get_session(session_id)
    if row is None:
        raise LookupError(f"no session {session_id!r} / 找不到该通话")
    try:
        scenario = store.load_snapshot(row.snapshot_id)
    except Exception:  # a snapshot an older schema wrote and this one no longer reads: grade on the conversation
        scenario = None
    rows = store.turns(session_id)
    if not rows:
        raise TranscriptError(f"session {session_id} has no turns: nothing to grade / 该通话没有对话")
    detector = detector or default_detector()
    lang = row.language
    turns: list[TurnRec] = []
    for i, r in enumerate(rows):
        t = TurnRec(i, r.speaker, r.text or "", r.start_s, r.end_s, bool(r.interrupted), state=r.state, move=r.move)
        if r.speaker == "agent":
            if r.acts is not None:
                t.det = detection_from_dict(t.text, lang, r.acts)
            else:  # an older row without acts: label it the way the director would have
                prev = next((x.state for x in reversed(turns) if x.state), None) or {}
                t.det = detector.detect(t.text, lang, None, verified=bool(prev.get("verified", False)))
            t.labels = frozenset(h.label for h in t.det.hits)
        turns.append(t)
    initial = None
    if scenario is not None:
        from personas.director import DirectorState

        m = scenario.persona.mood
        initial = DirectorState(anger=m.anger, trust=m.trust, patience=m.patience).model_dump(mode="json")
    created = row.created_at.isoformat() if isinstance(row.created_at, datetime) else None
    has_states = any(t.state for t in turns)
    rec = CallRecord(
        language=lang, turns=turns, scenario=scenario, scenario_id=row.scenario_id,
        scenario_title=scenario.title.get(lang) if scenario else row.scenario_id,
        direction=scenario.direction.value if scenario else None, initial_state=initial,
        final_state=row.final_state or next((t.state for t in reversed(turns) if t.state), None),
        end_reason=row.end_reason, trainee=row.trainee, session_id=row.id, date=created, channel=row.channel,
        timed=row.channel == "voice" and _timed(turns), source="session",
        director="stored" if (scenario is not None and has_states) else "none",
    )
    return rec
