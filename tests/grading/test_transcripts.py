"""Input normalisation: JSON and plain-text transcripts, the director replay, and clear errors."""

from __future__ import annotations

import json

import pytest

from grading.acts.detector import default_detector
from grading.record import (
    TranscriptError,
    load_transcript_file,
    parse_transcript_json,
    parse_transcript_text,
    record_from_transcript,
)
from grading.service import grade_transcript
from personas.director import Director
from personas.library import load_library
from tests.grading.calib import CALIBRATION_DIR

TEXT_ZH = """\
scenario: parcel-late-angry
客户：喂！我的快递到底还送不送了？都晚了三天了！
坐席：您好，顺达快递客服中心，工号3021，很高兴为您服务。
顾客：你们到底怎么回事？
客服：为了保障您的信息安全，请问您的姓名和手机号后四位是多少？
客户：王建国，尾号5678。
   我等了一整天了。
"""


def test_text_format_zh_prefixes_header_and_continuation():
    tr = parse_transcript_text(TEXT_ZH)
    assert tr.scenario == "parcel-late-angry" and tr.language == "zh"
    assert [t.speaker for t in tr.turns] == ["customer", "agent", "customer", "agent", "customer"]
    assert tr.turns[-1].text == "王建国，尾号5678。 我等了一整天了。"


def test_text_format_en_and_interrupt_marker():
    tr = parse_transcript_text("Agent: Hello, this is Sam from SwiftPost.\nCustomer: My parcel is late and I [interrupted]\n"
                               "agent: So the parcel is late?\nCUSTOMER: Yes.\n")
    assert tr.language == "en"
    assert [t.speaker for t in tr.turns] == ["agent", "customer", "agent", "customer"]
    assert tr.turns[1].interrupted and tr.turns[1].text == "My parcel is late and I"


@pytest.mark.parametrize("text, needle", [
    ("", "no turns"),
    ("hello there\n坐席：您好", "line 1"),
    ("# just a comment\n", "no turns"),
])
def test_text_format_errors(text, needle):
    with pytest.raises(TranscriptError) as ei:
        parse_transcript_text(text)
    assert needle in str(ei.value)


@pytest.mark.parametrize("doc, needle", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({"language": "zh"}, "turns"),
    ({"language": "fr", "turns": [{"speaker": "agent", "text": "x"}]}, "language"),
    ({"language": "zh", "turns": [{"speaker": "robot", "text": "x"}]}, "turns.0.speaker"),
    ({"language": "zh", "turns": [{"speaker": "agent", "text": "x", "start": -1}]}, "turns.0.start"),
    ({"language": "zh", "turns": [], "extra": 1}, "extra"),
])
def test_json_errors_are_clear(doc, needle):
    with pytest.raises(TranscriptError) as ei:
        parse_transcript_json(doc if isinstance(doc, (str, dict)) else json.dumps(doc))
    assert needle in str(ei.value)


def test_semantic_errors_are_clear():
    with pytest.raises(TranscriptError, match="no turns"):
        grade_transcript({"language": "zh", "turns": []})
    with pytest.raises(TranscriptError, match="unknown scenario 'nope'"):
        grade_transcript({"language": "zh", "scenario": "nope", "turns": [{"speaker": "agent", "text": "您好"}]})


def test_speaker_aliases_and_language_guess():
    tr = parse_transcript_json({"turns": [{"speaker": "坐席", "text": "您好，请问有什么可以帮您？"},
                                          {"speaker": "Customer", "text": "我的快递丢了。"}]})
    rec = record_from_transcript(tr)
    assert rec.language == "zh" and [t.speaker for t in rec.turns] == ["agent", "customer"]


def test_replay_uses_the_same_detector_and_director_as_a_live_call():
    """A transcript with a scenario id is replayed through the director: same detections, same states."""
    path = CALIBRATION_DIR / "parcel-zh" / "exemplary.json"
    tr = load_transcript_file(path)
    rec = record_from_transcript(tr)
    assert rec.director == "replayed" and rec.scenario_id == "parcel-late-angry"
    scenario = load_library().get("parcel-late-angry")
    director = Director(scenario, "zh", detector=default_detector())
    for t in rec.turns:
        if t.speaker != "agent":
            continue
        det = director.detect(t.text)
        assert det.to_dict() == t.det.to_dict()
        director.step(det, interrupted=t.interrupted)
        full = director.state.model_dump(mode="json")
        assert t.state == {k: full[k] for k in t.state}
    assert rec.final_state == director.state.model_dump(mode="json")
    assert rec.final_state["resolution"] == "confirmed"


def test_replays_do_not_share_state():
    path = CALIBRATION_DIR / "parcel-zh" / "forbidden_phrase.json"
    a = record_from_transcript(load_transcript_file(path))
    b = record_from_transcript(load_transcript_file(path))
    assert a.final_state == b.final_state and a.initial_state["anger"] == 80


def test_without_scenario_the_scorecard_says_so():
    sc = grade_transcript(CALIBRATION_DIR / "bill-complaint-zh" / "exemplary.txt")
    assert sc.judged_without_scenario and sc.scenario_id is None
    assert any("没有场景" in n for n in sc.notes)
    goal = next(c for d in sc.dimensions for c in d.criteria if c.id == "goal")
    assert goal.basis == "conversation" and goal.note
    with_scenario = grade_transcript(CALIBRATION_DIR / "parcel-zh" / "exemplary.json")
    assert not with_scenario.judged_without_scenario
    goal = next(c for d in with_scenario.dimensions for c in d.criteria if c.id == "goal")
    assert goal.basis == "director"


def test_scenario_id_from_outside_and_language_override():
    tr = parse_transcript_text(TEXT_ZH.replace("scenario: parcel-late-angry\n", ""))
    sc = grade_transcript(tr, scenario_id="parcel-late-angry")
    assert sc.scenario_id == "parcel-late-angry" and sc.scenario_title == "快递延误投诉"
    with pytest.raises(TranscriptError, match="not supported"):
        grade_transcript({"language": "en", "scenario": "parcel-late-angry",
                          "turns": [{"speaker": "agent", "text": "hi"}]}, language="fr")
