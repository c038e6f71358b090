"""kill -9 the server mid-call: every turn the client received a reply for is in the database."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, col, select

from server.db import make_engine
from server.models import CallSession, Turn
from tests.server.test_ws_call import GOOD_CALL_ZH
from tests.wsclient import CallClient


def test_kill9_mid_call_loses_no_turn(server_factory, db_url):
    srv = server_factory(db_url)

    async def go():
        c = await CallClient.connect(srv.ws)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "language": "zh", "trainee": "kill9"})
        started = await c.recv_until("started")
        replies = []
        for line in GOOD_CALL_ZH[:4]:
            await c.send({"type": "text", "text": line})
            replies.append(await c.recv_until("customer"))
        return started["session_id"], replies

    sid, replies = asyncio.run(go())
    srv.kill9()
    assert srv.proc.returncode == -9

    engine = make_engine(db_url)
    with Session(engine) as db:
        session = db.get(CallSession, sid)
        turns = list(db.exec(select(Turn).where(Turn.session_id == sid).order_by(col(Turn.idx))))
    engine.dispose()
    assert session is not None and session.status == "active"
    assert len(turns) == 1 + 2 * 4
    assert [t.text for t in turns if t.speaker == "agent"] == GOOD_CALL_ZH[:4]
    assert [t.text for t in turns if t.speaker == "customer"][1:] == [r["text"] for r in replies]
    assert all(t.state for t in turns)  # the director's state is stored with every turn

    # a restarted server picks the call up again from the database alone
    srv2 = server_factory(db_url, CALLCOACH_RESUME_GRACE_S="60")

    async def resume():
        c = await CallClient.connect(srv2.ws)
        await c.send({"type": "start", "resume": sid})
        started = await c.recv_until("started")
        await c.send({"type": "text", "text": GOOD_CALL_ZH[4]})
        reply = await c.recv_until("customer")
        await c.send({"type": "end"})
        await c.recv_until("ended")
        return started, reply

    started, reply = asyncio.run(resume())
    assert started["resumed"] and len(started["turns"]) == 9
    assert reply["move"] == "accept"  # the director went on from its stored state
