"""The HTML report (parsed, not eyeballed) and the text format."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from grading.report import render_html, render_text
from grading.service import grade_transcript
from tests.grading.calib import CALIBRATION_DIR, card, cases


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.marks: list[str] = []
        self.style = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "style":
            self.style += data
            return
        if self.stack and self.stack[-1] == "mark":
            self.marks.append(data)
        self.text.append(data)

    @property
    def body(self) -> str:
        return "".join(self.text)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


@pytest.mark.parametrize("case", [c for c in cases() if c.variant in ("no_empathy", "leaks_account", "abuses_customer",
                                                                      "forbidden_phrase", "interrupts")],
                         ids=lambda c: c.id)
def test_report_renders_every_finding_quote_and_tip(case):
    sc = card(case)
    page = parse(render_html(sc))
    body = page.body
    assert sc.findings
    for f in sc.findings:
        assert f.quote in body, f
        assert f.tip in body
        assert f.message in body
    # each finding is highlighted in its turn
    for f in sc.findings:
        if f.points < 0 or f.blocker:
            assert any(f.quote in m or m in f.quote for m in page.marks), f.quote
    ids = {a.get("id") for _, a in page.tags}
    for f in sc.findings:
        assert f"turn-{f.turn}" in ids


def test_report_header_bars_and_print_css():
    sc = card(next(c for c in cases() if c.id == "parcel-zh/forbidden_phrase"))
    html = render_html(sc)
    page = parse(html)
    body = page.body
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    for needle in ("通话评分报告", "calibration", "快递延误投诉", f"{sc.total:g}", "合格", "服务规范", "安抚与共情",
                   "问题解决", "沟通技巧", "改进建议"):
        assert needle in body, needle
    assert "@page" in page.style and "A4" in page.style and "@media print" in page.style
    bars = [a for t, a in page.tags if t == "span" and "width:" in (a.get("style") or "")]
    assert len(bars) == 4
    assert not any(t in ("script", "link", "img", "iframe") for t, _ in page.tags)  # standalone, nothing fetched


def test_report_follows_the_call_language():
    sc = card(next(c for c in cases() if c.id == "parcel-en/no_empathy"))
    page = parse(render_html(sc))
    assert "Call scorecard" in page.body and "Script adherence" in page.body and "FAIL" not in page.body
    assert "通话评分报告" not in page.body


def test_everything_is_escaped():
    evil = '<img src=x onerror="alert(1)"> & “quotes” </mark><script>alert(2)</script>'
    doc = {"language": "en", "trainee": "<b>bob</b>", "title": "<i>t</i>", "turns": [
        {"speaker": "agent", "text": evil + " That's the policy, I don't know."},
        {"speaker": "customer", "text": evil},
    ]}
    sc = grade_transcript(doc)
    html = render_html(sc)
    page = parse(html)
    assert not any(t in ("script", "img", "i") for t, _ in page.tags)
    assert evil in page.body and "<b>bob</b>" in page.body
    for f in sc.findings:
        assert f.quote in page.body


def test_text_format():
    sc = card(next(c for c in cases() if c.id == "parcel-en/forbidden_phrase"))
    out = render_text(sc)
    assert f"{sc.total:g}/100" in out and "not my department" in out and "Do instead" in out


def test_scorecard_json_round_trip_and_shape():
    sc = grade_transcript(CALIBRATION_DIR / "parcel-en" / "interrupts.json")
    data = json.loads(sc.model_dump_json())
    for key in ("total", "passed", "blockers", "dimensions", "findings", "rubric_id", "rubric_version", "language",
                "judged_without_scenario", "llm_judge"):
        assert key in data
    f = data["findings"][0]
    assert set(f) >= {"rule", "dimension", "points", "turn", "quote", "tip"}
    assert data["llm_judge"]["used"] is False
