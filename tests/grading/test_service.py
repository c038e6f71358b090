"""Grading stored sessions: the acts and director states written during the call are what is graded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grading.acts.detector import default_detector
from grading.service import grade_session, make_session_grader, rubric_for, scorecard_for_session
from personas.director import Director
from personas.library import load_library
from server.deps import AppContext
from server.settings import Settings
from tests.grading.calib import CALIBRATION_DIR

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ctx(tmp_path, db_url, monkeypatch):
    monkeypatch.setenv("CALLCOACH_DATABASE_URL", db_url)  # SQLite in tmp_path, or the test PostgreSQL
    return AppContext.build(Settings(data_dir=tmp_path, engine="scripted", llm_base_url=None, llm_judge=False))


def store_call(ctx, lines, lang="zh", channel="text", timings=None, interrupted_at=None, acts_override=None):
    """Write a call the way the runtime does: detection and director state with every agent turn."""
    scenario = load_library().get("parcel-late-angry")
    row = ctx.store.create_session(scenario_id=scenario.id, snapshot_id=ctx.store.snapshot(scenario), trainee="t",
                                   mode="practice", language=lang, seed=1, engine="scripted", channel=channel, info={})
    d = Director(scenario, lang, detector=default_detector())
    d.opening()
    idx = 0
    ctx.store.add_turn(row.id, idx, "customer", scenario.persona.opening[lang][0], move="opening",
                       state=d.state.model_dump(mode="json"), start_s=0.0, end_s=3.0)
    for i, line in enumerate(lines):
        det = d.detect(line)
        cut = interrupted_at == i
        move = d.step(det, interrupted=cut)
        acts = acts_override(i, det.to_dict()) if acts_override else det.to_dict()
        t0, t1 = timings[i] if timings else (None, None)
        idx += 1
        ctx.store.add_turn(row.id, idx, "agent", line, acts=acts, state=d.state.model_dump(mode="json"),
                           start_s=t0, end_s=t1)
        idx += 1
        ctx.store.add_turn(row.id, idx, "customer", f"({move.kind.value})", move=move.kind.value,
                           state=d.state.model_dump(mode="json"), start_s=t1 + 0.5 if t1 else None,
                           end_s=t1 + 2.5 if t1 else None, interrupted=False)
        if d.state.ended:
            break
    ctx.store.end_session(row.id, "ended", d.state.end_reason or "agent_ended", d.state.model_dump(mode="json"))
    return row.id


GOOD = ["您好，顺达快递客服中心，工号3021，很高兴为您服务。", "为了保障您的信息安全，请问您的姓名和手机号后四位是多少？",
        "非常抱歉，我完全理解您现在着急的心情。请问具体是什么情况呢？", "您的意思是快件三天没动，之前还承诺过第二天到，对吗？",
        "这样，我马上为您安排免费加急重发，明天送到，您看可以吗？", "请问还有其他可以帮您的吗？", "感谢您的来电，祝您生活愉快，再见。"]


def test_session_grader_stores_a_scorecard(ctx):
    sid = store_call(ctx, GOOD)
    grader = make_session_grader(ctx)
    card_id = grader(sid)
    assert card_id
    row = ctx.store.latest_scorecard(sid)
    assert row.id == card_id and ctx.store.get_session(sid).scorecard_id == card_id
    assert row.total == row.data["total"] and row.passed and row.rubric_id == "default" and row.rubric_version == 2
    assert row.data["source"] == "session" and row.data["session_id"] == sid and row.data["trainee"] == "t"
    assert row.data["measures"]["resolution"] == "confirmed" and row.data["measures"]["anger_start"] == 80


def test_the_stored_acts_are_graded_not_a_new_detection(ctx):
    """The customer reacted to the acts detected during the call; the grader scores exactly those."""
    def plant(i, acts):
        if i == 3:
            acts = {**acts, "labels": acts["labels"] + ["forbidden_phrase"],
                    "hits": acts["hits"] + [{"label": "forbidden_phrase", "spans": [{"start": 0, "end": 5, "text": "您的意思是"}]}]}
        return acts
    sid = store_call(ctx, GOOD, acts_override=plant)
    card = grade_session(ctx.store, sid)
    fp = [f for f in card.findings if f.criterion == "forbidden_phrases"]
    assert len(fp) == 1 and fp[0].turn == 7 and fp[0].quote == "您的意思是"


def test_timings_count_only_for_voice_calls(ctx):
    timings = [(i * 10.0, i * 10.0 + 2.5) for i in range(len(GOOD))]  # every line in 2.5 s: far too fast
    text_sid = store_call(ctx, GOOD, timings=timings, channel="text")
    voice_sid = store_call(ctx, GOOD, timings=timings, channel="voice")
    text_card = grade_session(ctx.store, text_sid)
    voice_card = grade_session(ctx.store, voice_sid)
    assert not [f for f in text_card.findings if f.criterion == "speech_rate"]
    assert [f for f in voice_card.findings if f.criterion == "speech_rate"]


def test_interruption_recorded_by_the_director_is_a_finding(ctx):
    sid = store_call(ctx, GOOD, interrupted_at=3)
    card = grade_session(ctx.store, sid)
    f = [f for f in card.findings if f.criterion == "interruptions"]
    assert len(f) == 1 and f[0].turn == 7


def test_grader_never_raises(ctx, caplog):
    grader = make_session_grader(ctx)
    assert grader("no-such-session") is None
    scenario = load_library().get("parcel-late-angry")
    row = ctx.store.create_session(scenario_id=scenario.id, snapshot_id=ctx.store.snapshot(scenario), mode="practice",
                                   language="zh", seed=1, engine="scripted", info={})
    assert grader(row.id) is None  # no turns: nothing to grade, logged, no exception


def test_scorecard_on_demand(ctx):
    sid = store_call(ctx, GOOD)
    data = scorecard_for_session(ctx, sid)
    assert data["id"] and ctx.store.latest_scorecard(sid).id == data["id"]
    assert scorecard_for_session(ctx, sid)["id"] == data["id"]
    with pytest.raises(LookupError):
        scorecard_for_session(ctx, "nope")


def test_rubric_choice(tmp_path):
    scenario = load_library().get("parcel-late-angry")
    assert rubric_for(scenario, Settings(data_dir=tmp_path)).id == "default"
    assert rubric_for(None, Settings(data_dir=tmp_path, rubric="missing")).id == "default"


# ------------------------------------------------------------------------------------------ the CLI
def cli(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOACH_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "server.cli", "grade", *map(str, args)], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=120)


def test_cli_grades_a_transcript_file(tmp_path):
    path = CALIBRATION_DIR / "parcel-en" / "forbidden_phrase.json"
    r = cli(path, "--format", "json")
    assert r.returncode == 0, r.stderr
    import json

    card = json.loads(r.stdout)
    assert any(f["quote"] == "not my department" for f in card["findings"])
    r = cli(path)
    assert r.returncode == 0 and "/100" in r.stdout and "not my department" in r.stdout
    out = tmp_path / "report.html"
    r = cli(CALIBRATION_DIR / "bill-complaint-zh" / "never_closes.txt", "--format", "html", "--out", out)
    assert r.returncode == 0 and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "通话评分报告" in out.read_text(encoding="utf-8")


def test_cli_transcript_without_scenario_given_one(tmp_path):
    path = tmp_path / "call.txt"
    path.write_text("客户：喂！我的快递晚了三天了！\n坐席：您好，顺达快递客服中心，工号3021。\n", encoding="utf-8")
    r = cli(path, "--scenario", "parcel-late-angry", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert '"scenario_id": "parcel-late-angry"' in r.stdout


def test_cli_grades_a_session_from_the_database(tmp_path):
    ctx = AppContext.build(Settings(data_dir=tmp_path, engine="scripted", llm_base_url=None))
    sid = store_call(ctx, GOOD)
    r = cli(sid, "--format", "json", env={"CALLCOACH_DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert f'"session_id": "{sid}"' in r.stdout


def test_cli_errors(tmp_path):
    r = cli("no-such-session", env={"CALLCOACH_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2 and "no session" in r.stderr
    r = cli(tmp_path / "missing.json")
    assert r.returncode == 2 and "no such file" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    r = cli(bad)
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    r = cli(CALIBRATION_DIR / "parcel-en" / "exemplary.json", "--rubric", "nope")
    assert r.returncode == 2 and "unknown rubric" in r.stderr


def test_with_the_judge_on_a_judged_scorecard_follows(ctx, monkeypatch):
    """The rule scorecard is stored at once (the `ended` message carries it); the judged one follows."""
    import time

    from grading import service
    from grading.judge import LLMJudge
    from tests.grading.test_judge import FakeClient, J

    client = FakeClient([J(("goal", -1.0, 9, "加急重发", "方案没有说明原因"))])
    monkeypatch.setattr(service, "judge_from_settings", lambda settings, force=None: LLMJudge(client, "fake", runs=2))
    ctx.settings = ctx.settings.model_copy(update={"llm_judge": True, "llm_base_url": "http://fake/v1"})
    sid = store_call(ctx, GOOD)
    first = make_session_grader(ctx)(sid)
    deadline = time.time() + 20
    while time.time() < deadline and ctx.store.latest_scorecard(sid).id == first:
        time.sleep(0.05)
    latest = ctx.store.latest_scorecard(sid)
    assert latest.id != first and ctx.store.get_session(sid).scorecard_id == latest.id
    assert ctx.store.get_scorecard(first).data["llm_judge"]["used"] is False
    judged = latest.data["llm_judge"]
    assert judged["used"] and judged["runs"] == 2 and len(client.calls) == 2
    assert latest.total == ctx.store.get_scorecard(first).total - 3.0
