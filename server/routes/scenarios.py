"""Scenario library for trainees: the trainee view only (no hidden facts, no response banks)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request

from personas.schema import TraineeScenario

router = APIRouter(prefix="/api", tags=["scenarios"])


@router.get("/scenarios", response_model=list[TraineeScenario])
def list_scenarios(request: Request, lang: str = Query("zh", pattern="^(zh|en)$")) -> list[TraineeScenario]:
    lib = request.app.state.ctx.library
    return [TraineeScenario.from_scenario(s, lang) for s in lib]


@router.get("/scenarios/{scenario_id}", response_model=TraineeScenario)
def get_scenario(scenario_id: str, request: Request, lang: str = Query("zh", pattern="^(zh|en)$")) -> TraineeScenario:
    lib = request.app.state.ctx.library
    try:
        return TraineeScenario.from_scenario(lib.get(scenario_id), lang)
    except KeyError:
        raise HTTPException(404, f"unknown scenario {scenario_id!r} / 没有这个场景") from None
