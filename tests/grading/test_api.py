"""The grading API: in-process (TestClient) for the request/response contract, and a real `callcoach serve`
(SQLite, and PostgreSQL when configured) for a whole websocket call that is graded when it ends."""

from __future__ import annotations

import asyncio
import json
import time
from html.parser import HTMLParser

import httpx
import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.settings import Settings
from tests.grading.calib import CALIBRATION_DIR
from tests.wsclient import CallClient

GOOD_CALL_EN = [
    "Good morning, thank you for calling SwiftPost, my name is Sam, agent ID 3021. How can I help you today?",
    "For security purposes, could you please confirm your full name and the last four digits of your phone number?",
    "Thank you. I'm so sorry, I completely understand how frustrating this must be. Could you tell me what happened?",
    "So just to confirm, the parcel has been stuck for three days and you were promised next-day delivery, is that right?",
    "I'll arrange a free express reship today so it arrives by noon tomorrow. How does that sound?",
    "Is there anything else I can help you with today?",
    "Thank you for calling SwiftPost. Have a lovely day, goodbye.",
]
SLOPPY_CALL_ZH = ["喂。", "说吧，什么事？", "这是规定，我也没办法。", "行吧，那就这样。"]


@pytest.fixture
def client(tmp_path):
    settings = Settings(data_dir=tmp_path, engine="scripted", llm_base_url=None, llm_judge=False)
    with TestClient(create_app(settings)) as c:
        yield c


def test_post_grade_json(client):
    doc = json.loads((CALIBRATION_DIR / "parcel-zh" / "forbidden_phrase.json").read_text(encoding="utf-8"))
    r = client.post("/api/grade", json=doc)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["rubric_id"] == "default" and card["scenario_id"] == "parcel-late-angry"
    assert any(f["quote"] == "不清楚" and f["turn"] == 9 for f in card["findings"])
    html = client.post("/api/grade?format=html", json=doc)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html") and "不清楚" in html.text


def test_post_grade_plain_text(client):
    body = (CALIBRATION_DIR / "bill-complaint-zh" / "no_empathy.txt").read_text(encoding="utf-8")
    r = client.post("/api/grade", content=body.encode(), headers={"content-type": "text/plain; charset=utf-8"})
    assert r.status_code == 200, r.text
    assert r.json()["judged_without_scenario"] is True
    r = client.post("/api/grade?format=text", content="Agent: Hello\nCustomer: Hi".encode(),
                    headers={"content-type": "text/plain"})
    assert r.status_code == 200 and "/100" in r.text


@pytest.mark.parametrize("body, ctype, needle", [
    (b"", "application/json", "empty"),
    (b"{not json", "application/json", "not valid JSON"),
    (b'{"language": "zh"}', "application/json", "turns"),
    (b'{"language": "zh", "turns": []}', "application/json", "no turns"),
    (b'{"language": "zh", "scenario": "nope", "turns": [{"speaker": "agent", "text": "x"}]}', "application/json",
     "unknown scenario"),
    (b'{"turns": [{"speaker": "boss", "text": "x"}]}', "application/json", "speaker"),
    (b"hello world", "text/plain", "speaker prefix"),
    (b"\xff\xfe\x00", "application/json", "UTF-8"),
])
def test_post_grade_bad_input_is_422_with_a_clear_message(client, body, ctype, needle):
    r = client.post("/api/grade", content=body, headers={"content-type": ctype})
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_unknown_rubric_and_rubric_listing(client):
    doc = {"language": "en", "turns": [{"speaker": "agent", "text": "Hello"}]}
    r = client.post("/api/grade?rubric=nope", json=doc)
    assert r.status_code == 422 and "unknown rubric" in r.json()["detail"]
    assert client.post("/api/grade?rubric=default", json=doc).status_code == 200
    listing = client.get("/api/rubrics").json()
    ids = [r["id"] for r in listing["rubrics"]]
    assert "default" in ids and listing["errors"] == []
    d = next(r for r in listing["rubrics"] if r["id"] == "default")
    assert sum(x["weight"] for x in d["dimensions"]) == 100 and d["source"] == "builtin"
    full = client.get("/api/rubrics/default").json()
    assert full["pass_mark"] == 60 and full["dimensions"][0]["criteria"][0]["tip"]["zh"]
    assert client.get("/api/rubrics/nope").status_code == 404


def test_unknown_session_and_scorecard_are_404(client):
    assert client.get("/api/sessions/nope/scorecard").status_code == 404
    assert client.get("/api/sessions/nope/report").status_code == 404
    assert client.get("/api/scorecards/nope").status_code == 404


def test_a_text_call_in_process_is_graded_when_it_ends(client):
    with client.websocket_connect("/ws/call") as ws:
        ws.send_json({"type": "start", "scenario": "parcel-late-angry", "mode": "practice", "language": "zh",
                      "trainee": "学员甲"})
        started = _until(ws, "started")
        for line in SLOPPY_CALL_ZH:
            ws.send_json({"type": "text", "text": line})
            msg = _until(ws, "customer", "ended")
            if msg["type"] == "ended":
                break
            if msg.get("move") in ("hang_up", "goodbye"):
                msg = _until(ws, "ended")
                break
        else:
            ws.send_json({"type": "end"})
            msg = _until(ws, "ended")
    assert msg["scorecard_id"], msg
    sid = started["session_id"]
    card = client.get(f"/api/sessions/{sid}/scorecard").json()
    assert card["id"] == msg["scorecard_id"] and card["session_id"] == sid and card["trainee"] == "学员甲"
    assert card["source"] == "session" and not card["passed"]
    assert any(f["criterion"] == "forbidden_phrases" and f["quote"] == "这是规定" for f in card["findings"])
    # text mode: typing time is not a response gap, turn lengths are not speech rates
    assert all(f["criterion"] not in ("response_gap", "speech_rate", "talk_ratio") for f in card["findings"])
    assert client.get(f"/api/scorecards/{msg['scorecard_id']}").json()["total"] == card["total"]
    listed = client.get("/api/sessions").json()[0]
    assert listed["scorecard_id"] == msg["scorecard_id"] and listed["total"] == card["total"]


def _until(ws, *types):
    while True:
        msg = ws.receive_json()
        if msg["type"] in types:
            return msg


# ------------------------------------------------------------------------------------------ a real server
class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


async def _call(url: str, lines: list[str], lang: str, mode: str = "practice") -> tuple[dict, dict]:
    c = await CallClient.connect(url)
    await c.send({"type": "start", "scenario": "parcel-late-angry", "mode": mode, "language": lang, "seed": 5,
                  "trainee": "live-test"})
    started = await c.recv_until("started")
    for line in lines:
        await c.send({"type": "text", "text": line})
        msg = await c.recv_until("customer", "ended")
        if msg["type"] == "ended":
            return started, msg
        if msg.get("move") in ("hang_up", "goodbye"):  # the customer ended the call: `ended` follows
            return started, await c.recv_until("ended")
    await c.send({"type": "end"})
    return started, await c.recv_until("ended")


@pytest.mark.parametrize("lang, lines", [("en", GOOD_CALL_EN), ("zh", SLOPPY_CALL_ZH)])
def test_whole_websocket_call_ends_with_a_scorecard(live_server, lang, lines):
    started, ended = asyncio.run(_call(live_server.ws, lines, lang))
    assert ended["session_id"] == started["session_id"] and ended["scorecard_id"]
    sid = ended["session_id"]
    r = httpx.get(f"{live_server.http}/api/sessions/{sid}/scorecard", timeout=30)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["id"] == ended["scorecard_id"] and card["session_id"] == sid and card["language"] == lang
    assert card["rubric_id"] == "default" and card["rubric_version"] == 2
    if lang == "en":
        assert ended["reason"] == "resolved" and card["passed"] and card["total"] >= 90, card["findings"]
    else:
        assert not card["passed"] and any(f["quote"] == "这是规定" for f in card["findings"])
    report = httpx.get(f"{live_server.http}/api/sessions/{sid}/report", timeout=30)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    p = _Text()
    p.feed(report.text)
    body = "".join(p.parts)
    for f in card["findings"]:
        assert f["quote"] in body
    # the stored scorecard is returned again, not re-graded
    again = httpx.get(f"{live_server.http}/api/sessions/{sid}/scorecard", timeout=30).json()
    assert again["id"] == card["id"]


def test_an_abandoned_call_is_graded_on_demand(live_server):
    async def drop():
        c = await CallClient.connect(live_server.ws)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "language": "zh"})
        started = await c.recv_until("started")
        await c.send({"type": "text", "text": "您好，顺达快递客服中心，工号3021，很高兴为您服务。"})
        await c.recv_until("customer")
        await c.conn.close()
        return started["session_id"]

    sid = asyncio.run(drop())
    assert httpx.get(f"{live_server.http}/api/sessions/{sid}/scorecard").status_code == 409  # still active
    deadline = time.time() + 15
    while time.time() < deadline:
        if httpx.get(f"{live_server.http}/api/sessions/{sid}").json()["status"] != "active":
            break
        time.sleep(0.2)
    r = httpx.get(f"{live_server.http}/api/sessions/{sid}/scorecard", timeout=30)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["session_id"] == sid and card["id"]
    assert httpx.get(f"{live_server.http}/api/sessions/{sid}").json()["scorecard_id"] == card["id"]
    assert httpx.get(f"{live_server.http}/api/sessions/{sid}/scorecard").json()["id"] == card["id"]


def test_post_grade_on_the_real_server(live_server):
    doc = json.loads((CALIBRATION_DIR / "parcel-en" / "never_closes.json").read_text(encoding="utf-8"))
    r = httpx.post(f"{live_server.http}/api/grade", json=doc, timeout=30)
    assert r.status_code == 200 and any(f["criterion"] == "closing" and f["turn"] == 15 for f in r.json()["findings"])
    bad = httpx.post(f"{live_server.http}/api/grade", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and "JSON" in bad.json()["detail"]
