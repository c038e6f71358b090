"""Practice-mode coaching hints, chosen from the director's state (texts live in hints.yaml)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from personas.director import DirectorState
from personas.moves import MoveKind
from personas.schema import Scenario, Temperament


@lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    return yaml.safe_load((Path(__file__).parent / "hints.yaml").read_text(encoding="utf-8"))


def hint_key(scenario: Scenario, s: DirectorState) -> str | None:
    if s.ended:
        return None
    if s.resolution in ("accepted", "confirmed"):
        return "confirm_and_close"
    if s.last_move == MoveKind.SUSPICIOUS:
        return "never_ask_secret"
    if s.abusing and scenario.persona.temperament == Temperament.ABUSIVE:
        return "warn_politely"
    if s.breaches and s.anger >= 70:
        return "calm_down"
    if scenario.requires_verification and not s.verified and s.turn >= 1:
        return "verify_first"
    if scenario.persona.needs_empathy() and s.empathy_count == 0:
        return "empathise_first"
    if any(o not in s.objections_answered for o in s.objections_raised):
        return "answer_objection"
    if any(f.required_for_offer and f.id not in s.revealed for f in scenario.persona.facts):
        return "ask_details"
    return "give_solution"


def hint_text(scenario: Scenario, s: DirectorState, lang: str) -> tuple[str, str] | None:
    key = hint_key(scenario, s)
    if key is None:
        return None
    return key, _texts()[lang][key]
