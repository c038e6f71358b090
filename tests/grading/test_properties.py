"""Property tests: any transcript, however odd, gives a valid scorecard or a clear error, never a crash."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.record import TranscriptError, parse_transcript_text
from grading.report import render_html, render_text
from grading.scorecard import Scorecard
from grading.service import grade_transcript

PHRASES = [
    "您好，顺达快递客服中心，工号3021，很高兴为您服务。", "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？",
    "非常抱歉，我完全理解您的心情。", "这是规定，我不知道。", "我马上为您安排免费加急重发，明天送到。", "请问还有其他可以帮您的吗？",
    "感谢您的来电，再见。", "您的收货地址是上海市徐汇区漕溪北路88号。", "滚！", "嗯嗯，搞定。", "请您稍等。", "感谢您的耐心等待。",
    "Hello, thank you for calling SwiftPost, my name is Sam.", "I'm so sorry, I understand how frustrating this is.",
    "That's the policy, I don't know.", "I'll arrange a free express reship tomorrow.", "Is there anything else?",
    "Goodbye.", "Your balance is 300 dollars.", "you idiot", "May I put you on hold?", "Thank you for holding.",
    "😡😡😡", "🙂 好的 ok", "?!?!", "", "   ", "<script>alert(1)</script>", "a" * 300, "\u200b\u202e反转",
    "订单号订单号订单号是多少？", "İstanbul ǅ ß ﬃ",
]
text_st = st.one_of(st.sampled_from(PHRASES), st.text(max_size=80),
                    st.lists(st.sampled_from(PHRASES), min_size=1, max_size=3).map("".join))
time_st = st.one_of(st.none(), st.floats(min_value=0, max_value=3600, allow_nan=False, allow_infinity=False))
turn_st = st.fixed_dictionaries(
    {"speaker": st.sampled_from(["agent", "customer", "坐席", "Customer"]), "text": text_st},
    optional={"start": time_st, "end": time_st, "interrupted": st.booleans()},
)
doc_st = st.fixed_dictionaries(
    {"turns": st.lists(turn_st, max_size=40)},
    optional={"language": st.sampled_from(["zh", "en"]),
              "scenario": st.sampled_from(["parcel-late-angry", "no-such-scenario"]),
              "direction": st.sampled_from(["inbound", "outbound"])},
)


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.chunks.append(data)


def check(card: Scorecard) -> None:
    again = Scorecard.model_validate_json(card.model_dump_json())
    assert again.total == card.total
    assert 0 <= card.total <= 100
    assert card.passed == (card.total >= card.pass_mark and not card.blockers)
    texts = {t.turn: t.text for t in card.transcript}
    for d in card.dimensions:
        assert 0 <= d.score <= d.max
        for c in d.criteria:
            assert 0 <= c.score <= c.max
            lost = sum(f.points for f in card.findings if f.criterion == c.id)
            assert c.score == pytest.approx(c.max + lost, abs=0.011)
    for f in card.findings:
        if f.turn is not None:
            assert f.quote in texts[f.turn]
    page = render_html(card)
    parser = _Text()
    parser.feed(page)
    assert "script" not in parser.tags
    body = "".join(parser.chunks)
    for f in card.findings:
        assert f.quote in body
    assert render_text(card)


def grade_or_clear_error(doc):
    try:
        card = grade_transcript(doc)
    except TranscriptError as exc:
        assert str(exc)  # a message a person can act on
        return None
    check(card)
    return card


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc_st)
def test_any_json_transcript(doc):
    grade_or_clear_error(doc)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_any_text_transcript(text):
    try:
        tr = parse_transcript_text(text)
    except TranscriptError as exc:
        assert str(exc)
        return
    grade_or_clear_error(tr.model_dump())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PHRASES), max_size=6))
def test_text_format_lines(lines):
    text = "\n".join(("坐席：" if i % 2 == 0 else "客户：") + x for i, x in enumerate(lines))
    try:
        tr = parse_transcript_text(text)
    except TranscriptError:
        assert not lines
        return
    grade_or_clear_error(tr.model_dump())


@pytest.mark.parametrize("doc", [
    {"language": "zh", "turns": []},
    {"language": "zh", "turns": [{"speaker": "customer", "text": "喂？"}] * 5},
    {"language": "en", "turns": [{"speaker": "agent", "text": "Hello?"}] * 5},
    {"turns": [{"speaker": "agent", "text": "😀"}, {"speaker": "customer", "text": "🙃"}]},
    {"language": "zh", "turns": [{"speaker": "agent", "text": "Hello 您好 thank you for calling 顺达快递，工号3021"},
                                 {"speaker": "customer", "text": "my parcel 快递 is late!!"}]},
    {"language": "zh", "scenario": "parcel-late-angry",
     "turns": [{"speaker": "agent" if i % 2 else "customer", "text": f"第{i}句，请问订单号是多少？"} for i in range(500)]},
    {"language": "en", "turns": [{"speaker": "agent" if i % 2 else "customer", "text": f"Line {i}: I understand, sorry.",
                                  "start": i * 3.0, "end": i * 3.0 + 2.5} for i in range(500)]},
    {"language": "zh", "turns": [{"speaker": "agent", "text": "", "start": 5, "end": 1}]},
])
def test_odd_transcripts(doc):
    card = grade_or_clear_error(doc)
    if doc["turns"]:
        assert card is not None
    else:
        assert card is None


def test_huge_text_is_an_error_not_a_hang():
    doc = {"language": "zh", "turns": [{"speaker": "agent", "text": "好" * 30000}]}
    with pytest.raises(TranscriptError, match="turns.0.text"):
        grade_transcript(doc)
    doc = {"language": "zh", "turns": [{"speaker": "agent", "text": "好"}] * 6000}
    with pytest.raises(TranscriptError, match="turns"):
        grade_transcript(json.loads(json.dumps(doc)))
