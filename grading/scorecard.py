"""The scorecard: what the grader hands back (JSON), what the report renders, what the database stores."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1
Status = Literal["met", "partial", "missed", "n/a"]


class Evidence(BaseModel):
    turn: int
    quote: str


class Finding(BaseModel):
    """One deduction (points < 0), judge adjustment, or compliance blocker (points 0, blocker true)."""

    rule: str  # the rule that found it (rubric rule name, "llm_judge", or the blocker rule)
    criterion: str  # rubric criterion id (blocker id for blockers)
    dimension: str  # dimension id ("compliance" for blockers)
    points: float  # negative for deductions
    turn: int | None  # transcript index of the turn it cites (None only when the agent never spoke)
    quote: str  # the exact words at that turn
    message: str  # what happened, in the call's language
    tip: str  # the correct behaviour (正确做法), in the call's language
    blocker: bool = False
    source: Literal["rule", "director", "conversation", "llm_judge"] = "rule"


class CriterionResult(BaseModel):
    id: str
    rule: str
    name: str
    dimension: str
    max: float
    score: float
    status: Status
    evidence: list[Evidence] = Field(default_factory=list)
    note: str | None = None
    basis: Literal["rule", "director", "conversation"] = "rule"
    judged: bool = False  # moved by the LLM judge


class DimensionResult(BaseModel):
    id: str
    name: str
    max: float
    score: float
    criteria: list[CriterionResult]


class Blocker(BaseModel):
    id: str
    rule: str
    name: str
    turn: int
    quote: str
    message: str
    tip: str


class TranscriptTurn(BaseModel):
    turn: int
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None
    interrupted: bool = False


class Measures(BaseModel):
    agent_turns: int = 0
    customer_turns: int = 0
    speech_rate: float | None = None  # zh: chars/min, en: words/min (agent, timed calls only)
    talk_ratio: float | None = None  # agent share of talking time
    interruptions: int = 0
    max_response_gap: float | None = None
    anger_start: int | None = None
    anger_end: int | None = None
    anger_peak: int | None = None
    resolution: str | None = None  # director: open | doubted | accepted | confirmed
    end_reason: str | None = None


class JudgeCriterion(BaseModel):
    criterion: str
    band: float  # the most points the judge could move it, either way
    runs: int  # runs whose judgement for this criterion carried a verified quote
    deltas: list[float] = Field(default_factory=list)  # points suggested per valid run
    spread: float = 0.0  # max - min of those
    applied: float = 0.0  # points actually applied (median, within band and 0..max)
    rejected: int = 0  # judgements ignored: the quote was not in the transcript, or malformed


class LLMJudgeInfo(BaseModel):
    enabled: bool = False  # asked for (Settings.llm_judge / --judge)
    used: bool = False  # at least one valid judgement moved or confirmed a criterion
    model: str | None = None
    runs: int = 0
    band: float | None = None
    criteria: list[JudgeCriterion] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class Scorecard(BaseModel):
    schema_version: int = SCHEMA_VERSION
    rubric_id: str
    rubric_version: int
    rubric_name: str
    language: str
    scenario_id: str | None = None
    scenario_title: str | None = None
    session_id: str | None = None
    trainee: str | None = None
    call_date: str | None = None
    graded_at: str
    source: Literal["session", "transcript"] = "transcript"
    total: float = Field(ge=0, le=100)
    max_total: float = 100
    pass_mark: float
    passed: bool
    blockers: list[Blocker] = Field(default_factory=list)
    dimensions: list[DimensionResult]
    findings: list[Finding] = Field(default_factory=list)
    measures: Measures = Field(default_factory=Measures)
    judged_without_scenario: bool = False
    notes: list[str] = Field(default_factory=list)
    llm_judge: LLMJudgeInfo = Field(default_factory=LLMJudgeInfo)
    transcript: list[TranscriptTurn] = Field(default_factory=list)
