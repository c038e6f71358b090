"""The rule checks a rubric can name. Each reads the call once (`CallFacts`) and reports evidence,
deductions and breaches with the turn and the exact words (the detector's spans, or the turn's words
when a required step is missing at the turn where it was due).

A rule never decides how many points a deduction costs for per-breach rules (the rubric's `per_breach`
and its cap do); whole rules deduct a share of the criterion's points.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from grading.acts.detector import Span
from grading.acts.labels import Act, Breach
from grading.cues import CueMatch, Cues, cues

if TYPE_CHECKING:
    from grading.record import CallRecord, TurnRec
    from grading.rubric import BlockerSpec, CriterionSpec

QUOTE_MAX = 80
_WORD = re.compile(r"[A-Za-z0-9']+")
_ZH_UNIT = re.compile(r"[\u4e00-\u9fff]|[A-Za-z0-9]+")


def turn_quote(text: str) -> str:
    """The turn's own words, cut to a readable prefix (still an exact substring of the turn)."""
    text = text.strip()
    if len(text) <= QUOTE_MAX:
        return text
    cut = text[:QUOTE_MAX]
    if " " in cut[QUOTE_MAX // 2:] and not re.search(r"[\u4e00-\u9fff]", cut):
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip()


def _merge(spans: list[Span], text: str) -> list[Span]:
    """Overlapping evidence spans (two patterns matching the same words) count once."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1].end:
            if s.end > out[-1].end:
                last = out[-1]
                out[-1] = Span(last.start, s.end, text[last.start:s.end] if text else last.text + s.text)
            continue
        out.append(s)
    return out


def _clean(q: str) -> str:
    q = q.strip().strip("，,、；;")
    return q


# ---------------------------------------------------------------------------------------------- the call, read once
class CallFacts:
    """What the rules need, computed once per call."""

    def __init__(self, rec: CallRecord):
        self.rec = rec
        self.lang = rec.language
        self.cues: Cues = cues(rec.language)
        self._cue_memo: dict[tuple[str, int], CueMatch | None] = {}
        self.turns = rec.turns
        self.agent: list[TurnRec] = [t for t in rec.turns if t.speaker == "agent"]
        self.customer: list[TurnRec] = [t for t in rec.turns if t.speaker == "customer"]
        self.scenario = rec.scenario
        self.first: dict[str, int] = {}
        for pos, t in enumerate(self.agent):
            for label in t.labels:
                self.first.setdefault(label, pos)
        # concrete fixes: scenario offers (ref) when the scenario is known, else the detector's offers that
        # are more than the opener "有什么可以帮您"
        self.fix_spans: dict[int, list[Span]] = {}
        self.vague_pos: list[int] = []
        for pos, t in enumerate(self.agent):
            if Act.OFFER not in t.labels or t.det is None:
                continue
            if pos == 0 and len(self.agent) > 1 and {Act.GREET, Act.SELF_IDENTIFY} & t.labels:
                continue  # the opening's "how can I help" / an outbound call's purpose is not a fix
            hits = [h for h in t.det.hits if h.label == Act.OFFER]
            concrete = [h for h in hits if h.ref]
            generic = [s for h in hits if not h.ref for s in h.spans
                       if not self.cues.has("weak_offer", s.text.strip())]
            sat = [s for h in t.det.hits if h.label == Act.CONFIRM_SATISFACTION for s in h.spans]
            generic = [s for s in generic if not any(o.start < s.end and s.start < o.end for o in sat)]
            if self.scenario is not None:
                if concrete:
                    self.fix_spans[pos] = _merge([s for h in concrete for s in h.spans], t.text)
                elif generic:
                    self.vague_pos.append(pos)
            elif generic:
                self.fix_spans[pos] = _merge(generic, t.text)
        self.fix_pos: list[int] = sorted(self.fix_spans)

    # ------------------------------------------------------------------ cue lookups, once per turn and kind
    def search(self, kind: str, t: TurnRec) -> CueMatch | None:
        key = (kind, t.idx)
        try:
            return self._cue_memo[key]
        except KeyError:
            m = self._cue_memo[key] = self.cues.search(kind, t.text)
            return m

    def has(self, kind: str, t: TurnRec) -> bool:
        return self.search(kind, t) is not None

    # ------------------------------------------------------------------ evidence helpers
    def spans(self, t: TurnRec, label: str) -> list[Span]:
        if t.det is None:
            return []
        return _merge([s for h in t.det.hits if h.label == label for s in h.spans], t.text)

    def quote(self, t: TurnRec, label: str) -> str:
        sp = self.spans(t, label)
        return _clean(sp[0].text) if sp and _clean(sp[0].text) else turn_quote(t.text)

    def fix_quote(self, pos: int) -> str:
        sp = self.fix_spans.get(pos)
        t = self.agent[pos]
        return _clean(sp[0].text) if sp and _clean(sp[0].text) else turn_quote(t.text)

    def first_fix(self) -> int | None:
        return self.fix_pos[0] if self.fix_pos else None

    # ------------------------------------------------------------------ the customer's side
    @cached_property
    def initial_anger(self) -> int | None:
        s = self.rec.initial_state
        return int(s["anger"]) if s and "anger" in s else None

    @cached_property
    def final_state(self) -> dict[str, Any] | None:
        if not self.rec.has_director:
            return None
        for t in reversed(self.turns):
            if t.state:
                return t.state
        return self.rec.final_state or self.rec.initial_state

    @cached_property
    def upset_from(self) -> int | None:
        """Transcript index from which the customer is upset (None: never upset)."""
        found: list[int] = []
        if self.rec.has_director and self.scenario is not None:
            if self.scenario.persona.needs_empathy():
                return -1
            found += [t.idx for t in self.turns if t.state and int(t.state.get("anger", 0)) >= 60][:1]
        # what the customer says counts too: "烦死了" needs acknowledging whatever the persona's numbers
        found += [t.idx for t in self.customer if self.has("customer_upset", t)][:1]
        return min(found) if found else None

    @property
    def upset(self) -> bool:
        return self.upset_from is not None

    @cached_property
    def empathy_due_pos(self) -> int | None:
        """The agent turn by which the customer's feelings should have been acknowledged: the first agent
        turn after the customer is upset, not counting the opening greeting when more turns follow."""
        if not self.agent or self.upset_from is None:
            return None
        cands = [p for p, t in enumerate(self.agent) if t.idx > self.upset_from]
        if cands and cands[0] == 0 and len(self.agent) > 1 and (
                {Act.GREET, Act.SELF_IDENTIFY} & self.agent[0].labels):
            cands = cands[1:]
        return cands[0] if cands else len(self.agent) - 1

    @property
    def inbound(self) -> bool:
        return self.rec.direction != "outbound"

    def customer_after(self, idx: int) -> list[TurnRec]:
        return [t for t in self.customer if t.idx > idx]

    def prev_state(self, t: TurnRec) -> dict[str, Any] | None:
        for u in reversed(self.turns[: t.idx]):
            if u.state:
                return u.state
        return self.rec.initial_state


# ---------------------------------------------------------------------------------------------- outcomes
@dataclass(slots=True)
class Deduction:
    points: float | None  # None: a breach whose cost the rubric sets (per_breach, capped)
    turn: int | None
    quote: str
    msg: str
    kw: dict[str, Any] = field(default_factory=dict)
    source: str = "rule"  # rule | director | conversation


@dataclass(slots=True)
class Outcome:
    na: bool = False
    deductions: list[Deduction] = field(default_factory=list)
    evidence: list[tuple[int, str]] = field(default_factory=list)
    note: tuple[str, dict[str, Any]] | None = None
    basis: str = "rule"  # rule | director | conversation

    def ok(self, turn: int, quote: str) -> None:
        if quote:
            self.evidence.append((turn, quote))

    def deduct(self, points: float, turn: int | None, quote: str, msg: str, **kw: Any) -> None:
        self.deductions.append(Deduction(points, turn, quote, msg, kw, self.basis))

    def breach(self, turn: int | None, quote: str, msg: str, **kw: Any) -> None:
        self.deductions.append(Deduction(None, turn, quote, msg, kw, self.basis))


@dataclass(frozen=True)
class RuleDef:
    fn: Callable[[CallFacts, Any, Outcome], None]
    params: dict[str, Any]
    per_breach: bool = False
    doc: str = ""


def _last(c: CallFacts) -> TurnRec:
    return c.agent[-1]


# ---------------------------------------------------------------------------------------------- script adherence
def r_opening(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    within = max(1, int(spec.param("within_turns")))
    window = c.agent[:within]
    due = c.agent[0]
    share = float(spec.param("greet_share"))
    for label, part, msg in ((Act.GREET, share, "opening_no_greet"), (Act.SELF_IDENTIFY, 1 - share, "opening_no_self_id")):
        hit = next((t for t in window if label in t.labels), None)
        if hit is not None:
            o.ok(hit.idx, c.quote(hit, label))
        elif part > 0:
            o.deduct(spec.points * part, due.idx, turn_quote(due.text), msg)


def _verification_required(c: CallFacts, spec: Any) -> bool:
    if c.scenario is not None:
        return bool(c.scenario.requires_verification)
    return bool(spec.param("without_scenario"))


def _first_account_action(c: CallFacts) -> tuple[int, str] | None:
    """The first agent turn that acts on the account: a concrete fix, or account details read out."""
    cands = []
    f = c.first_fix()
    if f is not None:
        cands.append((f, c.fix_quote(f)))
    d = c.first.get(Act.DISCLOSE_ACCOUNT)
    if d is not None:
        cands.append((d, c.quote(c.agent[d], Act.DISCLOSE_ACCOUNT)))
    return min(cands) if cands else None


def r_verification(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    if not _verification_required(c, spec):
        o.na = True
        return
    v = c.first.get(Act.VERIFY_IDENTITY)
    action = _first_account_action(c)
    if v is None:
        if action is not None:
            pos, q = action
            o.deduct(spec.points, c.agent[pos].idx, q, "verify_missing_before_action")
        else:
            pos = 1 if len(c.agent) > 1 else 0
            o.deduct(spec.points, c.agent[pos].idx, turn_quote(c.agent[pos].text), "verify_missing")
        return
    o.ok(c.agent[v].idx, c.quote(c.agent[v], Act.VERIFY_IDENTITY))
    if action is not None and action[0] <= v:
        pos, q = action
        o.deduct(spec.points * float(spec.param("late_share")), c.agent[pos].idx, q, "verify_late")


def r_required_act(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    act = str(spec.param("act"))
    where = str(spec.param("where"))
    fix = c.first_fix()
    positions = [p for p, t in enumerate(c.agent) if act in t.labels]
    if where == "last":
        n = max(1, int(spec.param("last_n")))
        tail = range(max(0, len(c.agent) - n), len(c.agent))
        if len(c.agent) > 1:
            tail = [p for p in tail if p > 0]  # the opening's "thank you for calling" is not a closing
        good = [p for p in positions if p in tail]
        if good:
            o.ok(c.agent[good[-1]].idx, c.quote(c.agent[good[-1]], act))
        else:
            o.deduct(spec.points, _last(c).idx, turn_quote(_last(c).text), f"missing_{act}")
        return
    if where == "after_fix" and fix is not None:
        good = [p for p in positions if p >= fix]
        if good:
            o.ok(c.agent[good[0]].idx, c.quote(c.agent[good[0]], act))
        else:
            o.deduct(spec.points, _last(c).idx, turn_quote(_last(c).text), f"missing_{act}")
        return
    if where == "before_fix" and fix is not None:
        good = [p for p in positions if p < fix]
        if good:
            o.ok(c.agent[good[0]].idx, c.quote(c.agent[good[0]], act))
        elif positions:
            o.ok(c.agent[positions[0]].idx, c.quote(c.agent[positions[0]], act))
            o.deduct(spec.points * float(spec.param("late_share")), c.agent[fix].idx, c.fix_quote(fix), f"late_{act}")
        else:
            o.deduct(spec.points, c.agent[fix].idx, c.fix_quote(fix), f"missing_{act}_before_fix")
        return
    if positions:
        o.ok(c.agent[positions[0]].idx, c.quote(c.agent[positions[0]], act))
    else:
        o.deduct(spec.points, _last(c).idx, turn_quote(_last(c).text), f"missing_{act}")


def r_hold(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    holds = [p for p, t in enumerate(c.agent) if Act.HOLD_REQUEST in t.labels]
    thanks = [p for p, t in enumerate(c.agent) if Act.THANK_WAITING in t.labels]
    if not holds and not thanks:
        o.na = True
        return
    window = max(1, int(spec.param("resume_within")))
    for p in holds:
        o.ok(c.agent[p].idx, c.quote(c.agent[p], Act.HOLD_REQUEST))
        after = [q for q in thanks if p < q <= p + window]
        if after:
            o.ok(c.agent[after[0]].idx, c.quote(c.agent[after[0]], Act.THANK_WAITING))
        else:
            due = c.agent[p + 1] if p + 1 < len(c.agent) else c.agent[p]
            o.breach(due.idx, turn_quote(due.text), "hold_no_thanks")
    # a silent hold: the agent comes back thanking for the wait after a long pause, never having asked
    gap_limit = float(spec.param("silent_hold_gap"))
    for q in thanks:
        t = c.agent[q]
        prev = c.turns[t.idx - 1] if t.idx > 0 else None
        if any(q - window <= p < q for p in holds) or not c.rec.timed or prev is None:
            continue
        if t.start is not None and prev.end is not None and t.start - prev.end >= gap_limit:
            due = c.agent[q - 1] if q > 0 else t
            o.breach(due.idx, turn_quote(due.text), "hold_not_asked")
    if not holds and not o.deductions:
        o.na = True


def r_breach(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    label = str(spec.param("label"))
    for t in c.agent:
        if label in t.labels:
            for s in c.spans(t, label):
                o.breach(t.idx, _clean(s.text) or turn_quote(t.text), f"breach_{label}")


# ---------------------------------------------------------------------------------------------- empathy
def r_empathy(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    act = str(spec.param("act"))
    if not c.agent:
        return
    if not c.upset or (act == Act.APOLOGISE and spec.param("inbound_only") and not c.inbound):
        o.na = True
        if not c.upset:
            o.note = ("note_not_upset", {})
        return
    positions = [p for p, t in enumerate(c.agent) if act in t.labels]
    if positions:
        t = c.agent[positions[0]]
        o.ok(t.idx, c.quote(t, act))
        return
    due = c.agent[c.empathy_due_pos if c.empathy_due_pos is not None else 0]
    o.deduct(spec.points, due.idx, turn_quote(due.text), f"missing_{act}")


def r_empathy_before_fix(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    fix = c.first_fix()
    if not c.upset or fix is None:
        o.na = True
        return
    e = c.first.get(Act.EMPATHISE)
    ok = e is not None and e < fix
    if e is not None and e == fix:
        es, fs = c.spans(c.agent[e], Act.EMPATHISE), c.fix_spans.get(fix) or []
        ok = bool(es and fs and es[0].start < fs[0].start)
    if ok:
        o.ok(c.agent[e].idx, c.quote(c.agent[e], Act.EMPATHISE))
    else:
        o.deduct(spec.points, c.agent[fix].idx, c.fix_quote(fix), "fix_before_empathy")


def r_mood(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    target = float(spec.param("calm_level"))
    last = _last(c)
    fs = c.final_state
    if fs is not None and c.initial_anger is not None:
        o.basis = "director"
        a0, a1 = c.initial_anger, int(fs.get("anger", c.initial_anger))
        if fs.get("end_reason") == "customer_hung_up" or c.rec.end_reason == "customer_hung_up":
            share = 1.0
            msg = "mood_hung_up"
        elif a1 <= target:
            share = 0.0
            msg = ""
        elif a0 > target:
            share = 1.0 - max(0.0, min(1.0, (a0 - a1) / (a0 - target)))
            msg = "mood_not_calmed"
        else:
            share = max(0.0, min(1.0, (a1 - target) / max(1.0, 100 - target)))
            msg = "mood_rose"
        if share <= 1e-9:
            o.ok(last.idx, "")
            return
        # cite the agent turn that upset the customer most (or the last one, if none did)
        worst, worst_rise = None, 0
        for t in c.agent:
            prev = c.prev_state(t)
            if t.state and prev and "anger" in t.state and "anger" in prev:
                rise = int(t.state["anger"]) - int(prev["anger"])
                if rise > worst_rise:
                    worst, worst_rise = t, rise
        if worst is not None:
            bad = c.spans(worst, Breach.FORBIDDEN_PHRASE) or c.spans(worst, Breach.BLAME_CUSTOMER)
            q = _clean(bad[0].text) if bad else turn_quote(worst.text)
            o.deduct(spec.points * share, worst.idx, q, msg, a0=a0, a1=a1, target=int(target), rise=worst_rise)
        else:
            o.deduct(spec.points * share, last.idx, turn_quote(last.text), msg, a0=a0, a1=a1, target=int(target), rise=0)
        return
    # no director: judge from the customer's own words at the end of the call
    o.basis = "conversation"
    o.note = ("note_conversation", {})
    tail = [t for t in c.customer if t.idx > c.agent[0].idx][-3:]
    if not tail:
        if c.upset:
            o.deduct(spec.points * 0.5, last.idx, turn_quote(last.text), "mood_conv_unclear")
        return
    upset_end = c.has("customer_upset", tail[-1]) or c.has("customer_reject", tail[-1])
    calm = next(((t, m) for t in reversed(tail) if (m := c.search("customer_thanks", t) or c.search("customer_accept", t))),
                None)
    if calm and not upset_end:
        o.ok(calm[0].idx, calm[1].group(0).strip())
        return
    if upset_end:
        o.deduct(spec.points, last.idx, turn_quote(last.text), "mood_conv_upset")
    elif c.upset:
        o.deduct(spec.points * 0.5, last.idx, turn_quote(last.text), "mood_conv_unclear")


# ---------------------------------------------------------------------------------------------- resolution
def _accept_turn(c: CallFacts, after_idx: int) -> TurnRec | None:
    for t in c.customer_after(after_idx):
        if c.has("customer_accept", t) and not c.has("customer_reject", t):
            return t
    return None


def r_goal(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    last = _last(c)
    fix = c.first_fix()
    fs = c.final_state
    if fs is not None:
        o.basis = "director"
        res = fs.get("resolution", "open")
        if res in ("accepted", "confirmed"):
            acc = next((t for t in c.agent if t.state and t.state.get("resolution") in ("accepted", "confirmed")), None)
            if acc is not None:
                pos = c.agent.index(acc)
                o.ok(acc.idx, c.fix_quote(pos) if pos in c.fix_spans else turn_quote(acc.text))
            return
        if res == "doubted" and c.fix_pos:
            p = c.fix_pos[-1]
            o.deduct(spec.points * (1 - float(spec.param("doubted_share"))), c.agent[p].idx, c.fix_quote(p), "goal_doubted")
        elif c.fix_pos:
            p = c.fix_pos[-1]
            o.deduct(spec.points * (1 - float(spec.param("offered_share"))), c.agent[p].idx, c.fix_quote(p), "goal_not_accepted")
        elif c.vague_pos:
            p = c.vague_pos[-1]
            o.deduct(spec.points * (1 - float(spec.param("offered_share")) / 2), c.agent[p].idx,
                     c.quote(c.agent[p], Act.OFFER), "goal_vague")
        else:
            o.deduct(spec.points, last.idx, turn_quote(last.text), "goal_none")
        return
    o.basis = "conversation"
    o.note = ("note_conversation", {})
    if fix is not None:
        acc = _accept_turn(c, c.agent[fix].idx)
        if acc is not None:
            m = c.search("customer_accept", acc)
            o.ok(c.agent[fix].idx, c.fix_quote(fix))
            o.ok(acc.idx, m.group(0).strip() if m else turn_quote(acc.text))
            return
        p = c.fix_pos[-1]
        o.deduct(spec.points * (1 - float(spec.param("offered_share"))), c.agent[p].idx, c.fix_quote(p), "goal_conv_not_accepted")
    else:
        o.deduct(spec.points, last.idx, turn_quote(last.text), "goal_none")


def r_next_steps(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    fix = c.first_fix()
    last = _last(c)
    if fix is None:
        o.deduct(spec.points, last.idx, turn_quote(last.text), "next_none")
        return
    for t in c.agent[fix:]:
        m = c.search("time_frame", t)
        if m:
            o.ok(t.idx, m.group(0).strip())
            return
    explained = next((t for t in c.agent[fix:] if Act.EXPLAIN in t.labels), None)
    if explained is not None:
        o.ok(explained.idx, c.quote(explained, Act.EXPLAIN))
        o.deduct(spec.points * (1 - float(spec.param("explain_share"))), c.agent[fix].idx, c.fix_quote(fix), "next_no_time")
    else:
        o.deduct(spec.points, c.agent[fix].idx, c.fix_quote(fix), "next_no_time")


def r_confirmed(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    last = _last(c)
    fs = c.final_state
    if fs is not None:
        o.basis = "director"
        res = fs.get("resolution", "open")
        if res == "confirmed":
            conf = next((t for t in c.turns if t.speaker == "customer" and t.state
                         and t.state.get("resolution") == "confirmed"), None)
            if conf is not None:
                o.ok(conf.idx, turn_quote(conf.text))
            return
        if res == "accepted":
            o.deduct(spec.points * (1 - float(spec.param("accepted_share"))), last.idx, turn_quote(last.text), "confirm_not_asked")
        else:
            o.deduct(spec.points, last.idx, turn_quote(last.text), "confirm_unresolved")
        return
    o.basis = "conversation"
    o.note = ("note_conversation", {})
    sat = [p for p, t in enumerate(c.agent) if Act.CONFIRM_SATISFACTION in t.labels]
    fix = c.first_fix()
    start = c.agent[sat[-1]].idx if sat else (c.agent[fix].idx if fix is not None else None)
    if start is not None:
        for t in c.customer_after(start):
            if c.has("customer_upset", t):
                continue
            m = c.search("customer_thanks", t) or c.search("customer_done", t)
            if m is None and not c.has("customer_reject", t):
                m = c.search("customer_accept", t)
            if m:
                o.ok(t.idx, m.group(0).strip())
                if not sat:
                    o.deduct(spec.points * (1 - float(spec.param("accepted_share"))), last.idx,
                             turn_quote(last.text), "confirm_not_asked")
                return
    o.deduct(spec.points, last.idx, turn_quote(last.text), "confirm_unresolved")


def r_objections(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    fs = c.final_state
    if fs is not None:
        o.basis = "director"
        raised = list(fs.get("objections_raised") or [])
        answered = set(fs.get("objections_answered") or [])
        if not raised:
            o.na = True
            return
        share = 1.0 / len(raised)
        for oid in raised:
            k = next((p for p, t in enumerate(c.agent) if t.state and oid in (t.state.get("objections_raised") or [])), None)
            if oid in answered:
                a = next((t for t in c.agent if t.state and oid in (t.state.get("objections_answered") or [])), None)
                if a is not None:
                    o.ok(a.idx, turn_quote(a.text))
                continue
            due = c.agent[k + 1] if k is not None and k + 1 < len(c.agent) else _last(c)
            o.deduct(spec.points * share, due.idx, turn_quote(due.text), "objection_open")
        return
    # no director: a concern the customer voices after the pitch, and the agent's next turn
    o.basis = "conversation"
    fix = c.first_fix()
    raised_turns = [t for t in c.customer if fix is not None and t.idx > c.agent[fix].idx
                    and c.has("customer_objection", t)
                    and not c.has("customer_accept", t)]
    if not raised_turns:
        o.na = True
        return
    o.note = ("note_conversation", {})
    share = 1.0 / len(raised_turns)
    for ct in raised_turns:
        reply = next((t for t in c.agent if t.idx > ct.idx), None)
        if reply is not None and _answers(c, reply):
            o.ok(reply.idx, turn_quote(reply.text))
        else:
            due = reply or _last(c)
            o.deduct(spec.points * share, due.idx, turn_quote(due.text), "objection_open")


_ANSWER_ACTS = frozenset({Act.EXPLAIN, Act.OFFER, Act.EMPATHISE, Act.APOLOGISE, Act.PARAPHRASE, "answer_objection"})
_NOT_ANSWERS = frozenset({Act.ASK_QUESTION, Act.CLOSE, Act.CONFIRM_SATISFACTION, Act.GREET, Act.HOLD_REQUEST})


def _answers(c: CallFacts, reply: TurnRec) -> bool:
    """Without the scenario's answer phrasings: the agent's next turn engages with the concern (explains,
    offers, acknowledges) or at least makes a statement of substance rather than moving on."""
    if _ANSWER_ACTS & reply.labels:
        return True
    if reply.labels - {Act.ASK_QUESTION} and reply.labels <= _NOT_ANSWERS:
        return False
    return _units(reply.text, c.lang) >= (15 if c.lang == "zh" else 8) and not (reply.labels <= {Act.ASK_QUESTION} and reply.labels)


def r_offer_policy(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    if c.scenario is None:
        o.na = True
        return
    any_offer = False
    for t in c.agent:
        if t.det is None:
            continue
        for h in t.det.hits:
            if h.label == Act.OFFER and h.ref:
                any_offer = True
                offer = c.scenario.offer(h.ref)
                if offer is not None and not offer.allowed:
                    o.breach(t.idx, _clean(h.spans[0].text) if h.spans else turn_quote(t.text), "offer_outside_policy")
    if not any_offer:
        o.na = True


# ---------------------------------------------------------------------------------------------- communication
def _dur(t: TurnRec) -> float | None:
    if t.start is None or t.end is None:
        return None
    d = t.end - t.start
    return d if d > 0 else None


def _units(text: str, lang: str) -> int:
    return len(_ZH_UNIT.findall(text)) if lang == "zh" else len(_WORD.findall(text))


def r_speech_rate(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    if not c.rec.timed:
        o.na = True
        o.note = ("note_untimed", {})
        return
    lo, hi = spec.param("zh_range") if c.lang == "zh" else spec.param("en_range")
    min_s = float(spec.param("min_seconds"))
    measured = 0
    for t in c.agent:
        d = _dur(t)
        if d is None or d < min_s:
            continue
        n = _units(t.text, c.lang)
        if n < 5:
            continue
        measured += 1
        rate = n / d * 60
        if rate > hi:
            o.breach(t.idx, turn_quote(t.text), "rate_fast", rate=round(rate), lo=lo, hi=hi)
        elif rate < lo:
            o.breach(t.idx, turn_quote(t.text), "rate_slow", rate=round(rate), lo=lo, hi=hi)
    if not measured:
        o.na = True


def r_talk_ratio(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    if not c.rec.timed:
        o.na = True
        o.note = ("note_untimed", {})
        return
    agent = sum(_dur(t) or 0 for t in c.agent)
    cust = sum(_dur(t) or 0 for t in c.customer)
    if agent + cust < float(spec.param("min_talk_seconds")):
        o.na = True
        return
    share = agent / (agent + cust)
    lo, hi = spec.param("range")
    if share > hi:
        longest = max(c.agent, key=lambda t: _dur(t) or 0)
        o.deduct(spec.points, longest.idx, turn_quote(longest.text), "talk_high", pct=round(share * 100), lo=round(lo * 100), hi=round(hi * 100))
    elif share < lo:
        first = c.agent[0]
        o.deduct(spec.points, first.idx, turn_quote(first.text), "talk_low", pct=round(share * 100), lo=round(lo * 100), hi=round(hi * 100))


def r_interruptions(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    tol = float(spec.param("overlap_tolerance"))
    for t in c.agent:
        prev = c.turns[t.idx - 1] if t.idx > 0 else None
        cut = t.interrupted or (prev is not None and prev.speaker == "customer" and prev.interrupted)
        if not cut and c.rec.director == "stored" and t.state is not None:
            before = c.prev_state(t)
            if before is not None and int(t.state.get("interruptions", 0)) > int(before.get("interruptions", 0)):
                cut = True
        if (not cut and c.rec.timed and prev is not None and prev.speaker == "customer" and t.start is not None
                and prev.end is not None and t.start < prev.end - tol):
            cut = True
        if cut:
            o.breach(t.idx, turn_quote(t.text), "interrupt")


def r_response_gap(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    if not c.rec.timed:
        o.na = True
        o.note = ("note_untimed", {})
        return
    max_gap = float(spec.param("max_gap"))
    last_agent: TurnRec | None = None
    for t in c.turns:
        if t.speaker == "agent":
            prev = c.turns[t.idx - 1] if t.idx > 0 else None
            on_hold = last_agent is not None and Act.HOLD_REQUEST in last_agent.labels
            if (prev is not None and prev.speaker == "customer" and prev.end is not None and t.start is not None
                    and not on_hold):
                gap = t.start - prev.end
                if gap > max_gap:
                    o.breach(t.idx, turn_quote(t.text), "gap", gap=round(gap, 1), max=max_gap)
            last_agent = t


TOPIC_NAMES = {
    "zh": {"order_number": "单号", "account_number": "账号", "phone": "电话号码", "name": "姓名", "dob": "出生日期",
           "address": "地址", "id_number": "证件号", "when": "时间", "details": "具体情况", "amount": "金额",
           "device": "设备", "tried": "已尝试的操作", "symptom": "故障现象", "usage": "使用情况",
           "current_plan": "当前套餐", "budget": "预算", "reason": "原因", "family": "家庭情况", "card": "卡片"},
    "en": {"order_number": "order number", "account_number": "account number", "phone": "phone number",
           "name": "name", "dob": "date of birth", "address": "address", "id_number": "ID number", "when": "when",
           "details": "what happened", "amount": "amount", "device": "device", "tried": "what was tried",
           "symptom": "symptoms", "usage": "usage", "current_plan": "current plan", "budget": "budget",
           "reason": "reason", "family": "family", "card": "card"},
}


def r_repeated(c: CallFacts, spec: CriterionSpec, o: Outcome) -> None:
    times = max(2, int(spec.param("times")))
    counts: dict[str, int] = {}
    for t in c.agent:
        if t.det is None or not ({Act.ASK_QUESTION, Act.VERIFY_IDENTITY} & t.labels):
            continue
        for topic in dict.fromkeys(t.det.topics):
            n = counts.get(topic, 0) + 1
            counts[topic] = n
            if n >= times:
                label = Act.ASK_QUESTION if Act.ASK_QUESTION in t.labels else Act.VERIFY_IDENTITY
                name = TOPIC_NAMES.get(c.lang, TOPIC_NAMES["en"]).get(topic, topic)
                o.breach(t.idx, c.quote(t, label), "repeated", topic=name, n=n)


# ---------------------------------------------------------------------------------------------- blockers
@dataclass(slots=True)
class BlockerHit:
    turn: int
    quote: str
    msg: str


def label_blocker(label: str, msg: str):
    """A blocker hit at every agent turn the shared detector gave `label` (quoting its words)."""
    def rule(c: CallFacts, spec: BlockerSpec) -> list[BlockerHit]:
        return [BlockerHit(t.idx, c.quote(t, label), msg) for t in c.agent if label in t.labels]
    return rule


@dataclass(frozen=True)
class BlockerDef:
    fn: Callable[[CallFacts, Any], list[BlockerHit]]
    params: dict[str, Any]
    doc: str = ""


# ---------------------------------------------------------------------------------------------- the registry
RULES: dict[str, RuleDef] = {
    "opening": RuleDef(r_opening, {"greet_share": 0.4, "within_turns": 1},
                       doc="greeting and self-identification (company, name or staff ID) in the first agent turn"),
    "verification": RuleDef(r_verification, {"late_share": 0.5, "without_scenario": True},
                            doc="identity verified before a fix is made or account details are given"),
    "required_act": RuleDef(r_required_act, {"act": "paraphrase", "where": "any", "last_n": 2, "late_share": 0.5},
                            doc="an act the call must contain; where: any | before_fix | after_fix | last"),
    "hold_etiquette": RuleDef(r_hold, {"resume_within": 2, "silent_hold_gap": 10.0}, per_breach=True,
                              doc="ask before holding, thank after"),
    "breach": RuleDef(r_breach, {"label": "forbidden_phrase"}, per_breach=True,
                      doc="each occurrence of a detector breach label (forbidden_phrase, filler, blame_customer)"),
    "empathy": RuleDef(r_empathy, {"act": "empathise", "inbound_only": True},
                       doc="an upset customer hears empathy / an apology (act: empathise | apologise)"),
    "empathy_before_fix": RuleDef(r_empathy_before_fix, {}, doc="empathy comes before the first fix when upset"),
    "mood_trajectory": RuleDef(r_mood, {"calm_level": 40}, doc="the customer's anger falls (director record)"),
    "goal_met": RuleDef(r_goal, {"doubted_share": 0.5, "offered_share": 0.25},
                        doc="the customer's goal met by an offer they accept (sales: the sale)"),
    "next_steps": RuleDef(r_next_steps, {"explain_share": 0.5}, doc="next steps with a time frame"),
    "customer_confirms": RuleDef(r_confirmed, {"accepted_share": 0.5}, doc="the customer confirms the problem is solved"),
    "objections": RuleDef(r_objections, {}, doc="every objection the customer raised is answered"),
    "offer_policy": RuleDef(r_offer_policy, {}, per_breach=True, doc="no offer outside the agent's authority"),
    "speech_rate": RuleDef(r_speech_rate, {"zh_range": [140, 260], "en_range": [110, 180], "min_seconds": 2.0},
                           per_breach=True, doc="chars (zh) or words (en) per minute per agent turn"),
    "talk_ratio": RuleDef(r_talk_ratio, {"range": [0.3, 0.7], "min_talk_seconds": 20.0},
                          doc="the agent's share of the talking time"),
    "interruptions": RuleDef(r_interruptions, {"overlap_tolerance": 0.3}, per_breach=True,
                             doc="the agent talks over the customer"),
    "response_gap": RuleDef(r_response_gap, {"max_gap": 8.0}, per_breach=True,
                            doc="silence before the agent answers (holds excepted)"),
    "repeated_questions": RuleDef(r_repeated, {"times": 3}, per_breach=True,
                                  doc="asking for the same thing N times"),
}

BLOCKER_RULES: dict[str, BlockerDef] = {
    "leak_account": BlockerDef(label_blocker(Breach.LEAK_ACCOUNT, "blocker_leak"), {},
                               doc="account details given to an unverified caller"),
    "abuse": BlockerDef(label_blocker(Breach.ABUSE, "blocker_abuse"), {}, doc="insulting or swearing at the customer"),
    "ask_secret": BlockerDef(label_blocker(Breach.ASK_SECRET, "blocker_ask_secret"), {},
                             doc="asking for a password, PIN, SMS/verification code or CVV"),
}
