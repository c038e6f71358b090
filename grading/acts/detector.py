"""The one act detector: labels an agent utterance with acts and breaches, with the words that matched.

The director uses it to decide how the customer reacts; the grader uses the same hits as evidence.
Phrase lists are data (phrases/<lang>.yaml); scenario-specific phrasings (its offers, the answers to
its objections) come in through `ScenarioMatcher`.

How an utterance is labelled:

1. Each phrase (a regex in the YAML) that does not overlap one of its label's `exclude` matches is
   evidence: a span of the words that matched. Phrases are gated (see "gating" below): an utterance runs
   only the phrases whose literal words it contains, which keeps ~950 phrases fast.
2. A few labels are judged against each other (`_SUPPRESS`, `_yield`): a blaming clause gets no `explain`
   for its fault attribution, words that are a hold request or a satisfaction check are not also an
   explanation or an offer, account details inside a paraphrase are the customer's own, a time promised
   inside an offer ("技术人员会在四小时内联系您") is part of the offer, a consent tag on an offer ("您看可以吗",
   "is that okay?") is not a satisfaction check, and so on.
3. Questions are found sentence by sentence from interrogative markers (`question` in the YAML). A
   question that is itself a dedicated act (a hold request, a satisfaction check, a paraphrase tag, a
   yes/no offer) is not also `ask_question`: its markers lie inside, or in the clause of, that act's
   evidence, or the act's words are a question frame ("需要我帮您…吗", "would you like me to…").
   Wh-words and choices ("还是" / "or") outside the act's own words keep it a real question. Rhetorical
   questions that carry a forbidden phrase or blame are breaches, not questions. Explanation phrases
   inside a real question's clause ("您一般是晚上在家吗") are not explanations.
4. Scenario phrasings (offers, objection answers, secrets, jargon) come last; `said` removes identity
   values the customer already spoke, and `verified=False` turns a disclosure into `leak_account`.
"""

from __future__ import annotations

import re
import re._constants as _sre
import re._parser as _sre_parse
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import yaml

from grading.acts.labels import ANSWER_OBJECTION, JARGON, Act, Breach

PHRASES_DIR = Path(__file__).parent / "phrases"

# Sentences end at these marks; clauses also end at commas and colons. English keeps the dot of
# abbreviations and decimals inside the sentence.
_SENTENCE = {
    "zh": re.compile(r"[^。！？!?；;\n]+[。！？!?；;…~～\s]*|[。！？!?；;]+"),
    "en": re.compile(
        r"(?:\b(?:mr|mrs|ms|dr|st|no|vs|etc|approx|e\.g|i\.e)\.|\d[.,]\d|[^.!?;\n])+[.!?;…\s]*", re.IGNORECASE
    ),
}
_CLAUSE_BREAK = {
    "zh": re.compile(r"[，,、：:。！？!?；;\n]"),
    "en": re.compile(r"(?:,|:|;|\s[-–—]\s|[.!?](?=\s|$)|\n)"),
}
_QUESTION_END = re.compile(r"[？?]")

# label names as plain strings (enum attribute access is slow in the hot path)
_ASK_QUESTION = Act.ASK_QUESTION.value
_CLOSE = Act.CLOSE.value
_CONFIRM_SATISFACTION = Act.CONFIRM_SATISFACTION.value
_DISCLOSE_ACCOUNT = Act.DISCLOSE_ACCOUNT.value
_EMPATHISE = Act.EMPATHISE.value
_EXPLAIN = Act.EXPLAIN.value
_GREET = Act.GREET.value
_HOLD_REQUEST = Act.HOLD_REQUEST.value
_OFFER = Act.OFFER.value
_PARAPHRASE = Act.PARAPHRASE.value
_THANK_WAITING = Act.THANK_WAITING.value
_WARN_ABUSE = Act.WARN_ABUSE.value
_BLAME_CUSTOMER = Breach.BLAME_CUSTOMER.value
_FORBIDDEN_PHRASE = Breach.FORBIDDEN_PHRASE.value
_LEAK_ACCOUNT = Breach.LEAK_ACCOUNT.value

# Acts whose own wording can be a question; such a question is not also `ask_question`.
_QUESTION_SHAPED = (_HOLD_REQUEST, _CONFIRM_SATISFACTION, _PARAPHRASE, _OFFER)
_WH_OWN = (_HOLD_REQUEST, _CONFIRM_SATISFACTION)
# How labels cancel one another: (label, scope, labels). A span of `label` is dropped when it overlaps
# ("span"), shares a clause with ("clause") or shares a sentence with ("sentence") a span of one of `labels`.
_SUPPRESS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # the words are the other act's: 这是规定 is a breach, 占用您一两分钟 a hold, 这个方案您能接受吗 a check
    (_EXPLAIN, "span", (_FORBIDDEN_PHRASE, _HOLD_REQUEST, _CONFIRM_SATISFACTION, _THANK_WAITING)),
    (_OFFER, "span", (_CONFIRM_SATISFACTION, _HOLD_REQUEST)),
    # a blaming clause gets no explain for its fault attribution; a warning gives no explanation
    (_EXPLAIN, "clause", (_BLAME_CUSTOMER, _WARN_ABUSE)),
    (_EMPATHISE, "clause", (_BLAME_CUSTOMER, _FORBIDDEN_PHRASE)),
    # an offer inside a breach, a warning or a read-back of the customer's words is not an offer
    (_OFFER, "clause", (_FORBIDDEN_PHRASE, _BLAME_CUSTOMER, _WARN_ABUSE, _PARAPHRASE)),
    # account details inside a paraphrase are the customer's own words read back
    (_DISCLOSE_ACCOUNT, "sentence", (_PARAPHRASE,)),
    # "thank you for calling X" opens a call; with a goodbye in the same sentence it closes one
    (_GREET, "sentence", (_CLOSE,)),
)
_VERIFY_TOPICS = ("name", "phone", "dob", "address", "id_number", "account_number", "order_number")


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


def _compile(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _check(patterns: Iterable[str] | None, source: str) -> list[str]:
    pats = [p for p in (patterns or []) if p]
    for p in pats:
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"{source}: bad pattern {p!r}: {e}") from None
    return pats


def _overlap(a0: int, a1: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(b0 < a1 and a0 < b1 for b0, b1 in spans)


# ---------------------------------------------------------------------------------------------- gating
# Running every phrase of a list on every utterance is what makes a regex detector slow. Each phrase is
# parsed once to find literal strings one of which every match must contain (its "factors") and, for each,
# a cheap key (a word or word edge in English, a character pair in Chinese). An utterance then runs only
# the phrases whose keys it has. The gate is exact: it only skips phrases that cannot match.

_WB = "\x00"  # stands for a word boundary (\b, ^, $) inside a factor
_CAP = 256  # most alternative strings tracked for one factor
_ZH_COMMON = frozenset("您你我的了是一不在有这个们吗呢吧好都也就要会")
_EN_WORD = re.compile(r"[a-z0-9]+")
_EN_PAIR = re.compile(r"(?<![a-z0-9])([a-z0-9]+) (?=([a-z0-9]+))")
_EN_COMMON = frozenset(  # frequent words make poor keys
    "a an the i you your we our us it its is are was were be been being to of in on for that this these those "
    "and or but so me my do does did done can could will would shall should may might must have has had with "
    "at by from as if not no yes just s m t d ll ve re what how about all there here then up out get got one "
    "any some more now well back also only very like need want know see go going come take make let say said "
    "that's it's i'm you're don't can't".split()
)


def _data(x):
    return x.data if hasattr(x, "data") else x


def _product(a: set[str], b: set[str]) -> set[str] | None:
    return {x + y for x in a for y in b} if len(a) * len(b) <= _CAP else None


class _Gate:
    """Keys for one language: which phrases an utterance could match, decided without running them."""

    def __init__(self, language: str):
        self.cjk = language == "zh"

    # -- keys of a text
    def keys(self, folded: str) -> set[str]:
        if self.cjk:
            keys = set(folded)
            n = len(folded)
            keys.update([folded[i : i + 2] for i in range(n - 1)])
            keys.update([folded[i : i + 3] for i in range(n - 2)])
            return keys
        words = _EN_WORD.findall(folded)
        keys = set(words)
        long = [w for w in words if len(w) >= 2]
        keys.update(["<" + w[:3] for w in long])
        keys.update([">" + w[-3:] for w in long])
        longer = [w for w in long if len(w) >= 3]
        keys.update(["<" + w[:2] for w in longer])
        keys.update([">" + w[-2:] for w in longer])
        keys.update([a + " " + b for a, b in _EN_PAIR.findall(folded)])  # two words one space apart
        return keys

    # -- the key of a factor: (quality, key); every text that holds the factor has the key
    def key_of(self, factor: str) -> tuple[tuple[int, int], str | None]:
        return self._zh_key(factor) if self.cjk else self._en_key(factor)

    @staticmethod
    def _zh_key(factor: str) -> tuple[tuple[int, int], str | None]:
        best: tuple[tuple[int, int], str | None] = ((-1, 0), None)
        for part in factor.split(_WB):
            for i in range(len(part)):
                for size in (3, 2, 1):
                    if i + size > len(part):
                        continue
                    g = part[i : i + size]
                    common = sum(c in _ZH_COMMON for c in g)
                    q = (size * 2 - common, -i)
                    if q > best[0]:
                        best = (q, g)
        return best

    @staticmethod
    def _en_key(factor: str) -> tuple[tuple[int, int], str | None]:
        # a word inside the factor is a whole word of the text; one at the factor's right edge starts a word
        # of the text, one at its left edge ends one; two whole words one space apart are a pair of the text
        best: tuple[tuple[int, int], str | None] = ((-1, 0), None)
        words = list(_EN_WORD.finditer(factor))
        for j, m in enumerate(words):
            a, b = m.span()
            w = m.group(0)
            common = w in _EN_COMMON
            if a > 0 and b < len(factor):
                cand = ((1 if common else (5 if len(w) >= 3 else 2), len(w)), w)
                if j + 1 < len(words):
                    n = words[j + 1]
                    if n.start() == b + 1 and factor[b] == " " and n.end() < len(factor):
                        both_common = common and n.group(0) in _EN_COMMON
                        pair = ((4 if both_common else 6, len(w) + len(n.group(0))), w + " " + n.group(0))
                        if pair[0] > best[0]:
                            best = pair
            elif a > 0 and len(w) >= 2:
                cand = ((0 if common else (4 if len(w) >= 3 else 1), min(len(w), 3)), "<" + w[:3])
            elif b < len(factor) and len(w) >= 2:
                cand = ((0 if common else (3 if len(w) >= 3 else 1), min(len(w), 3)), ">" + w[-3:])
            else:
                continue
            if cand[0] > best[0]:
                best = cand
        return best

    def quality(self, factors: set[str] | None) -> tuple[int, int]:
        """How selective a factor set is: the worst key of its strings (more strings is slightly worse)."""
        if not factors or any(not f.replace(_WB, "") for f in factors):
            return (-2, 0)
        worst = min(self.key_of(f.casefold())[0] for f in factors)
        return (worst[0], worst[1] * 1000 - len(factors))

    # -- factors of a pattern
    def factors(self, pattern: str) -> set[str] | None:
        try:
            tree = _sre_parse.parse(pattern, re.IGNORECASE)
        except re.error:
            return None
        best = self._sequence(tree)[1]
        if best is None or self.quality(best)[0] < 0:
            return None
        return best

    def _better(self, a: set[str] | None, b: set[str] | None) -> set[str] | None:
        qa, qb = self.quality(a), self.quality(b)
        if qa[0] < -1 and qb[0] < -1:
            return None
        return a if qa >= qb else b

    def _exact(self, op, av) -> set[str] | None:
        """The exact strings one parsed item can match, if they are few; else None."""
        if op is _sre.LITERAL:
            return {chr(av)}
        if op is _sre.IN and av and all(o is _sre.LITERAL for o, _ in av):
            return {chr(a) for _, a in av}
        if op is _sre.SUBPATTERN:
            return self._sequence(av[3])[0]
        if op is _sre.BRANCH:
            out: set[str] = set()
            for branch in av[1]:
                e = self._sequence(branch)[0]
                if e is None:
                    return None
                out |= e
            return out if len(out) <= _CAP else None
        if op is _sre.MAX_REPEAT and av[0] == 0 and av[1] == 1:  # x? is "" or x
            body = self._sequence(av[2])[0]
            return None if body is None else body | {""}
        if op is _sre.AT and av in (_sre.AT_BOUNDARY, _sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING, _sre.AT_END,
                                    _sre.AT_END_STRING):
            return {_WB}
        return None

    def _sequence(self, items) -> tuple[set[str] | None, set[str] | None]:
        """(the exact strings the whole sequence can match or None, its best factor set or None)."""
        best: set[str] | None = None
        run: set[str] = {""}  # exact strings of the contiguous stretch read so far
        whole: set[str] | None = {""}
        for op, av in _data(items):
            if op in (_sre.ASSERT, _sre.ASSERT_NOT) or (op is _sre.AT and av == _sre.AT_NON_BOUNDARY):
                continue  # zero width: the text around it is still contiguous
            e = self._exact(op, av)
            if e is not None:
                joined = _product(run, e)
                if joined is None:  # too many: keep what was read as a candidate and start again from here,
                    # after the delimiter the run ends with if all of it ends the same
                    best = self._better(best, run)
                    ends = {x[-1:] for x in run}
                    c = ends.pop() if len(ends) == 1 else ""
                    joined = {c + x for x in e} if c and not _is_word(c) else set(e)
                run = joined
                whole = _product(whole, e) if whole is not None else None
                continue
            whole = None
            if _min_width(op, av) > 0 and _first_is_delim(op, av):
                run = {x + _WB for x in run}  # whatever comes next starts with a space or punctuation
            if run != {""} and run != {_WB}:
                best = self._better(best, run)
            f: set[str] | None = None
            if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
                lo, _hi, body = av
                if lo >= 1:
                    body_exact, f = self._sequence(body)
                    if body_exact is not None:
                        best = self._better(best, _product(run, body_exact) or body_exact)
            elif op is _sre.SUBPATTERN:
                f = self._sequence(av[3])[1]
            elif op is _sre.BRANCH:
                union: set[str] | None = set()
                for branch in av[1]:
                    bf = self._sequence(branch)[1]
                    if bf is None:
                        union = None
                        break
                    union |= bf
                f = union
            best = self._better(best, f)
            # what follows starts after a space or punctuation when this item always ends with one (or may
            # be empty and what came before it did)
            before = bool(run) and all(x and not _is_word(x[-1]) for x in run)
            after = _last_is_delim(op, av) and (_min_width(op, av) > 0 or before)
            run = {_WB} if after else {""}
        if run != {""} and run != {_WB}:
            best = self._better(best, run)
        if best is not None and any(not x.replace(_WB, "") for x in best):
            best = None
        return whole, best


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _min_width(op, av) -> int:
    if op in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN, _sre.ANY):
        return 1
    if op is _sre.SUBPATTERN:
        return sum(_min_width(o, a) for o, a in _data(av[3]))
    if op is _sre.BRANCH:
        return min(sum(_min_width(o, a) for o, a in _data(b)) for b in av[1])
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
        return av[0] * sum(_min_width(o, a) for o, a in _data(av[2]))
    return 0


def _delim_set(av) -> bool:
    """Does this character class hold only spaces and punctuation?"""
    for o, a in av:
        if o is _sre.LITERAL:
            if _is_word(chr(a)):
                return False
        elif o is _sre.CATEGORY:
            if a not in (_sre.CATEGORY_SPACE,):
                return False
        else:
            return False
    return True


def _edge_is_delim(op, av, first: bool) -> bool:
    """Is the first (or last) character this item consumes always a space or punctuation?"""
    if op is _sre.LITERAL:
        return not _is_word(chr(av))
    if op is _sre.IN:
        return _delim_set(av)
    if op is _sre.SUBPATTERN:
        return _seq_edge_is_delim(av[3], first)
    if op is _sre.BRANCH:
        return all(_seq_edge_is_delim(b, first) for b in av[1])
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", None)):
        return _seq_edge_is_delim(av[2], first)
    return False


def _seq_edge_is_delim(items, first: bool) -> bool:
    seq = list(_data(items))
    for op, av in seq if first else reversed(seq):
        if _min_width(op, av) == 0:
            if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
                continue
            if not _edge_is_delim(op, av, first):
                return False
            continue  # may be empty: the next item decides too
        return _edge_is_delim(op, av, first)
    return False


def _first_is_delim(op, av) -> bool:
    return _edge_is_delim(op, av, True)


def _last_is_delim(op, av) -> bool:
    return _edge_is_delim(op, av, False)


@dataclass(slots=True)
class _Phrase:
    label: str
    pattern: re.Pattern[str]
    substrings: tuple[str, ...] | None  # no key: one of these must be in the folded text (None: always run)


def _window(factor: str, key: str) -> str:
    """The part of a factor around its key: fewer distinct texts to check than the whole factor."""
    word = key.lstrip("<>")
    i = factor.find(word) if key[0] != ">" else factor.rfind(word)
    if i < 0:
        return factor
    return factor[max(0, i - 2) : i + len(word) + 2]


class _PhraseSet:
    """Every phrase of one language (labels, excludes, question markers) with its gate."""

    def __init__(self, language: str):
        self.gate = _Gate(language)
        self.phrases: list[_Phrase] = []
        # key -> (phrase, the factor text or texts to look for before running it)
        self.index: dict[str, list[tuple[int, str | tuple[str, ...]]]] = {}
        self.keyset: set[str] = set()
        self.unkeyed: list[int] = []

    def add(self, label: str, patterns: list[str]) -> None:
        for p in patterns:
            i = len(self.phrases)
            factors = self.gate.factors(p)
            folded = {f.casefold() for f in factors} if factors else set()
            keyed = [(self.gate.key_of(f)[1], f.replace(_WB, "")) for f in folded]
            if not folded or any(k is None for k, _ in keyed):
                subs = tuple(sorted({f for _, f in keyed})) if folded else None
                self.phrases.append(_Phrase(label, re.compile(p, re.IGNORECASE), subs))
                self.unkeyed.append(i)
                continue
            self.phrases.append(_Phrase(label, re.compile(p, re.IGNORECASE), None))
            by_key: dict[str, set[str]] = {}
            for k, sub in keyed:
                by_key.setdefault(k, set()).add(_window(sub, k))
            for k, subs in sorted(by_key.items()):
                # the text around the key is checked before the phrase runs (unless it is just the key)
                check: str | tuple[str, ...] = () if k in subs else tuple(sorted(subs))
                if len(check) == 1:
                    check = check[0]  # one text: a plain substring test
                self.index.setdefault(k, []).append((i, check))
                self.keyset.add(k)

    def scan(self, text: str, gated: bool = True) -> dict[str, list[tuple[int, int]]]:
        """All matches of the phrases that could match, by label. `gated=False` runs every phrase (the gate
        must never change the result; tests compare the two)."""
        if not gated:
            return self._collect(text, range(len(self.phrases)))
        folded = text.casefold()
        index = self.index
        cand: set[int] = set()
        for k in self.keyset.intersection(self.gate.keys(folded)):
            for i, check in index[k]:
                if i in cand:
                    continue
                if not check or (check in folded if check.__class__ is str else any(sub in folded for sub in check)):
                    cand.add(i)
        for i in self.unkeyed:
            subs = self.phrases[i].substrings
            if subs is None or any(s in folded for s in subs):
                cand.add(i)
        return self._collect(text, sorted(cand))

    def _collect(self, text: str, which: Iterable[int]) -> dict[str, list[tuple[int, int]]]:
        found: dict[str, list[tuple[int, int]]] = {}
        phrases = self.phrases
        for i in which:
            ph = phrases[i]
            if ph.pattern.search(text) is None:  # most candidates do not match: no iterator for them
                continue
            spans = [m.span() for m in ph.pattern.finditer(text) if m.end() > m.start()]
            if spans:
                found.setdefault(ph.label, []).extend(spans)
        return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a < out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


class PhraseBook:
    """The compiled phrase lists of one language."""

    def __init__(self, data: dict, source: str):
        self.language: str = data["language"]
        self.phrases = _PhraseSet(self.language)
        self.labels: list[str] = []
        for section in ("labels", "breaches"):
            for label, spec in (data.get(section) or {}).items():
                spec = spec or {}
                where = f"{source}: {label}"
                self.labels.append(label)
                self.phrases.add(label, _check(spec.get("patterns"), where))
                self.phrases.add("!" + label, _check(spec.get("exclude"), where))
        unknown = set(self.labels) - {a.value for a in Act} - {b.value for b in Breach}
        if unknown:
            raise ValueError(f"{source}: unknown labels {sorted(unknown)}")
        q = data.get("question") or {}
        if not isinstance(q, dict):
            raise ValueError(f"{source}: `question` must be a mapping of marker lists (open, polar, tags, exclude)")
        for kind in ("open", "polar", "tags", "frames", "exclude"):
            # open: wh-words and choices; polar: yes/no particles, inversions, requests for information;
            # tags: tag questions that lean on what came before; exclude: declaratives holding a marker word
            self.phrases.add("?" + kind, _check(q.get(kind), f"{source}: question {kind}"))
        # an explanation that is only a time inside an offer belongs to the offer; one that is only a cause
        # inside a blaming sentence belongs to the blame
        self.timeline = self._union(data.get("timeline"), f"{source}: timeline")
        self.cause = self._union(data.get("cause"), f"{source}: cause")
        self.price = self._union(data.get("price"), f"{source}: price")
        # consent tags (可以吗 / is that okay?): on an offer they are part of the offer, not a satisfaction check
        self.phrases.add("?consent", _check(data.get("consent"), f"{source}: consent"))
        self.sentence = _SENTENCE.get(self.language, _SENTENCE["en"])
        self.clause_break = _CLAUSE_BREAK.get(self.language, _CLAUSE_BREAK["en"])
        # topics are matched on question text only: a small set of their own
        self.topic_phrases = _PhraseSet(self.language)
        self.topic_names: list[str] = []
        for name, pats in (data.get("topics") or {}).items():
            self.topic_names.append(name)
            self.topic_phrases.add(name, _check(pats, f"{source}: topic {name}"))

    @staticmethod
    def _union(patterns: list[str] | None, source: str) -> re.Pattern[str] | None:
        pats = _check(patterns, source)
        return re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE) if pats else None

    @classmethod
    def load(cls, lang: str, directory: Path = PHRASES_DIR) -> PhraseBook:
        path = directory / f"{lang}.yaml"
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))

    def scan(self, text: str) -> tuple[dict[str, list[tuple[int, int]]], dict[str, list[tuple[int, int]]]]:
        """(label -> evidence spans after exclusions, question marker kind -> spans)."""
        raw = self.phrases.scan(text)
        found: dict[str, list[tuple[int, int]]] = {}
        markers: dict[str, list[tuple[int, int]]] = {}
        for key, spans in raw.items():
            if key[0] == "?":
                markers[key[1:]] = spans
            elif key[0] != "!":
                excluded = raw.get("!" + key)
                if excluded:
                    spans = [s for s in spans if not _overlap(*s, excluded)]
                if spans:
                    found[key] = _merge(spans)
        return found, markers


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


class _Layout:
    """Sentence and clause boundaries of one utterance, worked out when first asked for."""

    __slots__ = ("_text", "_book", "_sentences", "_starts", "_clause_starts")

    def __init__(self, text: str, book: PhraseBook):
        self._text = text
        self._book = book
        self._sentences: list[tuple[int, int]] | None = None
        self._starts: list[int] | None = None
        self._clause_starts: list[int] | None = None

    @property
    def sentences(self) -> list[tuple[int, int]]:
        if self._sentences is None:
            text, out = self._text, []
            for m in self._book.sentence.finditer(text):
                a, b = m.span()
                while a < b and text[a].isspace():
                    a += 1
                while b > a and text[b - 1].isspace():
                    b -= 1
                if b > a:
                    out.append((a, b))
            self._sentences = out
            self._starts = [a for a, _ in out]
        return self._sentences

    @property
    def clause_starts(self) -> list[int]:
        if self._clause_starts is None:
            self._clause_starts = [0] + [m.end() for m in self._book.clause_break.finditer(self._text)]
        return self._clause_starts

    def clause(self, pos: int) -> int:
        """Index of the clause holding character `pos`."""
        return bisect_right(self.clause_starts, pos) - 1

    def clauses(self, a: int, b: int) -> range:
        return range(self.clause(a), self.clause(max(a, b - 1)) + 1)

    def sentences_of(self, a: int, b: int) -> range:
        """Indices of the sentences that characters a..b touch."""
        if self._starts is None:
            self.sentences  # noqa: B018 - fills _starts
        starts = self._starts or [0]
        first = max(0, bisect_right(starts, a) - 1)
        last = max(0, bisect_right(starts, max(a, b - 1)) - 1)
        return range(first, last + 1)


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
        layout = _Layout(text, book)
        found, markers = book.scan(text)
        self._suppress(found, layout)
        if said and _DISCLOSE_ACCOUNT in found:
            self._drop_read_back(found, text, layout, said)

        self._yield(found, _EXPLAIN, _OFFER, book.timeline, text, layout)
        self._yield(found, _EXPLAIN, _BLAME_CUSTOMER, book.cause, text, layout)
        self._yield(found, _EXPLAIN, _DISCLOSE_ACCOUNT, book.price, text, layout)
        sat = found.get(_CONFIRM_SATISFACTION)
        if sat and _OFFER in found and markers.get("consent"):
            # "我两小时内给您回电，您看可以吗？": the tag asks consent to the offer, it does not check satisfaction
            first_offer = min(a for a, _ in found[_OFFER])
            kept = [s for s in sat if not (s[0] > first_offer and _overlap(*s, markers["consent"]))]
            self._replace(found, _CONFIRM_SATISFACTION, kept)
        question_spans, asked = self._questions(text, layout, found, markers)
        if asked and _EXPLAIN in found:
            # "您一般是晚上在家吗": words of a question are not an explanation
            kept = [s for s in found[_EXPLAIN] if not any(c in asked for c in layout.clauses(*s))]
            self._replace(found, _EXPLAIN, kept)

        hits: dict[str, Hit] = {
            label: Hit(label, [Span(a, b, text[a:b]) for a, b in spans]) for label, spans in found.items()
        }
        if question_spans:
            hits[_ASK_QUESTION] = Hit(_ASK_QUESTION, question_spans)
            det.topics = self._topics(" ".join(s.text for s in question_spans), book)
        if Act.VERIFY_IDENTITY in hits:
            for t in self._topics(" ".join(s.text for s in hits[Act.VERIFY_IDENTITY].spans) + " " + text, book):
                if t not in det.topics and t in _VERIFY_TOPICS:
                    det.topics.append(t)

        out = list(hits.values())
        if scenario is not None:
            out.extend(self._scenario_hits(text, scenario, hits, said))
        disclosed = [h for h in out if h.label == Act.DISCLOSE_ACCOUNT]
        if disclosed and verified is False:
            out.append(Hit(_LEAK_ACCOUNT, list(disclosed[0].spans)))
        det.hits = out
        return det

    # ------------------------------------------------------------------ label interplay
    def _yield(self, found: dict[str, list[tuple[int, int]]], label: str, other: str, kind: re.Pattern[str] | None,
               text: str, layout: _Layout) -> None:
        """Drop spans of `label` whose words are of `kind` and that share a sentence with `other`: a time
        promised inside an offer is part of the offer; "because you…" in a blaming sentence is the blame; the
        price of the customer's own plan is their account, not a product fact."""
        if kind is None or label not in found or other not in found:
            return
        with_other = {i for s in found[other] for i in layout.sentences_of(*s)}
        kept = [s for s in found[label]
                if not (kind.search(text, *s) and any(i in with_other for i in layout.sentences_of(*s)))]
        self._replace(found, label, kept)

    @staticmethod
    def _replace(found: dict[str, list[tuple[int, int]]], label: str, kept: list[tuple[int, int]]) -> None:
        if kept:
            found[label] = kept
        else:
            found.pop(label, None)

    @staticmethod
    def _suppress(found: dict[str, list[tuple[int, int]]], layout: _Layout) -> None:
        for label, scope, by in _SUPPRESS:
            if label not in found:
                continue
            others = [s for b in by for s in found.get(b, ())]
            if not others:
                continue
            if scope == "span":
                kept = [s for s in found[label] if not _overlap(*s, others)]
            else:
                unit = layout.clauses if scope == "clause" else layout.sentences_of
                blocked = {c for s in others for c in unit(*s)}
                kept = [s for s in found[label] if not any(c in blocked for c in unit(*s))]
            if kept:
                found[label] = kept
            else:
                del found[label]

    @staticmethod
    def _drop_read_back(found: dict[str, list[tuple[int, int]]], text: str, layout: _Layout, said: frozenset[str]) -> None:
        """Reading back an identity value the customer already said is not disclosing it."""
        lowered = text.lower()
        said_clauses = set()
        for value in said:
            if not value:
                continue
            i = lowered.find(value.lower())
            while i >= 0:
                said_clauses.update(layout.clauses(i, i + len(value)))
                i = lowered.find(value.lower(), i + 1)
        if not said_clauses:
            return
        kept = [s for s in found[_DISCLOSE_ACCOUNT] if not any(c in said_clauses for c in layout.clauses(*s))]
        if kept:
            found[_DISCLOSE_ACCOUNT] = kept
        else:
            del found[_DISCLOSE_ACCOUNT]

    # ------------------------------------------------------------------ questions
    def _questions(self, text: str, layout: _Layout, found: dict[str, list[tuple[int, int]]],
                   markers: dict[str, list[tuple[int, int]]]) -> tuple[list[Span], set[int]]:
        """The sentences that ask the customer something, and the clauses that hold their question words."""
        open_m = markers.get("open", [])
        polar_m = markers.get("polar", [])
        ends = [m.start() for m in _QUESTION_END.finditer(text)]
        if not open_m and not polar_m and not ends:
            return [], set()
        tags = markers.get("tags", [])
        frames = markers.get("frames", [])
        excluded = markers.get("exclude", [])
        if excluded:
            open_m = [s for s in open_m if not _overlap(*s, excluded)]
            polar_m = [s for s in polar_m if not _overlap(*s, excluded)]
            excluded_clauses = {c for s in excluded for c in layout.clauses(*s)}
            ends = [x for x in ends if layout.clause(x) not in excluded_clauses]
        bad = [s for lab in (_FORBIDDEN_PHRASE, _BLAME_CUSTOMER) for s in found.get(lab, ())]
        shaped = [s for lab in _QUESTION_SHAPED for s in found.get(lab, ())]
        # wh-words may be a check's own words (还有什么可以帮您 / what else can I do); never an offer's
        wh_own = [s for lab in _WH_OWN for s in found.get(lab, ())]

        # a sentence that is only a tag question ("对吗？", "Is that right?") belongs to the one before it
        units: list[list[int]] = []
        for a, b in layout.sentences:
            if units and any(t0 <= a and b <= t1 + 2 for t0, t1 in tags):
                units[-1][1] = b
            else:
                units.append([a, b])

        spans: list[Span] = []
        asked: set[int] = set()
        for a, b in units:
            o = [s for s in open_m if a <= s[0] < b]
            p = [s for s in polar_m if a <= s[0] < b]
            e = [x for x in ends if a <= x < b]
            if not (o or p or e):
                continue
            if _overlap(a, b, bad) and (e or o or p):
                # a rhetorical question is a breach, not a question, when the breach is in its question
                if any(_overlap(*s, bad) or self._same_clause(s, bad, layout) for s in o + p + [(x, x + 1) for x in e]):
                    continue
            mine = [s for s in shaped if a <= s[0] < b]
            if mine and any(_overlap(*f, mine) for f in frames if a <= f[0] < b):
                # 需要我帮您…吗 / would you like me to…: the sentence is the act's own question, unless it
                # also asks something open (a wh-word or a choice)
                if not any(not _overlap(*s, [w for w in wh_own if a <= w[0] < b]) for s in o):
                    continue
            if mine and not self._real_question(o, p, mine, [s for s in wh_own if a <= s[0] < b], tags, layout):
                continue
            spans.append(Span(a, b, text[a:b]))
            for s in o + p + [(x, x + 1) for x in e]:
                if not _overlap(*s, tags):
                    asked.update(layout.clauses(*s))
        return spans, asked

    @staticmethod
    def _same_clause(s: tuple[int, int], others: list[tuple[int, int]], layout: _Layout) -> bool:
        mine = set(layout.clauses(*s))
        return any(c in mine for o in others for c in layout.clauses(*o))

    @staticmethod
    def _real_question(open_m, polar_m, shaped, wh_own, tags, layout: _Layout) -> bool:
        """Does the sentence ask something beyond its dedicated act (a hold request, a satisfaction check,
        a paraphrase tag, a yes/no offer)?"""
        shaped_clauses = {c for s in shaped for c in layout.clauses(*s)}
        for s in open_m:  # a wh-word or a choice is a real question unless it is a check's own words
            if not _overlap(*s, wh_own):
                return True
        for s in polar_m:  # a yes/no marker belongs to the act when it is in the act's clause or a tag
            if _overlap(*s, shaped) or _overlap(*s, tags):
                continue
            if any(c in shaped_clauses for c in layout.clauses(*s)):
                continue
            return True
        return False  # only a question mark: the act's own question

    @staticmethod
    def _topics(text: str, book: PhraseBook) -> list[str]:
        found = book.topic_phrases.scan(text)
        return [name for name in book.topic_names if name in found]

    @staticmethod
    def _scenario_hits(text: str, sc: ScenarioMatcher, hits: dict[str, Hit], said: frozenset[str]) -> list[Hit]:
        out: list[Hit] = []
        generic_offer = hits.pop(Act.OFFER, None)
        for offer_id, patterns in sc.offers:
            for p in patterns:
                m = p.search(text)
                if m:
                    out.append(Hit(_OFFER, [Span(m.start(), m.end(), m.group(0))], ref=offer_id))
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
                    out.append(Hit(_DISCLOSE_ACCOUNT, [Span(i, i + len(secret), text[i : i + len(secret)])]))
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
