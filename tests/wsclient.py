"""A small real websocket client for the call protocol (the `websockets` library)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class CallClient:
    def __init__(self, conn):
        self.conn = conn
        self.received: list[dict[str, Any]] = []
        self.raw: list[str] = []

    @classmethod
    async def connect(cls, url: str, ssl=None) -> "CallClient":
        return cls(await websockets.connect(url, max_size=2**22, ssl=ssl))

    async def send(self, msg: dict[str, Any] | str) -> None:
        await self.conn.send(msg if isinstance(msg, str) else json.dumps(msg, ensure_ascii=False))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
            if isinstance(raw, bytes):
                continue
            self.raw.append(raw)
            msg = json.loads(raw)
            self.received.append(msg)
            return msg

    async def recv_until(self, *types: str, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            msg = await self.recv(timeout)
            if msg["type"] in types:
                return msg

    async def close(self) -> None:
        await self.conn.close()
