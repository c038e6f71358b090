"""The engine interface: turns the director's move into the customer's words, streamed as text deltas.

The scripted engine is the offline default; the LLM engine plugs in beside it and falls back to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from personas.director import DirectorState
from personas.moves import Move
from personas.schema import Scenario


@dataclass
class HistoryTurn:
    speaker: str  # "agent" | "customer"
    text: str


@dataclass
class EngineContext:
    """What an engine may know for one customer turn. Facts not yet released are not in here."""

    scenario: Scenario
    language: str
    move: Move
    state: DirectorState
    turn_index: int  # index of the customer turn being written
    seed: int
    history: list[HistoryTurn] = field(default_factory=list)
    events: list["EngineEvent"] = field(default_factory=list)  # filled by the engine: guard rails, fallbacks
    spoken_by: str = ""  # filled by the engine: which engine's words were used

    def released_fact_ids(self) -> list[str]:
        """Facts the customer may say: only those the director has released (a reveal move releases first)."""
        return list(self.state.revealed)


@dataclass
class EngineEvent:
    """Something noteworthy an engine did (guard-rail failure, regeneration, fallback), stored per turn."""

    kind: str
    detail: str = ""


class Engine(ABC):
    name: str = "engine"

    @abstractmethod
    def stream(self, ctx: EngineContext) -> AsyncIterator[str]:
        """Yield the customer's line as text deltas."""

    async def render(self, ctx: EngineContext) -> str:
        """The whole line (tests and tools; the call streams)."""
        parts = [delta async for delta in self.stream(ctx)]
        return "".join(parts)
