"""The optional LLM judge (off by default): a second opinion on the criteria a rubric marks `judge: true`.

Rules stay the basis of every score. The judge may only move a judged criterion within a band
(rubric.judge.band x its points), every judgement must quote words that are really in the transcript
(otherwise it is ignored), and it runs N times: the median of the valid runs is applied and the spread
is reported, so a teacher can see how sure it was. Any OpenAI-compatible server works (llama.cpp,
vLLM, a cloud API); the client is injected, so tests can use a fake one.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from typing import TYPE_CHECKING, Any

from grading.messages import message

if TYPE_CHECKING:
    from grading.record import CallRecord
    from grading.rubric import Rubric
    from server.settings import Settings

log = logging.getLogger("callcoach.grading")
_WS = re.compile(r"\s+")
_JSON = re.compile(r"\{.*\}", re.DOTALL)

SYSTEM = (
    "You are a senior quality-assurance reviewer in a call centre. You review one call transcript and give a "
    "second opinion on a few criteria that rules already scored. For each criterion you return an adjustment "
    "between -1 (the rule score is far too generous) and +1 (far too harsh); 0 means the rule score is right. "
    "Every judgement MUST quote the exact words (copied character for character, 2 to 60 characters) from ONE "
    "turn of the transcript that support it, and give that turn's number. Answer with JSON only, no prose:\n"
    '{"judgements": [{"criterion": "<id>", "adjust": <number -1..1>, "turn": <int>, "quote": "<exact words>", '
    '"reason": "<one short sentence in the call\'s language>"}]}'
)


def _norm(s: str) -> str:
    return _WS.sub("", s).strip("“”\"'「」『』 ").lower()


def _transcript_text(rec: CallRecord, limit: int = 120) -> str:
    lines = []
    turns = rec.turns if len(rec.turns) <= limit else rec.turns[:limit // 2] + rec.turns[-limit // 2:]
    for t in turns:
        who = ("坐席" if rec.language == "zh" else "Agent") if t.speaker == "agent" else (
            "客户" if rec.language == "zh" else "Customer")
        lines.append(f"[{t.idx}] {who}: {t.text[:600]}")
    return "\n".join(lines)


def find_quote(rec: CallRecord, quote: str, turn: Any) -> tuple[int, str] | None:
    """The turn whose words contain the quote (the stated turn first) and the exact words as written there
    (whitespace and case may differ in the model's copy); None if the quote is not in the transcript."""
    q = _norm(quote or "")
    if len(q) < 2:
        return None
    pattern = re.compile(r"\s*".join(re.escape(ch) for ch in q), re.IGNORECASE)
    order = []
    if isinstance(turn, int) and not isinstance(turn, bool) and 0 <= turn < len(rec.turns):
        order.append(rec.turns[turn])
    order += [t for t in rec.turns if not order or t is not order[0]]
    for t in order:
        m = pattern.search(t.text)
        if m:
            return t.idx, m.group(0)
    return None


def parse_reply(text: str) -> list[dict[str, Any]]:
    """The judgements in a model reply (tolerates code fences and prose around the JSON)."""
    if not text:
        return []
    m = _JSON.search(text)
    if not m:
        return []
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError:
        return []
    items = data.get("judgements") if isinstance(data, dict) else None
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


class LLMJudge:
    def __init__(self, client: Any, model: str, runs: int = 3, temperature: float = 0.7, max_tokens: int = 600,
                 timeout_s: float = 60.0):
        self.client = client
        self.model = model
        self.runs = max(1, runs)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings, base_url: str | None = None, runs: int | None = None) -> LLMJudge | None:
        url = base_url or settings.llm_base_url
        if not url:
            return None
        from openai import OpenAI

        client = OpenAI(base_url=url, api_key=settings.llm_api_key or "not-needed", timeout=60.0, max_retries=0)
        return cls(client, settings.llm_model, runs=runs or settings.llm_judge_runs)

    def _prompt(self, rec: CallRecord, rubric: Rubric, data: dict, judged: list[dict]) -> list[dict[str, str]]:
        lang = rec.language
        crit_lines = []
        for c in judged:
            spec = rubric.criterion(c["id"])
            what = spec.tip.get(lang) if spec else ""
            crit_lines.append(f'- {c["id"]} ("{c["name"]}"): rule score {c["score"]:g} of {c["max"]:g}. Good practice: {what}')
        user = (
            f"Call language: {'Chinese' if lang == 'zh' else 'English'}.\n"
            f"Criteria to review:\n" + "\n".join(crit_lines) + "\n\nTranscript (turn numbers in brackets):\n"
            + _transcript_text(rec)
        )
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _ask(self, messages: list[dict[str, str]], run: int) -> str:
        resp = self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=self.temperature, max_tokens=self.max_tokens,
            seed=run, timeout=self.timeout_s,
        )
        return resp.choices[0].message.content or ""

    def apply(self, rec: CallRecord, rubric: Rubric, data: dict) -> None:
        """Run the judge N times and move the judged criteria of `data` (a scorecard dict) within the band."""
        lang = rec.language
        band_share = rubric.judge.band
        judged = [c for d in data["dimensions"] for c in d["criteria"]
                  if (spec := rubric.criterion(c["id"])) is not None and spec.judge and c["status"] != "n/a"]
        info: dict[str, Any] = {"enabled": True, "used": False, "model": self.model, "runs": self.runs,
                                "band": band_share, "criteria": [], "errors": []}
        data["llm_judge"] = info
        if not judged or not any(t.speaker == "agent" for t in rec.turns):
            return
        messages = self._prompt(rec, rubric, data, judged)
        by_id = {c["id"]: c for c in judged}
        votes: dict[str, list[tuple[float, int, str, str]]] = {cid: [] for cid in by_id}
        rejected: dict[str, int] = {cid: 0 for cid in by_id}
        answered = 0
        for run in range(self.runs):
            try:
                reply = self._ask(messages, run)
            except Exception as exc:  # network, timeout, server error: the rule scores stand
                info["errors"].append(f"run {run + 1}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            answered += 1
            seen: set[str] = set()
            for j in parse_reply(reply):
                cid = j.get("criterion")
                if cid not in by_id or cid in seen:
                    continue
                try:
                    adjust = float(j.get("adjust"))
                except (TypeError, ValueError):
                    rejected[cid] += 1
                    continue
                if adjust != adjust:  # NaN
                    rejected[cid] += 1
                    continue
                found = find_quote(rec, str(j.get("quote") or ""), j.get("turn"))
                if found is None:
                    rejected[cid] += 1  # no evidence in the transcript: ignored
                    continue
                seen.add(cid)
                adjust = max(-1.0, min(1.0, adjust))
                votes[cid].append((adjust, found[0], found[1], str(j.get("reason") or "")[:300]))
        if answered == 0:
            return
        for cid, c in by_id.items():
            spec = rubric.criterion(cid)
            band = round(band_share * c["max"], 2)
            vs = votes[cid]
            entry = {"criterion": cid, "band": band, "runs": len(vs), "deltas": [round(v[0] * band, 2) for v in vs],
                     "spread": 0.0, "applied": 0.0, "rejected": rejected[cid]}
            info["criteria"].append(entry)
            if not vs:
                continue
            entry["spread"] = round(max(entry["deltas"]) - min(entry["deltas"]), 2)
            if len(vs) < rubric.judge.min_valid_runs:
                continue
            info["used"] = True
            median = statistics.median(v[0] for v in vs)
            new = max(0.0, min(c["max"], c["score"] + median * band))
            applied = round(new - c["score"], 2)
            entry["applied"] = applied
            if abs(applied) < 0.01:
                continue
            # the quote of the run closest to the median is the evidence shown
            best = min(vs, key=lambda v: abs(v[0] - median))
            c["score"] = round(c["score"] + applied, 2)
            c["judged"] = True
            c["status"] = "met" if c["score"] >= c["max"] - 1e-9 else ("missed" if c["score"] <= 1e-9 else "partial")
            data["findings"].append({
                "rule": "llm_judge", "criterion": cid, "dimension": c["dimension"], "points": applied,
                "turn": best[1], "quote": best[2], "message": message("llm_judge", lang, reason=best[3] or "-"),
                "tip": spec.tip.get(lang) if spec else "", "source": "llm_judge",
            })
        data["findings"].sort(key=lambda f: (f["turn"] if f["turn"] is not None else -1))
