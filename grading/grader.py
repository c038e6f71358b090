"""The grader: a CallRecord and a rubric in, a Scorecard out. Every point lost is a finding with its turn
and quote; every point kept is backed by evidence or marked not applicable."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from grading.messages import message
from grading.record import CallRecord
from grading.rubric import Rubric
from grading.rules import BLOCKER_RULES, RULES, CallFacts, Outcome, _dur, _units
from grading.scorecard import Scorecard

if TYPE_CHECKING:
    from grading.judge import LLMJudge


def _r(x: float) -> float:
    return round(x + 0.0, 2)


class _Crit:
    """A rubric criterion compiled for one language: plain attributes, parameters merged with the rule's
    defaults (the rules read `points` and `param()`; nothing here is validated again per call)."""

    __slots__ = ("id", "rule", "fn", "points", "cost", "params", "name", "tip", "dim")

    def __init__(self, spec: Any, dim_id: str, lang: str):
        rule = RULES[spec.rule]
        self.id, self.rule, self.fn, self.dim = spec.id, spec.rule, rule.fn, dim_id
        self.points = float(spec.points)
        self.cost = float(spec.breach_cost())
        self.params = {**rule.params, **spec.params}
        self.name, self.tip = spec.name.get(lang), spec.tip.get(lang)

    def param(self, key: str) -> Any:
        return self.params[key]


_plans: dict[tuple[int, str], tuple[Rubric, list[tuple[Any, list[_Crit]]]]] = {}


def _plan(rubric: Rubric, lang: str) -> list[tuple[Any, list[_Crit]]]:
    key = (id(rubric), lang)
    hit = _plans.get(key)
    if hit is not None and hit[0] is rubric:
        return hit[1]
    plan = [(dim, [_Crit(spec, dim.id, lang) for spec in dim.criteria]) for dim in rubric.dimensions]
    if len(_plans) > 256:
        _plans.clear()
    _plans[key] = (rubric, plan)  # the rubric is kept alive with its plan: its id cannot be reused meanwhile
    return plan


def _score_criterion(c: CallFacts, spec: _Crit, lang: str, findings: list[dict]) -> dict:
    o = Outcome()
    if not c.agent:
        o.deduct(spec.points, None, "", "no_agent")
    else:
        spec.fn(c, spec, o)
    remaining = spec.points
    for d in o.deductions:
        if d.points is None:  # a breach: the rubric's price, until the criterion is at zero
            cost = min(spec.cost, remaining)
        else:
            cost = min(float(d.points), remaining)
        cost = _r(cost)
        remaining = _r(remaining - cost)
        text = message(d.msg, lang, **d.kw)
        if cost <= 0 and d.points is None:
            text += message("cap_reached", lang)
        elif cost <= 0:
            continue  # a share that rounds to nothing is not a finding
        findings.append({
            "rule": spec.rule, "criterion": spec.id, "dimension": spec.dim, "points": -cost, "turn": d.turn,
            "quote": d.quote, "message": text, "tip": spec.tip, "source": d.source,
        })
    score = remaining if remaining > 0 else 0.0
    if o.na and not o.deductions:
        status = "n/a"
    elif score >= spec.points - 1e-9:
        status = "met"
    elif score <= 1e-9:
        status = "missed"
    else:
        status = "partial"
    evidence = []
    if o.evidence:
        seen: set[tuple[int, str]] = set()
        for turn, quote in o.evidence:
            if quote and (turn, quote) not in seen:
                seen.add((turn, quote))
                evidence.append({"turn": turn, "quote": quote})
    return {
        "id": spec.id, "rule": spec.rule, "name": spec.name, "dimension": spec.dim, "max": spec.points,
        "score": _r(score), "status": status, "evidence": evidence[:5],
        "note": message(o.note[0], lang, **o.note[1]) if o.note else None, "basis": o.basis,
    }


def _measures(c: CallFacts) -> dict:
    rec = c.rec
    m: dict[str, Any] = {"agent_turns": len(c.agent), "customer_turns": len(c.customer)}
    if rec.timed:
        timed = [(t, _dur(t)) for t in c.agent if _dur(t)]
        secs = sum(d for _, d in timed)
        if secs > 0:
            m["speech_rate"] = round(sum(_units(t.text, c.lang) for t, _ in timed) / secs * 60, 1)
        a = sum(_dur(t) or 0 for t in c.agent)
        b = sum(_dur(t) or 0 for t in c.customer)
        if a + b > 0:
            m["talk_ratio"] = round(a / (a + b), 3)
        gaps = [t.start - c.turns[t.idx - 1].end for t in c.agent
                if t.idx > 0 and c.turns[t.idx - 1].speaker == "customer" and t.start is not None
                and c.turns[t.idx - 1].end is not None]
        if gaps:
            m["max_response_gap"] = round(max(gaps), 2)
    if c.final_state is not None:
        angers = [int(t.state["anger"]) for t in c.turns if t.state and "anger" in t.state]
        m["anger_start"] = c.initial_anger
        m["anger_end"] = int(c.final_state.get("anger", 0))
        m["anger_peak"] = max(angers + ([c.initial_anger] if c.initial_anger is not None else [])) if angers else None
        m["resolution"] = c.final_state.get("resolution")
        m["interruptions"] = int(c.final_state.get("interruptions", 0))
    m["end_reason"] = rec.end_reason
    return m


def grade_record(rec: CallRecord, rubric: Rubric, judge: LLMJudge | None = None,
                 graded_at: datetime | None = None) -> Scorecard:
    """Score one call against a rubric (and, when given, let the LLM judge move judged criteria in a band)."""
    data = score(rec, rubric)
    if judge is not None:
        judge.apply(rec, rubric, data)
        _totals(data, rubric)
    data["graded_at"] = (graded_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return Scorecard.model_validate(data)


def score(rec: CallRecord, rubric: Rubric) -> dict:
    """The rule-based scorecard as a plain dict (Scorecard's shape)."""
    lang = rec.language
    c = CallFacts(rec)
    findings: list[dict] = []
    dims = []
    for dim, plan in _plan(rubric, lang):
        crits = [_score_criterion(c, spec, lang, findings) for spec in plan]
        dims.append({"id": dim.id, "name": dim.name.get(lang), "max": float(dim.weight),
                     "score": _r(sum(x["score"] for x in crits)), "criteria": crits})
    blockers = []
    for b in rubric.blockers:
        for hit in BLOCKER_RULES[b.rule].fn(c, b):
            msg = message(hit.msg, lang)
            tip = b.tip.get(lang)
            blockers.append({"id": b.id, "rule": b.rule, "name": b.name.get(lang), "turn": hit.turn,
                             "quote": hit.quote, "message": msg, "tip": tip})
            findings.append({"rule": b.rule, "criterion": b.id, "dimension": "compliance", "points": 0.0,
                             "turn": hit.turn, "quote": hit.quote, "message": msg, "tip": tip, "blocker": True})
    findings.sort(key=lambda f: (f["turn"] if f["turn"] is not None else -1))
    notes = []
    without = rec.scenario is None
    if without:
        notes.append(message("judged_without_scenario", lang))
    if "director_ended_early" in rec.notes:
        notes.append(message("director_ended_early", lang))
    data = {
        "rubric_id": rubric.id, "rubric_version": rubric.version, "rubric_name": rubric.name.get(lang),
        "language": lang, "scenario_id": rec.scenario_id, "scenario_title": rec.scenario_title,
        "session_id": rec.session_id, "trainee": rec.trainee, "call_date": rec.date, "source": rec.source,
        "pass_mark": float(rubric.pass_mark), "blockers": blockers, "dimensions": dims, "findings": findings,
        "measures": _measures(c), "judged_without_scenario": without, "notes": notes,
        "llm_judge": {"enabled": False, "used": False},
        "transcript": [{"turn": t.idx, "speaker": t.speaker, "text": t.text, "start": t.start, "end": t.end,
                        "interrupted": t.interrupted} for t in rec.turns],
    }
    _totals(data, rubric)
    return data


def _totals(data: dict, rubric: Rubric) -> None:
    for d in data["dimensions"]:
        d["score"] = _r(sum(x["score"] for x in d["criteria"]))
    total = _r(sum(d["score"] for d in data["dimensions"]))
    data["total"] = min(100.0, max(0.0, total))
    data["passed"] = bool(total >= rubric.pass_mark - 1e-9 and not data["blockers"])
