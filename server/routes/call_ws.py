"""The call websocket `/ws/call`: JSON control messages (and, for voice, binary audio frames).

Bad input never drops the socket: it gets a typed `error` and the call goes on where it can.
State and hints go to practice calls only; exam calls never see them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from personas.hints import hint_text
from server.call.runtime import CallError, CallRuntime, Reply
from server.deps import AppContext
from server.protocol import (
    CLIENT_TYPES,
    EndMsg,
    ErrorCode,
    PingMsg,
    PlaybackMsg,
    StartMsg,
    TextMsg,
    client_adapter,
    error,
)

log = logging.getLogger("callcoach.ws")


@asynccontextmanager
async def _speech_lifespan(app):
    """At server start, warm the speech models in the background (when installed): the first voice
    call then does not wait for TensorFlow and Whisper to load. The server answers at once."""
    try:
        from server.speech.call_audio import start_background
    except ImportError:
        yield
        return
    tasks = start_background(app.state.ctx)
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()


router = APIRouter(lifespan=_speech_lifespan)


@router.get("/api/speech", tags=["voice"])
def speech_status() -> dict[str, Any]:
    """Whether voice calls are available here and how far the model warm-up has got."""
    try:
        from server.speech.call_audio import status
    except ImportError:
        return {"available": False, "state": "unavailable", "parts": {}}
    return status()


class CallConnection:
    """One websocket connection; it may start a call or resume one."""

    def __init__(self, ws: WebSocket, ctx: AppContext):
        self.ws = ws
        self.ctx = ctx
        self.rt: CallRuntime | None = None
        self.closed = False
        self.voice: Any = None  # the voice pipeline, when the call was started with `audio`
        self.last_activity = 0.0  # call clock of the last agent activity (for the silence timer)
        self.turn_lock = asyncio.Lock()  # one turn at a time (voice turns run beside the receive loop)

    # ------------------------------------------------------------------ sending
    async def send(self, msg: dict[str, Any]) -> None:
        if self.closed or self.ws.client_state != WebSocketState.CONNECTED:
            return
        try:
            await self.ws.send_text(json.dumps(msg, ensure_ascii=False))
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True

    async def send_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            await self.ws.send_bytes(data)
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send(error(code, message, **extra))

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        try:
            while not self.closed:
                timeout = self._next_deadline()
                if timeout is not None and timeout <= 0:  # due, even while audio frames keep coming
                    await self._on_timer()
                    continue
                try:
                    raw = await asyncio.wait_for(self.ws.receive(), timeout=timeout)
                except asyncio.TimeoutError:
                    await self._on_timer()
                    continue
                if raw["type"] == "websocket.disconnect":
                    break
                if raw.get("bytes") is not None:
                    await self._on_bytes(raw["bytes"])
                elif raw.get("text") is not None:
                    await self._on_text_frame(raw["text"])
        except WebSocketDisconnect:
            pass
        except Exception:  # a bug must not lose the call: it stays resumable
            log.exception("call connection failed")
            await self.send_error(ErrorCode.INTERNAL, "internal error; the call can be resumed / 服务器内部错误，可恢复通话")
        finally:
            self.closed = True
            if self.voice is not None:
                await self.voice.close()
            if self.rt is not None:
                if self.rt.finished:
                    self.registry.remove(self.rt)
                else:
                    self.registry.detach(self.rt)

    @property
    def registry(self):
        return self.ctx.extras["registry"]

    def _silence_limit(self) -> float:
        assert self.rt is not None
        return self.rt.scenario.silence_timeout_s or self.ctx.settings.silence_timeout_s

    def _next_deadline(self) -> float | None:
        """Seconds until the next timer (time limit or silence prompt); <= 0 when it is due."""
        if self.rt is None or self.rt.finished:
            return None
        deadline = self.rt.remaining()
        if self.voice is None or not self.voice.busy():
            deadline = min(deadline, self._silence_limit() - (self.rt.elapsed() - self.last_activity))
        elif self.voice is not None:
            deadline = min(deadline, 0.25)  # look again soon: the voice may go quiet without a frame
        return deadline

    def touch(self) -> None:
        if self.rt is not None:
            self.last_activity = self.rt.elapsed()

    async def _on_timer(self) -> None:
        rt = self.rt
        if rt is None or rt.finished:
            return
        if rt.remaining() <= 0:
            await self.finish("time_limit")
            return
        if self.voice is not None and self.voice.busy():
            return  # not silent after all (the voice became busy since the deadline was computed)
        if self.rt.elapsed() - self.last_activity < self._silence_limit():
            return
        async with self.turn_lock:
            if rt.finished:
                return
            reply = await rt.silence(on_delta=self._delta_sender(rt.next_idx))
            self.touch()  # (also when there was no reply: the timer must not fire again at once)
            if reply is not None:
                await self._send_reply(reply)

    # ------------------------------------------------------------------ frames
    async def _on_text_frame(self, text: str) -> None:
        if len(text.encode("utf-8")) > self.ctx.settings.max_message_bytes:
            await self.send_error(ErrorCode.TOO_LARGE,
                                  f"message over {self.ctx.settings.max_message_bytes} bytes / 消息过大")
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            await self.send_error(ErrorCode.BAD_JSON, f"malformed JSON: {exc.msg} / JSON 格式错误")
            return
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            await self.send_error(ErrorCode.BAD_MESSAGE, "a message is a JSON object with a string `type` / 消息须含 type 字段")
            return
        if data["type"] not in CLIENT_TYPES:
            await self.send_error(ErrorCode.UNKNOWN_TYPE, f"unknown message type {data['type']!r} / 未知消息类型",
                                  allowed=list(CLIENT_TYPES))
            return
        try:
            msg = client_adapter.validate_python(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"][1:])
            code = ErrorCode.BAD_AUDIO if field.startswith("audio") else ErrorCode.BAD_MESSAGE
            await self.send_error(code, f"{field}: {first['msg']} / 消息字段错误")
            return
        try:
            if isinstance(msg, StartMsg):
                await self.on_start(msg)
            elif isinstance(msg, TextMsg):
                await self.on_text(msg)
            elif isinstance(msg, EndMsg):
                await self.on_end()
            elif isinstance(msg, PlaybackMsg):
                await self.on_playback(msg)
            elif isinstance(msg, PingMsg):
                await self.send({"type": "pong"})
        except CallError as exc:
            await self.send_error(exc.code, exc.message)

    async def _on_bytes(self, data: bytes) -> None:
        if len(data) > self.ctx.settings.max_message_bytes:
            await self.send_error(ErrorCode.TOO_LARGE, "audio frame too large / 音频帧过大")
            return
        if self.rt is None:
            await self.send_error(ErrorCode.NOT_STARTED, "send `start` before audio / 请先发送 start")
            return
        if self.voice is None:
            await self.send_error(ErrorCode.NOT_VOICE, "this call was started without `audio` / 本通话为文字模式")
            return
        await self.voice.feed(data)

    # ------------------------------------------------------------------ messages
    async def on_start(self, msg: StartMsg) -> None:
        if self.rt is not None:
            raise CallError(ErrorCode.ALREADY_STARTED, "the call has already started / 通话已开始")
        voice_cls = self._voice_class() if msg.audio is not None else None
        if voice_cls is not None:
            voice_cls.check_format(msg.audio)  # refuse bad audio before a session exists
        if msg.resume:
            rt = self.registry.attach(msg.resume)
            resumed = True
        else:
            if not msg.scenario:
                raise CallError(ErrorCode.BAD_MESSAGE, "`scenario` is required / 缺少 scenario")
            rt = await CallRuntime.start(
                self.ctx, scenario_id=msg.scenario, mode=msg.mode, language=msg.language, seed=msg.seed,
                engine=msg.engine, trainee=msg.trainee, channel="voice" if msg.audio else "text",
            )
            self.registry.add(rt)
            resumed = False
        self.rt = rt
        self.touch()
        if voice_cls is not None:
            await self._start_voice(voice_cls, msg, resumed)
        started = {
            "type": "started",
            "session_id": rt.id,
            "mode": rt.mode,
            "language": rt.language,
            "engine": rt.session.engine,
            "time_limit_s": rt.scenario.time_limit_s,
            "elapsed_s": round(rt.elapsed(), 3),
            "scenario": rt.trainee_view(),
            "opening": {"text": rt.opening_text, "move": "opening", "turn": 0},
            "resumed": resumed,
        }
        if resumed:
            started["turns"] = rt.transcript()
        if self.voice is not None:
            started["audio"] = self.voice.describe()
        await self.send(started)
        await self._send_state()
        if self.voice is not None and not resumed:
            await self.voice.speak(0, rt.opening_text)

    @staticmethod
    def _voice_class():
        try:
            from server.speech.call_audio import VoiceCall
        except ImportError:
            raise CallError(ErrorCode.BAD_AUDIO, "voice calls are not available on this server / 本服务器不支持语音通话") from None
        return VoiceCall

    async def _start_voice(self, voice_cls, msg: StartMsg, resumed: bool) -> None:
        try:
            self.voice = await voice_cls.create(self, msg.audio)
        except Exception as exc:
            rt, self.rt = self.rt, None
            if rt is not None and not resumed:  # a call that never started: not left half-open
                self.registry.remove(rt)
                rt.finish("voice_unavailable", status="abandoned")
            elif rt is not None:
                self.registry.detach(rt)
            if isinstance(exc, CallError):
                raise
            log.exception("voice call could not start")
            raise CallError(ErrorCode.BAD_AUDIO, f"voice call could not start: {exc} / 语音通话无法开始") from None

    async def on_text(self, msg: TextMsg) -> None:
        async with self.turn_lock:
            rt = self._require_call()
            self.touch()
            reply = await rt.agent_says(msg.text.strip(), on_delta=self._delta_sender(rt.next_idx + 1))
            self.touch()
            await self._send_reply(reply)

    async def agent_turn(self, text: str, *, timing: Any = None, **kw: Any) -> Reply:
        """Used by the voice pipeline once a spoken turn is final (``kw``: start_s, end_s,
        interrupted, metrics for CallRuntime.agent_says; ``timing``: the voice turn's stopwatch)."""
        async with self.turn_lock:
            rt = self._require_call()
            self.touch()
            if timing is not None and self.voice is not None:
                self.voice.expect_reply(rt.next_idx + 1, timing)
            reply = await rt.agent_says(text, on_delta=self._delta_sender(rt.next_idx + 1), **kw)
            self.touch()
            await self._send_reply(reply)
            return reply

    async def on_end(self) -> None:
        self._require_call()
        await self.finish("agent_ended")

    async def on_playback(self, msg: PlaybackMsg) -> None:
        self._require_call()
        if self.voice is None:
            raise CallError(ErrorCode.NOT_VOICE, "playback reports are for voice calls / 仅语音通话使用")
        await self.voice.on_playback(msg)

    def _require_call(self) -> CallRuntime:
        if self.rt is None:
            raise CallError(ErrorCode.NOT_STARTED, "send `start` first / 请先发送 start")
        if self.rt.finished:
            raise CallError(ErrorCode.CALL_ENDED, "the call has ended / 通话已结束")
        return self.rt

    # ------------------------------------------------------------------ replies
    def _delta_sender(self, turn: int):
        async def on_delta(text: str) -> None:
            if self.rt is not None and self.rt.engine.name != "scripted":
                await self.send({"type": "customer_delta", "turn": turn, "text": text})
            if self.voice is not None:  # speaking starts on the first sentence, not the whole reply
                await self.voice.on_delta(turn, text)
        return on_delta

    async def _send_reply(self, reply: Reply) -> None:
        await self.send({"type": "customer", "text": reply.customer_text, "move": reply.move.kind.value,
                         "turn": reply.customer_idx, "engine": reply.engine})
        await self._send_state()
        if self.voice is not None:
            await self.voice.speak(reply.customer_idx, reply.customer_text)
        if reply.ended:  # the customer's last words (goodbye, hanging up) are heard before `ended`
            await self.finish(reply.state.end_reason or "ended", play_out=True)

    async def _send_state(self) -> None:
        rt = self.rt
        if rt is None or rt.mode != "practice":
            return
        await self.send({"type": "state", **rt.public_state()})
        hint = hint_text(rt.scenario, rt.director.state, rt.language)
        if hint is not None:
            await self.send({"type": "hint", "key": hint[0], "text": hint[1]})

    async def finish(self, reason: str, play_out: bool = False) -> None:
        rt = self.rt
        if rt is None:
            return
        if self.voice is not None:
            await self.voice.drain(play_out=play_out)
            await self.voice.close(wait_turns=False)  # the recording is complete before `ended`
        scorecard_id = rt.finish(reason) if not rt.finished else rt.scorecard_id
        await self.send({"type": "ended", "reason": rt.end_reason, "session_id": rt.id, "scorecard_id": scorecard_id})
        self.registry.remove(rt)
        self.closed = True
        try:
            await self.ws.close()
        except RuntimeError:
            pass


@router.websocket("/ws/call")
async def call_websocket(ws: WebSocket) -> None:
    await ws.accept()
    await CallConnection(ws, ws.app.state.ctx).run()
