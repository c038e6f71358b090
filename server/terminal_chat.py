"""`callcoach chat`: a text call in the terminal, through the same runtime as the websocket."""

from __future__ import annotations

import sys

from server.call.runtime import CallError, CallRuntime
from server.deps import AppContext
from server.settings import get_settings


async def run_chat(scenario_id: str, seed: int | None, language: str | None, mode: str) -> int:
    ctx = AppContext.build(get_settings())
    try:
        rt = await CallRuntime.start(ctx, scenario_id=scenario_id, mode=mode, language=language, seed=seed,
                                     engine=None, trainee="terminal")
    except CallError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    zh = rt.language == "zh"
    view = rt.trainee_view()
    print(f"== {view['title']} ({view['company']}) ==")
    print(view["agent_sheet"])
    print("输入你的话，回车发送；输入 /end 结束通话。" if zh else "Type what you say and press Enter; /end ends the call.")
    print(f"{'客户' if zh else 'Customer'}: {rt.opening_text}")
    while not rt.finished:
        try:
            line = input(f"{'坐席' if zh else 'Agent'}> ").strip()
        except EOFError:
            line = "/end"
        if not line:
            continue
        if line == "/end":
            rt.finish("agent_ended")
            break
        reply = await rt.agent_says(line)
        print(f"{'客户' if zh else 'Customer'}: {reply.customer_text}")
        if mode == "practice":
            s = reply.state
            print(f"   [{'愤怒' if zh else 'anger'} {s.anger}  {'信任' if zh else 'trust'} {s.trust}  {reply.move.kind.value}]")
    print(f"== {'通话结束' if zh else 'call ended'}: {rt.end_reason}  session {rt.id} ==")
    if rt.scorecard_id:
        print(f"scorecard: {rt.scorecard_id}  (callcoach grade {rt.id})")
    return 0
