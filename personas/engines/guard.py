"""Guard rails for an LLM customer's reply: checked sentence by sentence before anything is used.

A reply fails when the model talks like the agent (role swap), in the wrong language, states a
fact the director has not released, agrees when the move says refuse, or runs too long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from grading.acts.detector import default_detector
from grading.acts.labels import Act
from personas.moves import MoveKind

GUARD_PATH = Path(__file__).resolve().parent.parent / "llm_guard.yaml"
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d{2,}")
SENTENCE_END = re.compile(r"[。！？!?…]+[”’\"']?|(?<=[a-z0-9\)])[.]+(?=\s|$)", re.IGNORECASE)

# moves where any agreement is a failure: the director said "not yet"
REFUSING_MOVES = frozenset({
    MoveKind.PUSH_BACK, MoveKind.PUSH_BACK_VAGUE, MoveKind.PUSH_BACK_MISSING, MoveKind.DOUBT,
    MoveKind.RAISE_OBJECTION, MoveKind.COMPLAIN, MoveKind.IMPATIENT, MoveKind.REACT_RUDE,
    MoveKind.DEMAND_MANAGER, MoveKind.THREATEN_REGULATOR, MoveKind.HANG_UP, MoveKind.NOT_DONE,
    MoveKind.PRESS_FOR_SOLUTION, MoveKind.ABUSE, MoveKind.OBJECTION_SATISFIED, MoveKind.CONFUSED,
    MoveKind.SUSPICIOUS,
})
_AGENT_ACTS = (Act.SELF_IDENTIFY, Act.HOLD_REQUEST, Act.THANK_WAITING, Act.EMPATHISE,
               Act.CONFIRM_SATISFACTION, Act.WARN_ABUSE)


@dataclass(frozen=True)
class GuardPatterns:
    role_swap: tuple[re.Pattern[str], ...]
    accept: tuple[re.Pattern[str], ...]
    injection: tuple[re.Pattern[str], ...]
    refusal: tuple[re.Pattern[str], ...]


@lru_cache(maxsize=4)
def patterns(lang: str) -> GuardPatterns:
    data = yaml.safe_load(GUARD_PATH.read_text(encoding="utf-8"))[lang]
    comp = lambda key: tuple(re.compile(p, re.IGNORECASE) for p in data.get(key, []))  # noqa: E731
    return GuardPatterns(comp("role_swap"), comp("accept"), comp("injection"), comp("refusal"))


def is_injection(text: str, lang: str) -> bool:
    """A trainee line that talks to the model rather than the customer."""
    return any(p.search(text) for p in patterns(lang).injection)


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences in `buffer`, and the unfinished rest."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(buffer):
        sentence = buffer[start:m.end()].strip()
        if sentence:
            out.append(sentence)
        start = m.end()
    return out, buffer[start:]


def secret_markers(text: str, known: str) -> list[str]:
    """Distinctive pieces of a hidden fact that are not already in what the model was shown:
    digit runs, long latin words, and Chinese 4-character windows."""
    marks = {d for d in _DIGITS.findall(text) if d not in known}
    marks |= {w.lower() for w in re.findall(r"[A-Za-z]{7,}", text) if w.lower() not in known.lower()}
    cjk_runs = re.findall(r"[\u3400-\u9fff]{4,}", text)
    for run in cjk_runs:
        for i in range(len(run) - 3):
            gram = run[i:i + 4]
            if gram not in known:
                marks.add(gram)
    return sorted(marks)


@dataclass
class GuardContext:
    language: str
    move: MoveKind
    max_chars: int
    hidden: list[str]  # markers of facts and identity values not released
    reply_so_far: str = ""
    required: list[str] | None = None  # the move must say one of these (a fact being revealed, identity data)
    said_before: frozenset[str] = frozenset()  # the customer's earlier lines: parroting one is off-move


def check_sentence(sentence: str, g: GuardContext) -> str | None:
    """The first guard-rail failure of this sentence (given what was already said), or None."""
    text = sentence.strip()
    if not text:
        return None
    pats = patterns(g.language)
    if any(p.search(text) for p in pats.role_swap):
        return "role_swap"
    cjk = len(_CJK.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text))
    if g.language == "zh" and (cjk == 0 or latin > cjk):
        return "language"
    if g.language == "en" and (cjk > 0 or latin == 0):
        return "language"
    lowered = text.lower()
    for marker in g.hidden:
        if marker.lower() in lowered:
            return "unreleased_fact"
    det = default_detector().detect(text, g.language)
    if any(det.has(a) for a in _AGENT_ACTS):
        return "role_swap"
    if g.move in REFUSING_MOVES and any(p.search(text) for p in pats.accept):
        return "accept_when_refusing"
    if text in g.said_before:
        return "repeat"
    total = len(g.reply_so_far) + len(text)
    limit = g.max_chars if g.language == "zh" else g.max_chars * 3
    if total > limit:
        return "too_long"
    return None


PUSHING_BACK = frozenset({MoveKind.PUSH_BACK, MoveKind.PUSH_BACK_VAGUE, MoveKind.PUSH_BACK_MISSING, MoveKind.DOUBT,
                          MoveKind.SUSPICIOUS})


def check_reply(reply: str, g: GuardContext) -> str | None:
    """Whole-reply checks after the last sentence: the move's content must actually be there."""
    if g.move in PUSHING_BACK and not any(p.search(reply) for p in patterns(g.language).refusal):
        return "no_push_back"
    if g.required:
        low = reply.lower()
        if not any(r.lower() in low for r in g.required):
            return "off_move"
    return None
