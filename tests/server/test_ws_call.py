"""The call websocket against a real uvicorn server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from personas.library import load_library
from tests.personas.test_director import GOOD_ZH
from tests.wsclient import CallClient

GOOD_CALL_ZH = GOOD_ZH  # the exemplary parcel call, shared with the director tests


def run(coro):
    return asyncio.run(coro)


async def _whole_call(url: str, mode: str = "practice") -> tuple[CallClient, dict]:
    c = await CallClient.connect(url)
    await c.send({"type": "start", "scenario": "parcel-late-angry", "mode": mode, "language": "zh", "seed": 3,
                  "trainee": "ws-test"})
    started = await c.recv_until("started")
    for line in GOOD_CALL_ZH:
        await c.send({"type": "text", "text": line})
        msg = await c.recv_until("customer", "ended")
        if msg["type"] == "ended":
            return c, msg
    return c, await c.recv_until("ended")


def test_whole_call_to_ended(live_server):
    async def go():
        c, ended = await _whole_call(live_server.ws)
        types = [m["type"] for m in c.received]
        assert types[0] == "started"
        started = c.received[0]
        assert started["opening"]["text"]
        assert ended["reason"] == "resolved"
        assert ended["session_id"] == started["session_id"]
        assert "state" in types and "hint" in types  # practice mode
        customers = [m for m in c.received if m["type"] == "customer"]
        assert [m["move"] for m in customers][-1] == "goodbye"
        return started["session_id"]

    sid = run(go())
    body = httpx.get(f"{live_server.http}/api/sessions/{sid}").json()
    assert body["status"] == "ended" and body["end_reason"] == "resolved"
    turns = body["turns"]
    assert [t["speaker"] for t in turns[:3]] == ["customer", "agent", "customer"]
    assert len(turns) == 1 + 2 * len(GOOD_CALL_ZH)
    assert turns[1]["text"] == GOOD_CALL_ZH[0]
    assert "greet" in turns[1]["acts"]["labels"]


def test_exam_mode_sends_no_state_or_hints(live_server):
    async def go():
        c, ended = await _whole_call(live_server.ws, mode="exam")
        types = {m["type"] for m in c.received}
        assert "state" not in types and "hint" not in types
        assert ended["reason"] == "resolved"

    run(go())


def test_no_hidden_facts_in_websocket_traffic_before_release(live_server):
    """Nothing secret leaves the server until the customer says it (after the right question)."""
    scenario = load_library().get("parcel-late-angry")
    secrets = scenario.persona.secret_strings("zh")

    async def go():
        c = await CallClient.connect(live_server.ws)
        await c.send({"type": "start", "scenario": scenario.id, "mode": "practice", "language": "zh"})
        await c.recv_until("started")
        # an agent who never verifies and never asks: nothing may be revealed
        for line in ["您好。", "嗯，我在听。", "好的。"]:
            await c.send({"type": "text", "text": line})
            await c.recv_until("customer", "ended")
        await c.send({"type": "end"})
        await c.recv_until("ended")
        return "\n".join(c.raw)

    traffic = run(go())
    for secret in secrets:
        assert secret not in traffic, secret
    assert "\"responses\"" not in traffic and "\"unlock\"" not in traffic


def test_bad_input_gets_typed_errors_and_the_call_survives(live_server):
    async def go():
        c = await CallClient.connect(live_server.ws)
        await c.send("{not json")
        assert (await c.recv())["code"] == "bad_json"
        await c.send({"type": "dance"})
        assert (await c.recv())["code"] == "unknown_type"
        await c.send({"type": "text", "text": "您好"})
        assert (await c.recv())["code"] == "not_started"
        await c.send({"type": "end"})
        assert (await c.recv())["code"] == "not_started"
        await c.send("[1, 2]")
        assert (await c.recv())["code"] == "bad_message"
        await c.send({"type": "start", "scenario": "no-such-scenario"})
        assert (await c.recv())["code"] == "unknown_scenario"
        await c.send({"type": "start", "scenario": "parcel-late-angry", "mode": "party"})
        assert (await c.recv())["code"] == "bad_message"
        await c.conn.send(b"\x00\x01")
        assert (await c.recv())["code"] == "not_started"
        await c.send({"type": "start", "scenario": "parcel-late-angry", "language": "zh"})
        started = await c.recv_until("started")
        await c.send({"type": "start", "scenario": "parcel-late-angry"})
        assert (await c.recv_until("error"))["code"] == "already_started"
        await c.send(json.dumps({"type": "text", "text": "x" * 70000}))
        assert (await c.recv_until("error"))["code"] == "too_large"
        await c.send({"type": "text", "text": ""})
        assert (await c.recv_until("error"))["code"] == "bad_message"
        await c.conn.send(b"\x00\x01")
        assert (await c.recv_until("error"))["code"] == "not_voice"
        # the call is still alive after all that
        await c.send({"type": "text", "text": "您好，顺达快递客服中心，工号3021。"})
        reply = await c.recv_until("customer")
        assert reply["text"]
        await c.send({"type": "end"})
        ended = await c.recv_until("ended")
        assert ended["session_id"] == started["session_id"]

    run(go())


def test_disconnect_then_resume_within_grace(live_server):
    async def go():
        c = await CallClient.connect(live_server.ws)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "language": "zh"})
        started = await c.recv_until("started")
        await c.send({"type": "text", "text": GOOD_CALL_ZH[0]})
        await c.recv_until("customer")
        await c.conn.close()  # the browser tab died
        await asyncio.sleep(0.3)
        c2 = await CallClient.connect(live_server.ws)
        await c2.send({"type": "start", "resume": started["session_id"]})
        resumed = await c2.recv_until("started")
        assert resumed["resumed"] is True and resumed["session_id"] == started["session_id"]
        assert [t["speaker"] for t in resumed["turns"]] == ["customer", "agent", "customer"]
        await c2.send({"type": "text", "text": GOOD_CALL_ZH[1]})
        reply = await c2.recv_until("customer")
        assert reply["move"] == "give_identity" and reply["turn"] == 4
        await c2.send({"type": "end"})
        await c2.recv_until("ended")
        return started["session_id"]

    sid = run(go())
    turns = httpx.get(f"{live_server.http}/api/sessions/{sid}").json()["turns"]
    assert [t["turn"] for t in turns] == list(range(5))


def test_dropped_call_is_abandoned_after_grace_not_lost(live_server):
    async def go():
        c = await CallClient.connect(live_server.ws)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "language": "zh"})
        started = await c.recv_until("started")
        await c.send({"type": "text", "text": GOOD_CALL_ZH[0]})
        await c.recv_until("customer")
        await c.conn.close()
        return started["session_id"]

    sid = run(go())
    deadline = asyncio.run(asyncio.sleep(0)) or None
    import time
    t_end = time.time() + 10
    body = {}
    while time.time() < t_end:
        body = httpx.get(f"{live_server.http}/api/sessions/{sid}").json()
        if body["status"] != "active":
            break
        time.sleep(0.2)
    assert body["status"] == "abandoned" and body["end_reason"] == "abandoned"
    assert len(body["turns"]) == 3

    async def resume_fails():
        c = await CallClient.connect(live_server.ws)
        await c.send({"type": "start", "resume": sid})
        return await c.recv()

    assert run(resume_fails())["code"] == "session_closed"


def test_time_limit_ends_the_call(server_factory, db_url, tmp_path):
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    import yaml
    from personas.library import BUILTIN_DIR
    data = yaml.safe_load((BUILTIN_DIR / "parcel-late-angry.yaml").read_text(encoding="utf-8"))
    data["id"] = "parcel-quick-limit"
    data["time_limit_s"] = 60
    (lib_dir / "quick.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    srv = server_factory(db_url, CALLCOACH_LIBRARY_DIR=str(lib_dir), CALLCOACH_SILENCE_TIMEOUT_S="1.0")

    async def go():
        c = await CallClient.connect(srv.ws)
        await c.send({"type": "start", "scenario": "parcel-quick-limit", "language": "zh"})
        await c.recv_until("started")
        # silence: the customer prompts, then gives up
        prompt = await c.recv_until("customer", timeout=5)
        assert prompt["move"] == "are_you_there"
        ended = await c.recv_until("ended", timeout=10)
        assert ended["reason"] == "customer_hung_up"

    run(go())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_api_never_exposes_hidden_facts(live_server, lang):
    lib = load_library()
    body = httpx.get(f"{live_server.http}/api/scenarios", params={"lang": lang}).text
    assert len(httpx.get(f"{live_server.http}/api/scenarios").json()) == len(lib)
    for scenario in lib:
        for secret in scenario.persona.secret_strings(lang):
            assert secret not in body, (scenario.id, secret)
        one = httpx.get(f"{live_server.http}/api/scenarios/{scenario.id}", params={"lang": lang}).text
        for secret in scenario.persona.secret_strings(lang):
            assert secret not in one
    assert "\"responses\"" not in body and "\"acceptable\"" not in body and "\"unlock\"" not in body
    assert httpx.get(f"{live_server.http}/api/scenarios/nope").status_code == 404
