"""The built-in scenario library: it loads, covers the curriculum, and every persona can be won and lost.

Each scenario has scripted calls in tests/personas/data/calls/<id>.yaml: per language a `win` list (a
good agent) and a `lose` list (rude, blaming, apology-only or pushy). They are driven through the real
act detector, director and scripted engine, exactly as a text-mode call is.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from personas.director import Director
from personas.engines.base import EngineContext, HistoryTurn
from personas.engines.scripted import ScriptedEngine
from personas.library import BUILTIN_DIR, Library, load_library, load_scenario_file
from personas.moves import MoveKind
from personas.schema import Direction, Level, Scenario, Temperament, TraineeScenario

CALLS_DIR = Path(__file__).parent / "data" / "calls"
LIBRARY = Library([BUILTIN_DIR])  # a fresh load: the cached one may have been built before a file changed
SCENARIO_IDS = sorted(LIBRARY.scenarios)


def _calls(scenario_id: str) -> dict:
    path = CALLS_DIR / f"{scenario_id}.yaml"
    assert path.exists(), f"no scripted calls for {scenario_id}: add {path}"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def play(scenario: Scenario, lang: str, lines: list[str], seed: int | None = None):
    """Run a scripted call; return (director, moves, transcript). Every customer move is put into words."""
    d, engine, history = Director(scenario, lang), ScriptedEngine(), []
    seed = scenario.seed if seed is None else seed
    moves = []

    def say(move) -> None:
        ctx = EngineContext(scenario, lang, move, d.state, len(history), seed, list(history))
        text = asyncio.run(engine.render(ctx))  # raises LookupError when a move has no usable line
        assert text.strip(), f"{scenario.id}/{lang}: empty line for {move.kind}"
        assert "{" not in text, f"{scenario.id}/{lang}: unfilled slot in {text!r} ({move.kind})"
        history.append(HistoryTurn("customer", text))

    say(d.opening())
    for i, line in enumerate(lines):
        assert not d.state.ended, (
            f"{scenario.id}/{lang}: the call ended ({d.state.end_reason}) before line {i}: {line!r}\n"
            + _transcript(history))
        move = d.step(d.detect(line))
        history.append(HistoryTurn("agent", line))
        moves.append(move)
        say(move)
    return d, moves, history


def _transcript(history: list[HistoryTurn]) -> str:
    return "\n".join(f"  {h.speaker}: {h.text}" for h in history)


# ---------------------------------------------------------------------------------------------- loading

def test_library_loads_without_errors():
    assert LIBRARY.errors == [], "\n".join(str(e) for e in LIBRARY.errors)
    assert len(LIBRARY) >= 13


def test_cached_library_matches_the_files():
    assert set(load_library().scenarios) <= set(LIBRARY.scenarios)


def test_levels_and_directions_are_covered():
    levels = Counter(s.level for s in LIBRARY)
    directions = Counter(s.direction for s in LIBRARY)
    for level in Level:
        assert levels[level] >= 3, f"only {levels[level]} scenario(s) at {level.value}"
    assert directions[Direction.OUTBOUND] >= 4
    assert directions[Direction.INBOUND] >= 4


def test_archetypes_are_covered():
    temperaments = Counter(s.persona.temperament for s in LIBRARY)
    for t in (Temperament.ANGRY, Temperament.HESITANT, Temperament.CONFUSED, Temperament.DEMANDING,
              Temperament.ABUSIVE, Temperament.POLITE):
        assert temperaments[t] >= 1, f"no {t.value} persona"
    rules = [s.persona.rules for s in LIBRARY]
    assert any(r.threaten_regulator_anger is not None for r in rules)
    assert any(r.demand_manager_turn is not None or r.demand_manager_anger is not None for r in rules)
    assert any(r.abuse_anger is not None for r in rules)
    assert any(f.required_for_offer for s in LIBRARY for f in s.persona.facts)
    assert any(not o.allowed and o.acceptable for s in LIBRARY for o in s.offers)


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_every_scenario_is_bilingual_and_validates_on_its_own(scenario_id):
    path = LIBRARY.paths[scenario_id]
    scenario = load_scenario_file(path)
    assert scenario.id == scenario_id == path.stem
    assert set(scenario.languages) == {"zh", "en"}


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_every_scenario_has_scripted_calls(scenario_id):
    calls = _calls(scenario_id)
    scenario = LIBRARY.get(scenario_id)
    for lang in scenario.languages:
        assert calls[lang]["win"] and calls[lang]["lose"], f"{scenario_id}: {lang} needs win and lose lines"


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_calls_file_names_only_library_scenarios(scenario_id):
    assert {p.stem for p in CALLS_DIR.glob("*.yaml")} <= set(SCENARIO_IDS)


# ------------------------------------------------------------------------------------ trainee view

@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_trainee_view_holds_no_secrets(scenario_id):
    scenario = LIBRARY.get(scenario_id)
    for lang in scenario.languages:
        view = TraineeScenario.from_scenario(scenario, lang).model_dump_json()
        text = json.dumps(json.loads(view), ensure_ascii=False)
        for secret in scenario.persona.secret_strings(lang):
            assert secret not in text, f"{scenario_id}/{lang}: trainee view shows the secret {secret!r}"
        assert scenario.persona.identity.name not in text, f"{scenario_id}/{lang}: trainee view names the customer"
        for offer in scenario.offers:
            if not offer.allowed:
                assert offer.id not in {o["id"] for o in json.loads(view)["offers"]}


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_persona_lines_are_varied(scenario_id):
    """Every move a persona overrides has at least two lines, and its openings are written per language."""
    persona = LIBRARY.get(scenario_id).persona
    for lang, bank in persona.responses.items():
        for kind, lines in bank.items():
            assert len(lines) >= 2, f"{scenario_id}/{lang}: {kind} has only {len(lines)} line(s)"
    for lang in LIBRARY.get(scenario_id).languages:
        assert len(persona.opening[lang]) >= 1
        for f in persona.facts:
            assert f.text.zh and f.text.en, f"{scenario_id}: fact {f.id} needs zh and en text"


# -------------------------------------------------------------------------------------- the calls

@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_good_agent_wins(scenario_id, lang):
    scenario = LIBRARY.get(scenario_id)
    d, moves, history = play(scenario, lang, _calls(scenario_id)[lang]["win"])
    kinds = [m.kind for m in moves]
    assert d.state.ended and d.state.end_reason == "resolved", (
        f"{scenario_id}/{lang}: {d.state.end_reason}, moves {[k.value for k in kinds]}\n" + _transcript(history))
    assert kinds[-1] == MoveKind.GOODBYE
    assert MoveKind.ACCEPT in kinds
    accepted = scenario.offer(d.state.accepted_offer)
    assert accepted is not None and accepted.allowed and accepted.acceptable, (
        f"{scenario_id}/{lang}: the win script must succeed with an allowed offer, got {d.state.accepted_offer}")
    # a good agent never breaches and leaves the customer calmer than they started
    assert d.state.breaches == 0
    assert d.state.anger <= scenario.persona.mood.anger


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_bad_agent_loses(scenario_id, lang):
    scenario = LIBRARY.get(scenario_id)
    d, moves, history = play(scenario, lang, _calls(scenario_id)[lang]["lose"])
    kinds = [m.kind for m in moves]
    assert d.state.ended and d.state.end_reason == "customer_hung_up", (
        f"{scenario_id}/{lang}: {d.state.end_reason}, moves {[k.value for k in kinds]}\n" + _transcript(history))
    assert kinds[-1] == MoveKind.HANG_UP
    assert MoveKind.ACCEPT not in kinds


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_any_seed_has_a_line_for_every_move(scenario_id, seed):
    """Wording varies by seed; the director's moves do not, and each must find a line."""
    scenario = LIBRARY.get(scenario_id)
    for lang in scenario.languages:
        for kind in ("win", "lose"):
            d, _, _ = play(scenario, lang, _calls(scenario_id)[lang][kind], seed=seed)
            assert d.state.ended


# ------------------------------------------------------------------------------- archetype checks

def _moves(scenario_id: str, lang: str, kind: str) -> list[MoveKind]:
    scenario = LIBRARY.get(scenario_id)
    _, moves, _ = play(scenario, lang, _calls(scenario_id)[lang][kind])
    return [m.kind for m in moves]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_regulator_threat_is_heard_on_a_badly_handled_bill(lang):
    assert MoveKind.THREATEN_REGULATOR in _moves("telecom-bill-roaming-angry", lang, "lose")
    assert MoveKind.THREATEN_REGULATOR not in _moves("telecom-bill-roaming-angry", lang, "win")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_consumer_association_threat_on_a_brushed_off_defect(lang):
    assert MoveKind.THREATEN_REGULATOR in _moves("appliance-defect-12315", lang, "lose")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_manager_demand_is_met_with_a_supervisor_call_back(lang):
    scenario = LIBRARY.get("furniture-delivery-manager")
    d, moves, _ = play(scenario, lang, _calls(scenario.id)[lang]["win"])
    kinds = [m.kind for m in moves]
    assert MoveKind.DEMAND_MANAGER in kinds
    assert kinds.index(MoveKind.DEMAND_MANAGER) < kinds.index(MoveKind.ACCEPT)
    assert "supervisor_callback" in d.state.offers_made
    assert MoveKind.DEMAND_MANAGER in _moves("furniture-delivery-manager", lang, "lose")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_abusive_caller_calms_after_a_polite_warning_and_leaves_on_abuse_returned(lang):
    win = _moves("food-delivery-abusive", lang, "win")
    assert win[0] == MoveKind.ABUSE and MoveKind.CALM_AFTER_WARNING in win
    assert win.count(MoveKind.ABUSE) == 1
    lose = _moves("food-delivery-abusive", lang, "lose")
    assert MoveKind.ABUSE in lose and MoveKind.CALM_AFTER_WARNING not in lose


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_elderly_caller_is_lost_by_jargon_and_long_explanations(lang):
    lose = _moves("bank-card-locked-elderly", lang, "lose")
    assert lose.count(MoveKind.CONFUSED) >= 3
    assert MoveKind.CONFUSED not in _moves("bank-card-locked-elderly", lang, "win")


@pytest.mark.parametrize("scenario_id", [s.id for s in LIBRARY if s.persona.objections])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_objection_is_answered_before_the_yes(scenario_id, lang):
    scenario = LIBRARY.get(scenario_id)
    d, moves, _ = play(scenario, lang, _calls(scenario_id)[lang]["win"])
    assert set(d.state.objections_answered) == {o.id for o in scenario.persona.objections}
    kinds = [m.kind for m in moves]
    assert MoveKind.RAISE_OBJECTION in kinds[: kinds.index(MoveKind.ACCEPT)]


@pytest.mark.parametrize("scenario_id", [s.id for s in LIBRARY if any(f.required_for_offer for f in s.persona.facts)])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_win_scripts_reveal_every_required_fact(scenario_id, lang):
    scenario = LIBRARY.get(scenario_id)
    d, _, _ = play(scenario, lang, _calls(scenario_id)[lang]["win"])
    required = {f.id for f in scenario.persona.facts if f.required_for_offer}
    assert required <= set(d.state.revealed)


EARLY_VISIT = {
    "zh": ["您好，通达宽带客服中心，工号1582，很高兴为您服务。", "为了保障您的账户安全，请问机主姓名和宽带账号是多少？",
           "我为您安排工程师明天上门检修。"],
    "en": ["Good morning, thank you for calling TongDa Broadband, my name is Daniel, agent ID 1582.",
           "For security, could I have the account holder's full name and the broadband account number?",
           "I'll book an engineer visit for tomorrow morning."],
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_technician_visit_before_diagnosis_is_pushed_back(lang):
    scenario = LIBRARY.get("broadband-evening-dropouts")
    d, moves, _ = play(scenario, lang, EARLY_VISIT[lang])
    assert moves[-1].kind == MoveKind.PUSH_BACK_MISSING
    assert d.state.resolution == "open"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_out_of_policy_refund_needs_explanation_and_empathy(lang):
    scenario = LIBRARY.get("gym-refund-outside-policy")
    win = _calls(scenario.id)[lang]["win"]
    full = next(o for o in scenario.offers if o.id == "full_refund")
    assert full.acceptable and not full.allowed  # the customer would take it; the agent may not give it
    # the pro-rata offer alone raises the "explain your rules" objection
    d, moves, _ = play(scenario, lang, win[:6])
    assert moves[-1].kind == MoveKind.RAISE_OBJECTION and moves[-1].objection_id == "explain_rules"
    # the same call without any empathy: the rules explained, but no yes
    cold = [line for i, line in enumerate(win) if i != 2]
    cold.insert(2, {"zh": "请问是什么原因需要退卡呢？", "en": "What's the reason you need to cancel?"}[lang])
    explanation = {"zh": "入会协议第8条写明，办卡7天内是冷静期，可以无理由全额退款；超过7天，就按没用完的天数折算。",
                   "en": "Clause 8 of the membership agreement gives a 7-day cooling-off period with a full refund for any reason; after that, the refund is based on the unused days."}[lang]
    d, moves, _ = play(scenario, lang, cold[:6] + [explanation])
    assert d.state.empathy_count == 0
    assert "explain_rules" in d.state.objections_answered
    assert MoveKind.ACCEPT not in [m.kind for m in moves]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_angry_caller_doubts_the_right_fix_without_empathy(lang):
    scenario = LIBRARY.get("telecom-bill-roaming-angry")
    win = _calls(scenario.id)[lang]["win"]
    plain = {"zh": "请问具体是什么情况呢？", "en": "Could you tell me what happened?"}[lang]
    lines = win[:2] + [plain] + win[3:4] + win[5:6]  # no empathy, no paraphrase
    d, moves, _ = play(scenario, lang, lines)
    assert moves[-1].kind == MoveKind.DOUBT and d.state.resolution == "doubted"


def test_standard_closing_that_names_the_company_ends_the_call():
    scenario = LIBRARY.get("telecom-bill-roaming-angry")
    lines = _calls(scenario.id)["en"]["win"][:-1] + ["Thank you for calling ChangLink Mobile. Have a lovely day, goodbye."]
    d, _, _ = play(scenario, "en", lines)
    assert d.state.end_reason == "resolved"


def test_end_of_turn_falls_back_to_the_server_and_never_inverts():
    from personas.schema import EndOfTurn

    assert EndOfTurn().resolve(0.5, 3.0) == (0.5, 3.0)
    assert EndOfTurn(min_silence_s=1.0).resolve(0.5, 3.0) == (1.0, 3.0)
    assert EndOfTurn(min_silence_s=2.5).resolve(0.5, 2.0) == (2.5, 2.5)  # lifts a lower server maximum
    assert EndOfTurn(max_silence_s=4.0).resolve(0.5, 3.0) == (0.5, 4.0)
    assert LIBRARY.get("bank-card-locked-elderly").end_of_turn.resolve(0.5, 3.0) == (1.0, 4.0)
