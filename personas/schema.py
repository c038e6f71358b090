"""Persona and scenario schema: what authors write in YAML under personas/library/.

A scenario file holds one scenario and its persona. The split between what the trainee may see
(`TraineeScenario`) and what only the director knows is made here, by construction.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from grading.acts.labels import Act
from personas.moves import MoveKind

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _as_str(v: Any) -> Any:
    # YAML reads 1958-03-02 as a date and 13800001234 as an int: identity data is text.
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)) or hasattr(v, "isoformat"):
        return v.isoformat() if hasattr(v, "isoformat") else str(v)
    return v


class Level(StrEnum):
    JUNIOR = "初级"  # 五级
    INTERMEDIATE = "中级"  # 四级
    SENIOR = "高级"  # 三级


class Direction(StrEnum):
    INBOUND = "inbound"  # 呼入
    OUTBOUND = "outbound"  # 呼出


class Temperament(StrEnum):
    ANGRY = "angry"
    HESITANT = "hesitant"
    CONFUSED = "confused"
    DEMANDING = "demanding"
    ABUSIVE = "abusive"
    POLITE = "polite"
    ANXIOUS = "anxious"


class Text(Strict):
    """A text in each language the scenario supports."""

    zh: str | None = None
    en: str | None = None

    def get(self, lang: str) -> str:
        value = getattr(self, lang, None) or self.zh or self.en or ""
        return value


class Phrases(Strict):
    """Regular expressions per language (case-insensitive), for scenario-specific matching."""

    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("zh", "en")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return v

    def get(self, lang: str) -> list[str]:
        return list(getattr(self, lang, []) or [])


class Identity(Strict):
    """The record a careful agent verifies against."""

    name: str
    phone: str
    account_no: str | None = None  # account / order / policy / card number
    account_label: Text = Field(default_factory=lambda: Text(zh="账号", en="account number"))
    dob: str | None = None
    address: str | None = None
    id_last4: str | None = None

    _coerce = field_validator("phone", "account_no", "dob", "address", "id_last4", "name", mode="before")(
        classmethod(lambda cls, v: _as_str(v))
    )

    def secret_values(self) -> list[str]:
        """Values that must never reach the trainee's browser."""
        return [v for v in (self.phone, self.account_no, self.dob, self.address, self.id_last4) if v]


class Mood(Strict):
    anger: int = Field(ge=0, le=100)
    trust: int = Field(ge=0, le=100)
    patience: int = Field(default=6, ge=1, le=30, description="unproductive agent turns tolerated")


class Rules(Strict):
    """Mood dynamics; every persona may override the defaults."""

    hangup_anger: int = 95
    accept_anger_max: int = 50  # an acceptable offer above this anger is met with doubt
    accept_trust_min: int = 35
    needs_empathy: bool | None = None  # default: when starting anger >= 50
    empathy_calm: int = 20  # first empathy; later ones calm less
    apology_calm: int = 8  # only the first two apologies calm
    paraphrase_calm: int = 8
    explain_calm: int = 4
    forbidden_anger: int = 20
    blame_anger: int = 25
    insult_anger: int = 50  # the agent insults or swears at the customer (detector label `abuse`)
    secret_anger: int = 10  # the agent asks for a password / SMS code (label `ask_secret`); trust falls 30
    filler_anger: int = 2
    repeat_anger: int = 8
    interrupt_anger: int = 10
    silence_anger: int = 8
    not_done_anger: int = 12
    objection_trust: int = 10
    max_turns: int = 24
    confuse_chars_zh: int = 70  # utterances longer than this confuse a confused caller
    confuse_words_en: int = 35
    demand_manager_anger: int | None = None  # demands a manager at or above this anger
    demand_manager_turn: int | None = None  # ... or at this agent turn if still unresolved
    threaten_regulator_anger: int | None = None  # threatens 12315 / 工信部 at or above this anger
    abuse_anger: int | None = None  # abusive caller insults while anger is at least this and not warned


class Fact(Strict):
    """Something the customer says only when asked the right kind of question."""

    id: str
    unlock: list[str] = Field(min_length=1, description="question topics that unlock it (see phrase YAML topics)")
    text: Text
    required_for_offer: bool = False  # an acceptable offer before this is known is pushed back


class Objection(Strict):
    id: str
    kind: Literal["price", "need", "trust", "contract", "timing", "competitor", "other"]
    text: Text  # how the customer raises it
    answers: Phrases  # what counts as handling it (agent phrasings)


class Offer(Strict):
    id: str
    label: Text
    patterns: Phrases
    allowed: bool = True  # on the agent's knowledge sheet (false: outside policy / authority)
    acceptable: bool = True  # the customer accepts it (when mood allows)
    description: Text | None = None  # shown on the knowledge sheet


class Voice(Strict):
    gender: Literal["male", "female"] = "female"
    age: Literal["young", "middle", "elderly"] = "middle"
    style: str | None = None


ResponseBank = dict[MoveKind, list[str]]


class EndOfTurn(Strict):
    """How long the trainee's silence must last before the customer answers (voice calls). A scenario sets
    it when the server's default does not fit: trainees who must speak slowly and pause (an elderly
    caller) need a longer minimum, or they are cut off mid-sentence. Unset fields keep the server's."""

    min_silence_s: float | None = Field(default=None, ge=0.2, le=3.0)
    max_silence_s: float | None = Field(default=None, ge=0.5, le=10.0)

    @model_validator(mode="after")
    def _ordered(self) -> EndOfTurn:
        if self.min_silence_s is not None and self.max_silence_s is not None and self.min_silence_s > self.max_silence_s:
            raise ValueError(f"min_silence_s ({self.min_silence_s}) must not exceed max_silence_s ({self.max_silence_s})")
        return self

    def resolve(self, default_min: float, default_max: float) -> tuple[float, float]:
        """The effective (min, max): a scenario minimum above the server's maximum lifts the maximum too."""
        lo = self.min_silence_s if self.min_silence_s is not None else default_min
        hi = self.max_silence_s if self.max_silence_s is not None else default_max
        return lo, max(hi, lo)


class Persona(Strict):
    name: Text
    identity: Identity
    temperament: Temperament
    mood: Mood
    rules: Rules = Field(default_factory=Rules)
    goals: Text
    facts: list[Fact] = Field(default_factory=list)
    objections: list[Objection] = Field(default_factory=list)
    opening: dict[Lang, list[str]]
    voice: Voice = Field(default_factory=Voice)
    jargon: Phrases = Field(default_factory=Phrases, description="words that confuse a confused caller")
    responses: dict[Lang, ResponseBank]

    def needs_empathy(self) -> bool:
        if self.rules.needs_empathy is not None:
            return self.rules.needs_empathy
        return self.mood.anger >= 50

    def secret_strings(self, lang: str) -> list[str]:
        """Everything that is hidden from the trainee: identity values and unrevealed facts."""
        out = self.identity.secret_values()
        out += [f.text.get(lang) for f in self.facts]
        return [s for s in out if s]


class Scenario(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,63}$")
    version: int = Field(default=1, ge=1)
    title: Text
    summary: Text  # one or two lines for the library card
    languages: list[Lang] = Field(min_length=1)
    level: Level
    direction: Direction
    industry: Text
    skills: list[str] = Field(default_factory=list)
    time_limit_s: int = Field(default=600, ge=60, le=3600)
    silence_timeout_s: float | None = None
    end_of_turn: EndOfTurn = Field(default_factory=EndOfTurn)  # voice: the trainee's silence that ends a turn
    seed: int = 0
    company: Text
    context: Text  # company and product context, shown to the trainee
    agent_sheet: Text  # the agent's knowledge sheet: policy and what may be offered
    offers: list[Offer] = Field(min_length=1)
    required_flow: list[Act] = Field(default_factory=list)
    requires_verification: bool = True
    rubric: str = "default"
    engine: Literal["scripted", "llm"] | None = None  # None: the server's default
    persona: Persona

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[str] = []
        for lang in self.languages:
            if lang not in self.persona.responses:
                problems.append(f"persona.responses has no '{lang}' bank but languages lists it")
            if lang not in self.persona.opening or not self.persona.opening[lang]:
                problems.append(f"persona.opening has no '{lang}' lines")
            for text_field in ("title", "summary", "agent_sheet", "company", "context"):
                if not getattr(getattr(self, text_field), lang):
                    problems.append(f"{text_field}.{lang} is missing")
            for offer in self.offers:
                if not offer.patterns.get(lang):
                    problems.append(f"offer '{offer.id}' has no {lang} patterns")
            for obj in self.persona.objections:
                if not obj.answers.get(lang):
                    problems.append(f"objection '{obj.id}' has no {lang} answer patterns")
        if not any(o.acceptable and o.allowed for o in self.offers):
            problems.append("no offer is both allowed and acceptable: the scenario cannot be won")
        ids = [o.id for o in self.offers]
        if len(set(ids)) != len(ids):
            problems.append("offer ids are not unique")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def offer(self, offer_id: str | None) -> Offer | None:
        return next((o for o in self.offers if o.id == offer_id), None)


class OfferView(BaseModel):
    id: str
    label: str
    description: str | None = None


class TraineeScenario(BaseModel):
    """What a trainee or candidate may see before and during a call. Built field by field, never by
    copying the scenario and deleting: a new secret field cannot leak by default."""

    id: str
    version: int
    title: str
    summary: str
    languages: list[str]
    level: str
    direction: str
    industry: str
    skills: list[str]
    time_limit_s: int
    company: str
    context: str
    agent_sheet: str
    offers: list[OfferView]
    required_flow: list[str]

    @classmethod
    def from_scenario(cls, s: Scenario, lang: str) -> TraineeScenario:
        return cls(
            id=s.id,
            version=s.version,
            title=s.title.get(lang),
            summary=s.summary.get(lang),
            languages=list(s.languages),
            level=s.level.value,
            direction=s.direction.value,
            industry=s.industry.get(lang),
            skills=list(s.skills),
            time_limit_s=s.time_limit_s,
            company=s.company.get(lang),
            context=s.context.get(lang),
            agent_sheet=s.agent_sheet.get(lang),
            offers=[
                OfferView(id=o.id, label=o.label.get(lang), description=o.description.get(lang) if o.description else None)
                for o in s.offers
                if o.allowed
            ],
            required_flow=[a.value for a in s.required_flow],
        )
