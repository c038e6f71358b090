"""The scripted engine: the persona's own lines, chosen deterministically for (scenario, seed, turn).

Offline, instant and reproducible: the same scenario and seed always give the same words for the
same moves, and a line is not repeated verbatim within a call while another is available.
"""

from __future__ import annotations

import random
import string
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path

import yaml

from personas.engines.base import Engine, EngineContext
from personas.moves import MoveKind
from personas.schema import Scenario

DEFAULT_BANK_PATH = Path(__file__).resolve().parent.parent / "default_responses.yaml"


@lru_cache(maxsize=1)
def default_bank() -> dict[str, dict[str, list[str]]]:
    data = yaml.safe_load(DEFAULT_BANK_PATH.read_text(encoding="utf-8"))
    return {lang: {str(k): list(v) for k, v in moves.items()} for lang, moves in data.items()}


class _Slots(dict):
    def __missing__(self, key: str) -> str:  # an unknown slot stays visible rather than crashing a call
        return "{" + key + "}"


def template_slots(scenario: Scenario, lang: str, ctx: EngineContext | None = None) -> dict[str, str]:
    p = scenario.persona
    ident = p.identity
    slots = _Slots(
        name=p.name.get(lang),
        company=scenario.company.get(lang),
        phone=ident.phone,
        phone_last4=ident.phone[-4:],
        account_no=ident.account_no or "",
        account_label=ident.account_label.get(lang),
        dob=ident.dob or "",
        address=ident.address or "",
        id_last4=ident.id_last4 or "",
        goal=p.goals.get(lang),
    )
    if ctx is not None:
        move = ctx.move
        if move.fact_id:
            fact = next((f for f in p.facts if f.id == move.fact_id), None)
            if fact is not None and move.fact_id in ctx.released_fact_ids():
                slots["fact"] = fact.text.get(lang)
        if move.objection_id:
            obj = next((o for o in p.objections if o.id == move.objection_id), None)
            if obj is not None:
                slots["objection"] = obj.text.get(lang)
        if move.offer_id:
            offer = scenario.offer(move.offer_id)
            if offer is not None:
                slots["offer"] = offer.label.get(lang)
    return slots


def _usable(line: str, slots: dict) -> bool:
    needed = {name for _, name, _, _ in string.Formatter().parse(line) if name}
    return needed <= set(slots)


class ScriptedEngine(Engine):
    name = "scripted"

    def candidates(self, scenario: Scenario, lang: str, kind: MoveKind) -> list[str]:
        if kind == MoveKind.OPENING:
            return list(scenario.persona.opening.get(lang, []))  # type: ignore[call-overload]
        bank = scenario.persona.responses.get(lang, {})  # type: ignore[arg-type]
        lines = list(bank.get(kind, []))
        if not lines:
            lines = list(default_bank().get(lang, {}).get(kind.value, []))
        return lines

    def line(self, ctx: EngineContext) -> str:
        kind = ctx.move.kind
        slots = template_slots(ctx.scenario, ctx.language, ctx)
        lines = [ln for ln in self.candidates(ctx.scenario, ctx.language, kind) if _usable(ln, slots)]
        if not lines:
            lines = [ln for ln in default_bank().get(ctx.language, {}).get(kind.value, []) if _usable(ln, slots)]
        if not lines:
            raise LookupError(f"no line for move {kind.value!r} in {ctx.language} for scenario {ctx.scenario.id}")
        rng = random.Random(f"{ctx.scenario.id}:{ctx.scenario.version}:{ctx.seed}:{ctx.turn_index}:{kind.value}")
        order = lines[:]
        rng.shuffle(order)
        spoken = {t.text for t in ctx.history if t.speaker == "customer"}
        for candidate in order:
            text = candidate.format_map(slots)
            if text not in spoken:
                return text
        return order[0].format_map(slots)

    async def stream(self, ctx: EngineContext) -> AsyncIterator[str]:
        ctx.spoken_by = self.name
        yield self.line(ctx)
