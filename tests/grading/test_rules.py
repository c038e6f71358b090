"""Single rules on small hand-made calls: each deduction cites the right turn with the right words."""

from __future__ import annotations

import json

import pytest

from grading.report import render_html
from grading.service import grade_transcript
from personas.library import load_library


def call(turns, language="zh", scenario=None, direction=None):
    doc = {"language": language, "turns": [dict(zip(("speaker", "text"), t[:2]), **(t[2] if len(t) > 2 else {}))
                                          for t in turns]}
    if scenario:
        doc["scenario"] = scenario
    if direction:
        doc["direction"] = direction
    return grade_transcript(doc)


def findings(sc, criterion):
    return [f for f in sc.findings if f.criterion == criterion]


def crit(sc, criterion):
    return next(c for d in sc.dimensions for c in d.criteria if c.id == criterion)


A, C = "agent", "customer"
OPEN = "您好，顺达快递客服中心，工号3021，很高兴为您服务。"
CLOSE = "感谢您的来电，祝您生活愉快，再见。"


def test_missing_opening_is_cited_at_the_first_agent_turn_and_missing_close_at_the_last():
    sc = call([(C, "我的快递丢了。"), (A, "说吧，什么事？"), (C, "快递丢了。"), (A, "行，我记下了。")])
    op = findings(sc, "opening")
    assert {f.turn for f in op} == {1} and sum(f.points for f in op) == -5
    assert all(f.quote == "说吧，什么事？" for f in op)
    cl = findings(sc, "closing")
    assert cl[0].turn == 3 and cl[0].quote == "行，我记下了。"


def test_breaches_cost_per_breach_up_to_the_cap():
    sc = call([(A, OPEN), (C, "怎么回事？"), (A, "这是规定，我不知道。"), (C, "什么？"), (A, "不归我们管。"), (C, "……"), (A, CLOSE)])
    fp = findings(sc, "forbidden_phrases")
    assert [f.quote for f in fp] == ["这是规定", "不知道", "不归我们管"]
    assert [f.points for f in fp] == [-3, -3, 0]  # capped at the criterion's 6 points
    assert "已扣满" in fp[-1].message
    assert crit(sc, "forbidden_phrases").score == 0


def test_hold_without_thanks_is_cited_where_the_thanks_was_due():
    sc = call([(A, OPEN), (C, "我的快递呢？"), (A, "需要为您查询一下，请您稍等一两分钟，可以吗？"), (C, "好。"),
               (A, "查到了，快件明天送到。"), (C, "好的。"), (A, CLOSE)])
    h = findings(sc, "hold")
    assert len(h) == 1 and h[0].turn == 4 and h[0].quote == "查到了，快件明天送到。"


def test_repeated_question_third_time():
    sc = call([(A, OPEN), (C, "我的快递没到。"), (A, "请问您的订单号是多少？"), (C, "SD123。"),
               (A, "请问订单号是多少？"), (C, "我说了SD123。"), (A, "麻烦再说一下订单号是多少？"), (C, "……"), (A, CLOSE)])
    r = findings(sc, "repeated_questions")
    assert len(r) == 1 and r[0].turn == 6 and "订单号" in r[0].quote and r[0].points == -3


def _timed(turns):
    out, t = [], 0.0
    for sp, text, dur, gap in turns:
        out.append((sp, text, {"start": round(t + gap, 2), "end": round(t + gap + dur, 2)}))
        t += gap + dur
    return out


def test_timing_measures_rate_gap_and_overlap():
    turns = _timed([
        (C, "喂，我的快递到底什么时候到，已经晚了三天了。", 5.0, 0.0),
        (A, OPEN, 6.0, 0.8),
        (C, "我的快件三天没动了，你们到底管不管？", 5.0, 0.8),
        (A, "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？", 2.0, 12.0),  # 27 chars in 2 s; 12 s silence
        (C, "王建国，尾号5678。", 3.0, 0.8),
        (A, "好的王先生。", 1.5, -1.0),  # starts before the customer finished
        (C, "嗯。", 0.6, 0.5),
        (A, CLOSE, 4.0, 0.8),
    ])
    sc = call(turns)
    assert [f.turn for f in findings(sc, "speech_rate")] == [3]
    assert "字/分钟" in findings(sc, "speech_rate")[0].message
    gaps = findings(sc, "response_gap")
    assert [f.turn for f in gaps] == [3] and "12" in gaps[0].message
    assert [f.turn for f in findings(sc, "interruptions")] == [5]
    assert sc.measures.speech_rate and sc.measures.talk_ratio and sc.measures.max_response_gap == pytest.approx(12.0)


def test_untimed_calls_have_no_timing_deductions():
    sc = call([(A, OPEN), (C, "喂？"), (A, CLOSE)])
    for cid in ("speech_rate", "talk_ratio", "response_gap"):
        c = crit(sc, cid)
        assert c.status == "n/a" and c.score == c.max and c.note


def test_interrupted_flag_on_the_customer_turn_cites_the_agent_turn_that_cut_in():
    sc = call([(A, OPEN), (C, "我的快递已经", {"interrupted": True}), (A, "请问您的订单号是多少？"), (C, "SD1。"), (A, CLOSE)])
    f = findings(sc, "interruptions")
    assert len(f) == 1 and f[0].turn == 2 and f[0].quote == "请问您的订单号是多少？"


def test_no_agent_turns_scores_zero_with_a_finding_per_criterion():
    sc = call([(C, "喂？有人吗？"), (C, "喂？")])
    assert sc.total == 0 and not sc.passed
    assert all(f.turn is None for f in sc.findings)
    assert {f.criterion for f in sc.findings} == {c.id for d in sc.dimensions for c in d.criteria}


def test_offer_outside_policy_is_a_finding():
    sc = call([(C, "我的快递晚了三天！"), (A, OPEN), (C, "你说怎么办？"),
               (A, "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？"), (C, "王建国，5678。"),
               (A, "非常抱歉，我理解您着急的心情。我们可以赔偿礼物的价值。"), (C, "行。"), (A, CLOSE)],
              scenario="parcel-late-angry")
    p = findings(sc, "policy")
    assert len(p) == 1 and p[0].turn == 5 and "赔偿" in p[0].quote


def test_blockers_fail_whatever_the_total():
    base = [(A, "Good morning, thank you for calling SwiftPost, my name is Sam, agent ID 3021."),
            (C, "Hi, I'm calling about my parcel."),
            (A, "Your delivery address is 88 Caoxi North Road."),
            (C, "Yes."),
            (A, "Thank you for calling, goodbye.")]
    sc = call(base, language="en")
    assert [b.rule for b in sc.blockers] == ["leak_account"] and not sc.passed
    assert sc.blockers[0].turn == 2 and "Your delivery address is" in sc.blockers[0].quote
    sc = call(base[:2] + [(A, "Shut up and listen.")] + base[3:], language="en")
    assert [b.rule for b in sc.blockers] == ["abuse"] and sc.blockers[0].quote.lower() == "shut up"
    sc = call(base[:2] + [(A, "To verify you, what's your PIN?")] + base[3:], language="en")
    assert [b.rule for b in sc.blockers] == ["ask_secret"] and sc.blockers[0].quote == "what's your PIN"
    assert not sc.passed and sc.blockers[0].turn == 2


def test_the_scorecard_holds_no_unrevealed_facts():
    """The scorecard goes to the trainee: nothing the customer kept to themselves may appear in it."""
    scenario = load_library().get("parcel-late-angry")
    sc = call([(C, "喂！我的快递到底还送不送了？"), (A, OPEN), (C, "你说呢？"), (A, "好的，我们会处理的。"), (C, "……"),
               (A, CLOSE)], scenario="parcel-late-angry")
    blob = json.dumps(sc.model_dump(mode="json"), ensure_ascii=False) + render_html(sc)
    for secret in scenario.persona.secret_strings("zh") + scenario.persona.secret_strings("en"):
        assert secret not in blob, secret
    for fact in scenario.persona.facts:
        assert fact.id not in blob
    for word in ("acceptable", "unlock", "objections_raised", "revealed"):
        assert word not in blob


def test_outbound_apology_not_required_and_calm_customer_needs_no_empathy():
    sc = call([(A, "Good afternoon, this is Emma calling from Northwind Mobile, agent ID 4417."), (C, "Hi, what's it about?"),
               (A, "I'd recommend our Unlimited Plus plan for just five pounds more per month."), (C, "Okay, sounds good."),
               (A, "Thank you for your time, goodbye.")], language="en", direction="outbound")
    for cid in ("acknowledge", "apology", "empathy_first"):
        assert crit(sc, cid).status == "n/a"
