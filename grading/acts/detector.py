"""The one act detector: labels an agent utterance with acts and breaches, with the words that matched.

The director uses it to decide how the customer reacts; the grader uses the same hits as evidence.
Phrase lists are data (phrases/<lang>.yaml); scenario-specific phrasings (its offers, the answers to
its objections) come in through `ScenarioMatcher`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

from grading.acts.labels import ANSWER_OBJECTION, JARGON, Act, Breach

PHRASES_DIR = Path(__file__).parent / "phrases"
_SENTENCE_SPLIT = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*|[。！？!?；;]+")
_EN_SENTENCE_SPLIT = re.compile(r"[^.!?;\n]+[.!?;]*")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    text: str

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(slots=True)
class Hit:
    """One label on one utterance: the spans are the evidence; `ref` names a scenario offer or objection."""

    label: str
    spans: list[Span] = field(default_factory=list)
    ref: str | None = None

    def to_dict(self) -> dict:
        d: dict = {"label": self.label, "spans": [s.to_dict() for s in self.spans]}
        if self.ref is not None:
            d["ref"] = self.ref
        return d


@dataclass(slots=True)
class Detection:
    text: str
    language: str
    hits: list[Hit] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # what the agent's questions are about

    @property
    def labels(self) -> set[str]:
        return {h.label for h in self.hits}

    def has(self, label: str) -> bool:
        return any(h.label == label for h in self.hits)

    def get(self, label: str) -> list[Hit]:
        return [h for h in self.hits if h.label == label]

    def refs(self, label: str) -> list[str]:
        return [h.ref for h in self.hits if h.label == label and h.ref]

    def to_dict(self) -> dict:
        return {"labels": sorted(self.labels), "topics": self.topics, "hits": [h.to_dict() for h in self.hits]}


@dataclass(frozen=True, slots=True)
class _Rule:
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]


def _compile(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


class PhraseBook:
    """The compiled phrase lists of one language."""

    def __init__(self, data: dict, source: str):
        self.language: str = data["language"]
        self.rules: dict[str, _Rule] = {}
        for section in ("labels", "breaches"):
            for label, spec in (data.get(section) or {}).items():
                spec = spec or {}
                self.rules[label] = _Rule(_compile(spec.get("patterns") or []), _compile(spec.get("exclude") or []))
        unknown = set(self.rules) - {a.value for a in Act} - {b.value for b in Breach}
        if unknown:
            raise ValueError(f"{source}: unknown labels {sorted(unknown)}")
        self.question = _compile(data.get("question") or [])
        self.question_exclude = _compile(data.get("question_exclude") or [])
        self.topics = {name: _compile(pats) for name, pats in (data.get("topics") or {}).items()}

    @classmethod
    def load(cls, lang: str, directory: Path = PHRASES_DIR) -> PhraseBook:
        path = directory / f"{lang}.yaml"
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))


@dataclass(frozen=True)
class ScenarioMatcher:
    """Scenario-specific phrasings, compiled once per scenario and language."""

    offers: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = ()
    objection_answers: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...] = ()
    secrets: tuple[str, ...] = ()  # identity values: reading one out is disclosing account data
    jargon: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(
        cls,
        offers: dict[str, list[str]],
        objection_answers: dict[str, list[str]] | None = None,
        secrets: Iterable[str] = (),
        jargon: Iterable[str] = (),
    ) -> ScenarioMatcher:
        return cls(
            offers=tuple((k, _compile(v)) for k, v in offers.items()),
            objection_answers=tuple((k, _compile(v)) for k, v in (objection_answers or {}).items()),
            secrets=tuple(s for s in secrets if s and len(s) >= 4),
            jargon=_compile(jargon),
        )


def _first_allowed(rule: _Rule, text: str) -> list[Span]:
    spans: list[Span] = []
    excluded = [m.span() for ex in rule.exclude for m in ex.finditer(text)]
    for pattern in rule.patterns:
        for m in pattern.finditer(text):
            if m.end() == m.start():
                continue
            if any(a < m.end() and m.start() < b for a, b in excluded):
                continue
            spans.append(Span(m.start(), m.end(), m.group(0)))
            break  # one span per pattern is evidence enough
    spans.sort(key=lambda s: s.start)
    return spans


def _overlaps(span: Span, others: Iterable[Span]) -> bool:
    return any(o.start < span.end and span.start < o.end for o in others)


class ActDetector:
    """Labels agent utterances. Thread-safe and cheap: everything is compiled at construction."""

    def __init__(self, directory: Path = PHRASES_DIR):
        self.books = {p.stem: PhraseBook.load(p.stem, directory) for p in sorted(directory.glob("*.yaml"))}

    def book(self, lang: str) -> PhraseBook:
        try:
            return self.books[lang]
        except KeyError:
            raise ValueError(f"no phrase list for language {lang!r}; have {sorted(self.books)}") from None

    def detect(
        self,
        text: str,
        lang: str,
        scenario: ScenarioMatcher | None = None,
        verified: bool | None = None,
        said: frozenset[str] = frozenset(),
    ) -> Detection:
        """Label one agent utterance. `verified=False` turns a disclosure of account data into a breach;
        `said` holds identity values the customer already spoke (reading those back is not a disclosure)."""
        book = self.book(lang)
        det = Detection(text=text, language=lang)
        if not text or not text.strip():
            return det
        hits: dict[str, Hit] = {}
        for label, rule in book.rules.items():
            spans = _first_allowed(rule, text)
            if spans:
                hits[label] = Hit(label, spans)

        bad_spans = [s for lab in (Breach.FORBIDDEN_PHRASE, Breach.BLAME_CUSTOMER) if lab in hits for s in hits[lab].spans]
        question_spans = self._questions(text, book, bad_spans)
        if question_spans:
            hits[Act.ASK_QUESTION.value] = Hit(Act.ASK_QUESTION.value, question_spans)
            det.topics = self._topics(" ".join(s.text for s in question_spans), book)
        if Act.VERIFY_IDENTITY in hits:
            for t in self._topics(" ".join(s.text for s in hits[Act.VERIFY_IDENTITY].spans) + " " + text, book):
                if t not in det.topics and t in ("name", "phone", "dob", "address", "id_number", "account_number", "order_number"):
                    det.topics.append(t)

        out = list(hits.values())
        if scenario is not None:
            out.extend(self._scenario_hits(text, scenario, hits, said))
        disclosed = [h for h in out if h.label == Act.DISCLOSE_ACCOUNT]
        if disclosed and verified is False:
            out.append(Hit(Breach.LEAK_ACCOUNT.value, list(disclosed[0].spans)))
        det.hits = out
        return det

    def _questions(self, text: str, book: PhraseBook, bad: list[Span]) -> list[Span]:
        splitter = _SENTENCE_SPLIT if book.language == "zh" else _EN_SENTENCE_SPLIT
        spans = []
        for m in splitter.finditer(text):
            sentence = m.group(0).strip()
            if not sentence:
                continue
            if not any(p.search(sentence) for p in book.question):
                continue
            if any(p.search(sentence) for p in book.question_exclude) and not sentence.rstrip().endswith(("?", "？")):
                continue
            span = Span(m.start(), m.end(), m.group(0))
            if _overlaps(span, bad):
                continue  # a rhetorical question is a breach, not a question
            spans.append(span)
        return spans

    @staticmethod
    def _topics(text: str, book: PhraseBook) -> list[str]:
        return [name for name, pats in book.topics.items() if any(p.search(text) for p in pats)]

    @staticmethod
    def _scenario_hits(text: str, sc: ScenarioMatcher, hits: dict[str, Hit], said: frozenset[str]) -> list[Hit]:
        out: list[Hit] = []
        generic_offer = hits.pop(Act.OFFER, None)
        for offer_id, patterns in sc.offers:
            for p in patterns:
                m = p.search(text)
                if m:
                    out.append(Hit(Act.OFFER.value, [Span(m.start(), m.end(), m.group(0))], ref=offer_id))
                    break
        if generic_offer is not None and not any(h.label == Act.OFFER for h in out):
            out.append(generic_offer)  # an offer the scenario does not know: ref stays None
        for objection_id, patterns in sc.objection_answers:
            for p in patterns:
                m = p.search(text)
                if m:
                    out.append(Hit(ANSWER_OBJECTION, [Span(m.start(), m.end(), m.group(0))], ref=objection_id))
                    break
        if Act.DISCLOSE_ACCOUNT not in hits:
            lowered = text.lower()
            for secret in sc.secrets:
                if secret in said:
                    continue
                i = lowered.find(secret.lower())
                if i >= 0:
                    out.append(Hit(Act.DISCLOSE_ACCOUNT.value, [Span(i, i + len(secret), text[i : i + len(secret)])]))
                    break
        for p in sc.jargon:
            m = p.search(text)
            if m:
                out.append(Hit(JARGON, [Span(m.start(), m.end(), m.group(0))]))
                break
        return out


@lru_cache(maxsize=1)
def default_detector() -> ActDetector:
    return ActDetector()
