"""Live calls by session id, so a dropped websocket can pick its call up again within the grace period.

A call whose socket is gone longer than the grace period is closed as `abandoned` (never lost: its
turns are already in the database). Calls left `active` by a crashed process are swept the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from server.call.runtime import CallError, CallRuntime

if TYPE_CHECKING:
    from server.deps import AppContext

log = logging.getLogger("callcoach.registry")


class CallRegistry:
    def __init__(self, ctx: AppContext):
        self.ctx = ctx
        self.live: dict[str, CallRuntime] = {}
        self._timers: dict[str, asyncio.Task] = {}

    def add(self, rt: CallRuntime) -> None:
        self.live[rt.id] = rt
        rt.attached = True
        rt.detached_at = None

    def attach(self, session_id: str) -> CallRuntime:
        """Reattach a dropped call: from memory if this process has it, else rebuilt from the database."""
        rt = self.live.get(session_id)
        if rt is not None:
            if rt.attached:
                raise CallError("session_in_use", "this call is open in another connection / 该通话正在另一个连接中进行")
            if rt.finished:
                raise CallError("session_closed", f"session {session_id} is {rt.session.status} / 该通话已结束")
        else:
            rt = CallRuntime.resume(self.ctx, session_id)
            self.live[session_id] = rt
        timer = self._timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()
        rt.attached = True
        rt.detached_at = None
        return rt

    def detach(self, rt: CallRuntime) -> None:
        """The socket went away mid-call: keep the call for the grace period, then abandon it."""
        rt.attached = False
        if rt.finished:
            self.live.pop(rt.id, None)
            return
        rt.detached_at = time.monotonic()
        self._timers[rt.id] = asyncio.create_task(self._abandon_later(rt))

    def remove(self, rt: CallRuntime) -> None:
        self.live.pop(rt.id, None)
        timer = self._timers.pop(rt.id, None)
        if timer is not None:
            timer.cancel()

    async def _abandon_later(self, rt: CallRuntime) -> None:
        try:
            await asyncio.sleep(self.ctx.settings.resume_grace_s)
        except asyncio.CancelledError:
            return
        if not rt.attached and not rt.finished:
            log.info("call %s abandoned after %.0fs without a connection", rt.id, self.ctx.settings.resume_grace_s)
            rt.finish("abandoned", status="abandoned")
        self.live.pop(rt.id, None)
        self._timers.pop(rt.id, None)

    def sweep_stale(self) -> int:
        """Close sessions a previous process left active for longer than the grace period."""
        n = 0
        for row in self.ctx.store.stale_active(timedelta(seconds=self.ctx.settings.resume_grace_s)):
            if row.id in self.live:
                continue
            self.ctx.store.end_session(row.id, "abandoned", "abandoned", None)
            n += 1
        return n

    async def close_all(self) -> None:
        for timer in list(self._timers.values()):
            timer.cancel()
        self._timers.clear()
