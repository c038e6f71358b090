"""The optional LLM judge: it moves judged criteria only within the band, only with a quote that is in the
transcript, runs N times and reports the spread. A fake client tests the logic; a real OpenAI-compatible
server is used when CALLCOACH_TEST_LLM_URL is set."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from grading.grader import grade_record
from grading.judge import LLMJudge, find_quote, parse_reply
from grading.record import load_transcript_file, record_from_transcript
from grading.rubric import default_rubric
from tests.grading.calib import CALIBRATION_DIR

NO_EMPATHY = CALIBRATION_DIR / "parcel-zh" / "no_empathy.json"


class FakeClient:
    """Quacks like openai.OpenAI: chat.completions.create returns the scripted replies in turn."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.calls = []
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    def _create(self, **kw):
        self.calls.append(kw)
        reply = self.replies[(len(self.calls) - 1) % len(self.replies)]
        if isinstance(reply, Exception):
            raise reply
        content = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        return SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=content))])


def J(*items):
    return {"judgements": [dict(zip(("criterion", "adjust", "turn", "quote", "reason"), it)) for it in items]}


def grade(replies, runs=3, path=NO_EMPATHY):
    rec = record_from_transcript(load_transcript_file(path))
    client = FakeClient(replies)
    card = grade_record(rec, default_rubric(), judge=LLMJudge(client, "fake-model", runs=runs))
    return card, client


def crit(card, cid):
    return next(c for d in card.dimensions for c in d.criteria if c.id == cid)


def test_rule_scores_without_the_judge_record_it_was_not_used():
    rec = record_from_transcript(load_transcript_file(NO_EMPATHY))
    card = grade_record(rec, default_rubric())
    assert card.llm_judge.enabled is False and card.llm_judge.used is False


def test_judge_moves_within_the_band_with_a_verified_quote():
    base, _ = grade([J()], runs=1)
    goal0 = crit(base, "goal").score
    # the judge says "far too harsh" (+1) on the goal: it may add at most band x 12 = 3 points
    card, client = grade([J(("goal", 1.0, 11, "明天中午前送到", "方案具体且有时限"))] * 3)
    assert len(client.calls) == 3
    goal = crit(card, "goal")
    assert goal.judged and goal.score == pytest.approx(min(goal.max, goal0 + 3.0))
    jc = next(x for x in card.llm_judge.criteria if x.criterion == "goal")
    assert jc.band == 3.0 and jc.runs == 3 and jc.spread == 0 and jc.deltas == [3.0, 3.0, 3.0]
    f = next(f for f in card.findings if f.rule == "llm_judge")
    assert f.turn == 11 and f.quote == "明天中午前送到" and f.points == pytest.approx(goal.score - goal0)
    assert card.llm_judge.used and card.llm_judge.model == "fake-model"
    from grading.report import render_html

    page = render_html(card)
    assert "明天中午前送到" in page and "spread" in page and "评审模型" in page
    # a judged criterion still explains its points: max + findings = score
    lost = sum(x.points for x in card.findings if x.criterion == "goal")
    assert goal.score == pytest.approx(goal.max + lost)


def test_judgements_out_of_band_are_clamped_and_unjudged_criteria_are_ignored():
    card, _ = grade([J(("acknowledge", -50, 5, "请问具体是什么情况呢", "冷淡"),
                       ("forbidden_phrases", -1, 5, "请问", "not judged"),
                       ("no_such", 1, 5, "请问", "?"))], runs=1)
    ack = crit(card, "acknowledge")
    assert ack.score == 0  # already missed; the judge cannot take it below zero
    assert not crit(card, "forbidden_phrases").judged
    assert not any(f.rule == "llm_judge" and f.criterion == "forbidden_phrases" for f in card.findings)


def test_a_quote_not_in_the_transcript_is_ignored():
    base, _ = grade([J()], runs=1)
    card, _ = grade([J(("goal", -1, 11, "我们会全额赔偿您的损失", "编造的证据"))] * 2, runs=2)
    assert crit(card, "goal").score == crit(base, "goal").score
    jc = next(x for x in card.llm_judge.criteria if x.criterion == "goal")
    assert jc.rejected == 2 and jc.runs == 0 and not card.llm_judge.used


def test_spread_and_median_over_runs():
    base, _ = grade([J()], runs=1)
    replies = [J(("next_steps", -1.0, 11, "明天中午前送到", "a")),
               J(("next_steps", 0.0, 11, "明天中午前送到", "b")),
               J(("next_steps", -0.2, 11, "明天 中午前送到", "c"))]  # whitespace differs: still the same words
    card, _ = grade(replies, runs=3)
    jc = next(x for x in card.llm_judge.criteria if x.criterion == "next_steps")
    band = 0.25 * 5
    assert jc.deltas == [pytest.approx(-band), 0.0, pytest.approx(-0.2 * band)]
    assert jc.spread == pytest.approx(band)
    assert jc.applied == pytest.approx(-0.2 * band, abs=0.011)  # the median
    assert crit(card, "next_steps").score == pytest.approx(crit(base, "next_steps").score + jc.applied, abs=0.011)
    f = next(f for f in card.findings if f.rule == "llm_judge")
    assert f.quote == "明天中午前送到"


def test_failures_leave_the_rule_scores_alone():
    base, _ = grade([J()], runs=1)
    card, _ = grade([ConnectionError("refused"), "not json at all", "{\"judgements\": 5}"], runs=3)
    assert card.total == base.total
    assert card.llm_judge.enabled and not card.llm_judge.used
    assert len(card.llm_judge.errors) == 1 and "ConnectionError" in card.llm_judge.errors[0]


def test_reply_parsing_and_quote_search():
    assert parse_reply("```json\n{\"judgements\": [{\"criterion\": \"goal\"}]}\n```") == [{"criterion": "goal"}]
    assert parse_reply("") == [] and parse_reply("{oops") == []
    rec = record_from_transcript(load_transcript_file(NO_EMPATHY))
    assert find_quote(rec, "明天中午前送到", 11) == (11, "明天中午前送到")
    assert find_quote(rec, "“明天中午前送到”", 3) == (11, "明天中午前送到")  # wrong turn given: found where it is
    assert find_quote(rec, "x", 0) is None and find_quote(rec, "", 0) is None


LLM_URL = os.environ.get("CALLCOACH_TEST_LLM_URL")


@pytest.mark.llm
@pytest.mark.skipif(not LLM_URL, reason="set CALLCOACH_TEST_LLM_URL to an OpenAI-compatible server")
def test_real_llm_judge():
    from openai import OpenAI

    model = os.environ.get("CALLCOACH_TEST_LLM_MODEL", "qwen2.5-coder-1.5b-instruct")
    client = OpenAI(base_url=LLM_URL, api_key="not-needed", timeout=120, max_retries=0)
    rec = record_from_transcript(load_transcript_file(NO_EMPATHY))
    rubric = default_rubric()
    base = grade_record(rec, rubric)
    card = grade_record(rec, rubric, judge=LLMJudge(client, model, runs=2, max_tokens=400, timeout_s=120))
    info = card.llm_judge
    assert info.enabled and info.runs == 2 and not info.errors, info.errors
    texts = {t.turn: t.text for t in card.transcript}
    for d_base, d in zip(base.dimensions, card.dimensions):
        for c_base, c in zip(d_base.criteria, d.criteria):
            spec = rubric.criterion(c.id)
            if not spec.judge:
                assert c.score == c_base.score
            else:  # never more than the band away from the rules
                assert abs(c.score - c_base.score) <= rubric.judge.band * c.max + 1e-6
    for f in card.findings:
        if f.rule == "llm_judge":
            assert f.quote in texts[f.turn]  # every judgement that counted quotes real words
