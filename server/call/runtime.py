"""One live call: the director, the engine and the store, independent of the transport.

The websocket (text or voice) feeds agent utterances in; the runtime stores each turn before the
reply leaves, asks the director for a move, lets the engine word it and stores that too.
A runtime can be rebuilt from the database alone (every turn carries the director's state), which
is how a dropped or crashed call resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grading.acts.detector import Detection
from personas.director import Director, DirectorState
from personas.engines.base import Engine, EngineContext, HistoryTurn
from personas.moves import Move
from personas.schema import Scenario, TraineeScenario
from server.models import CallSession, Turn, utcnow
from server.store import seconds_since

if TYPE_CHECKING:
    from server.deps import AppContext

DeltaCallback = Callable[[str], Awaitable[None]]


class CallError(Exception):
    """A request the call cannot serve; `code` is the protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Reply:
    """What one agent turn produced."""

    agent_idx: int
    detection: Detection
    move: Move
    customer_idx: int
    customer_text: str
    engine: str
    state: DirectorState
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.state.ended


class CallRuntime:
    def __init__(self, ctx: AppContext, session: CallSession, scenario: Scenario, director: Director,
                 engine: Engine, history: list[HistoryTurn], next_idx: int, elapsed_s: float = 0.0):
        self.ctx = ctx
        self.session = session
        self.scenario = scenario
        self.director = director
        self.engine = engine
        self.history = history
        self.next_idx = next_idx
        self._t0 = time.monotonic() - elapsed_s
        self.finished = False
        self.scorecard_id: str | None = session.scorecard_id
        self.attached = False
        self.detached_at: float | None = None
        self.opening_text: str = ""
        self._warm_task: asyncio.Task | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    async def start(cls, ctx: AppContext, *, scenario_id: str, mode: str, language: str | None, seed: int | None,
                    engine: str | None, trainee: str | None, channel: str = "text") -> CallRuntime:
        try:
            scenario = ctx.library.get(scenario_id)
        except KeyError:
            raise CallError("unknown_scenario", f"unknown scenario {scenario_id!r} / 没有这个场景") from None
        lang = language or (ctx.settings.language if ctx.settings.language in scenario.languages else scenario.languages[0])
        if lang not in scenario.languages:
            raise CallError("unsupported_language",
                            f"scenario {scenario.id} supports {scenario.languages}, not {lang!r} / 该场景不支持此语言")
        engine_name = engine or scenario.engine or ctx.settings.resolved_engine()
        if engine_name not in ctx.engines:
            engine_name = "scripted"
        the_seed = seed if seed is not None else (scenario.seed if ctx.settings.seed == 0 else ctx.settings.seed)
        snapshot_id = ctx.store.snapshot(scenario)
        row = ctx.store.create_session(
            scenario_id=scenario.id, snapshot_id=snapshot_id, trainee=trainee, mode=mode, language=lang,
            seed=the_seed, engine=engine_name, channel=channel, info={},
        )
        director = Director(scenario, lang, detector=ctx.detector)
        rt = cls(ctx, row, scenario, director, ctx.engines[engine_name], [], 0)
        move = director.opening()
        text, spoken_by, events = await rt._word(move, None)
        rt._store_customer(move, text, spoken_by, events, start_s=0.0)
        rt.opening_text = text
        warm = getattr(rt.engine, "warm", None)
        if warm is not None:
            ectx = EngineContext(scenario=scenario, language=lang, move=move, state=director.state, turn_index=1,
                                 seed=the_seed, history=list(rt.history))
            rt._warm_task = asyncio.create_task(warm(ectx))
        return rt

    @classmethod
    def resume(cls, ctx: AppContext, session_id: str) -> CallRuntime:
        row = ctx.store.get_session(session_id)
        if row is None:
            raise CallError("unknown_session", f"no session {session_id!r} / 找不到该通话")
        if row.status != "active":
            raise CallError("session_closed", f"session {session_id} is {row.status} / 该通话已结束")
        scenario = ctx.store.load_snapshot(row.snapshot_id)
        if scenario is None:
            raise CallError("unknown_session", "the scenario snapshot is missing / 场景快照缺失")
        turns = ctx.store.turns(session_id)
        state = None
        for t in reversed(turns):
            if t.state:
                state = DirectorState.model_validate(t.state)
                break
        director = Director(scenario, row.language, state=state, detector=ctx.detector)
        history = [HistoryTurn(t.speaker, t.text) for t in turns]
        engine = ctx.engines.get(row.engine, ctx.engines["scripted"])
        rt = cls(ctx, row, scenario, director, engine, history, (turns[-1].idx + 1) if turns else 0,
                 elapsed_s=seconds_since(row.created_at))
        rt.opening_text = turns[0].text if turns else ""
        return rt

    # ------------------------------------------------------------------ views
    @property
    def id(self) -> str:
        return self.session.id

    @property
    def language(self) -> str:
        return self.session.language

    @property
    def mode(self) -> str:
        return self.session.mode

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def remaining(self) -> float:
        return self.scenario.time_limit_s - self.elapsed()

    def trainee_view(self) -> dict[str, Any]:
        return TraineeScenario.from_scenario(self.scenario, self.language).model_dump()

    def transcript(self) -> list[dict[str, Any]]:
        """Turns as the trainee may see them again on resume: speaker and words only."""
        return [{"turn": i, "speaker": h.speaker, "text": h.text} for i, h in enumerate(self.history)]

    def public_state(self) -> dict[str, Any]:
        return self.director.state.public()

    # ------------------------------------------------------------------ the turn
    async def agent_says(self, text: str, *, on_delta: DeltaCallback | None = None, interrupted: bool = False,
                         start_s: float | None = None, end_s: float | None = None,
                         metrics: dict[str, float] | None = None) -> Reply:
        if self.finished or self.director.state.ended:
            raise CallError("call_ended", "the call has ended / 通话已结束")
        t0 = time.perf_counter()
        det = self.director.detect(text)
        move = self.director.step(det, interrupted=interrupted)
        now = self.elapsed()
        agent_idx = self.next_idx
        self.ctx.store.add_turn(
            self.id, agent_idx, "agent", text, acts=det.to_dict(), state=self.director.state.model_dump(mode="json"),
            start_s=start_s if start_s is not None else now, end_s=end_s if end_s is not None else now,
            metrics=dict(metrics or {}),
        )
        self.next_idx += 1
        self.history.append(HistoryTurn("agent", text))
        t1 = time.perf_counter()
        customer_text, spoken_by, events = await self._word(move, on_delta)
        t2 = time.perf_counter()
        timing = {"director_ms": round((t1 - t0) * 1000, 3), "engine_ms": round((t2 - t1) * 1000, 3)}
        customer_idx = self._store_customer(move, customer_text, spoken_by, events, metrics=timing)
        if self.director.state.ended:
            self.finish(self.director.state.end_reason or "ended")
        return Reply(agent_idx, det, move, customer_idx, customer_text, spoken_by, self.director.state, timing)

    async def silence(self, on_delta: DeltaCallback | None = None) -> Reply | None:
        """The agent said nothing for too long: the customer prompts (and may hang up)."""
        if self.finished or self.director.state.ended:
            return None
        move = self.director.on_silence()
        text, spoken_by, events = await self._word(move, on_delta)
        idx = self._store_customer(move, text, spoken_by, events + [{"kind": "silence"}])
        if self.director.state.ended:
            self.finish(self.director.state.end_reason or "ended")
        return Reply(-1, Detection(text="", language=self.language), move, idx, text, spoken_by, self.director.state)

    async def _word(self, move: Move, on_delta: DeltaCallback | None) -> tuple[str, str, list[dict]]:
        ectx = EngineContext(
            scenario=self.scenario, language=self.language, move=move, state=self.director.state,
            turn_index=self.next_idx, seed=self.session.seed, history=list(self.history),
        )
        parts: list[str] = []
        async for delta in self.engine.stream(ectx):
            parts.append(delta)
            if on_delta is not None:
                await on_delta(delta)
        events = [{"kind": e.kind, "detail": e.detail} for e in ectx.events]
        return "".join(parts).strip(), ectx.spoken_by or self.engine.name, events

    def _store_customer(self, move: Move, text: str, spoken_by: str, events: list[dict], start_s: float | None = None,
                        metrics: dict | None = None) -> int:
        idx = self.next_idx
        now = self.elapsed()
        self.ctx.store.add_turn(
            self.id, idx, "customer", text, move=move.kind.value, engine=spoken_by,
            state=self.director.state.model_dump(mode="json"), events=events,
            start_s=start_s if start_s is not None else now, end_s=now, metrics=metrics or {},
        )
        self.next_idx += 1
        self.history.append(HistoryTurn("customer", text))
        return idx

    # ------------------------------------------------------------------ the end
    def finish(self, reason: str, status: str = "ended") -> str | None:
        """Close the session (idempotent) and grade it; returns the scorecard id."""
        if self.finished:
            return self.scorecard_id
        self.finished = True
        if reason == "agent_ended":
            self.director.on_agent_end()
            reason = self.director.state.end_reason or reason
        elif reason == "time_limit":
            self.director.on_time_limit()
        elif not self.director.state.ended:
            self.director.state.ended = True
            self.director.state.end_reason = reason
        self.ctx.store.end_session(self.id, status, reason, self.director.state.model_dump(mode="json"))
        self.session.status = status
        self.session.end_reason = reason
        self.session.ended_at = utcnow()
        if status == "ended" and self.ctx.grader is not None and len(self.history) > 1:
            self.scorecard_id = self.ctx.grader(self.id)
        return self.scorecard_id

    @property
    def end_reason(self) -> str | None:
        return self.session.end_reason


def turn_view(t: Turn) -> dict[str, Any]:
    return {"turn": t.idx, "speaker": t.speaker, "text": t.text}
