"""The calibration set: exemplary calls and variants that each break one thing, in zh and en, inbound
complaints and outbound sales, with and without a scenario. See data/calibration/build.py."""

from __future__ import annotations

import pytest

from tests.grading.calib import card, cases, families

CASES = cases()
FAMILIES = families()
TWIN_TOLERANCE = 2.0


def test_the_set_is_large_and_varied():
    assert len(CASES) >= 40
    assert {c.language for c in CASES} == {"zh", "en"}
    assert {c.kind for c in CASES} >= {"inbound_complaint", "outbound_sales"}
    assert any(c.path.suffix == ".txt" for c in CASES) and any(c.path.suffix == ".json" for c in CASES)
    wanted = {"skips verification", "uses a forbidden phrase", "fixes without empathy", "empathises but never solves",
              "interrupts the customer", "never closes"}
    for name, fam in FAMILIES.items():
        assert sum(c.exemplary for c in fam) == 1, name
        assert wanted <= {c.breaks for c in fam}, (name, wanted - {c.breaks for c in fam})
        assert any(c.twin_of for c in fam), f"{name} has no reworded twin"
    for c in CASES:
        if c.breaks:
            assert c.expect, f"{c.id} breaks something but declares no planted breach"


@pytest.mark.parametrize("case", [c for c in CASES if c.expect], ids=lambda c: c.id)
def test_planted_breach_is_found_at_its_turn_with_its_words(case):
    sc = card(case)
    for e in case.expect:
        if e.get("blocker"):
            hits = [b for b in sc.blockers if b.rule == e["rule"] and b.turn == e["turn"] and e["quote"] in b.quote]
            assert hits, f"{case.id}: blocker {e} not found; blockers: {[(b.rule, b.turn, b.quote) for b in sc.blockers]}"
            continue
        hits = [f for f in sc.findings if f.criterion == e["criterion"] and f.rule == e["rule"]
                and f.turn == e["turn"] and e["quote"] in f.quote and f.points < 0]
        assert hits, (f"{case.id}: {e} not found; findings: "
                      f"{[(f.criterion, f.turn, f.quote, f.points) for f in sc.findings]}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_exemplary_agent_scores_highest_in_its_family(family):
    fam = FAMILIES[family]
    best = next(c for c in fam if c.exemplary)
    top = card(best)
    assert top.passed and not top.blockers, (family, top.total, [(f.criterion, f.turn) for f in top.findings])
    for c in fam:
        if c.exemplary or c.twin_of == "exemplary":
            continue
        other = card(c)
        if c.blocker:  # a compliance blocker fails the call, whatever its total
            assert not other.passed
            continue
        assert other.total < top.total, f"{c.id} scored {other.total} >= exemplary {top.total}"


@pytest.mark.parametrize("case", [c for c in CASES if c.blocker], ids=lambda c: c.id)
def test_blockers_fail_the_call(case):
    sc = card(case)
    assert sc.blockers and not sc.passed
    assert sc.total >= sc.pass_mark, "the planted blocker should be the only reason this call fails"


@pytest.mark.parametrize("case", [c for c in CASES if c.twin_of], ids=lambda c: c.id)
def test_scores_are_stable_under_harmless_rewording(case):
    twin = next(c for c in FAMILIES[case.family] if c.variant == case.twin_of)
    a, b = card(case), card(twin)
    assert abs(a.total - b.total) <= TWIN_TOLERANCE, (case.id, a.total, twin.id, b.total)
    assert a.passed == b.passed
    # the same criteria lose points (rewording does not move a deduction to another criterion)
    lost_a = {f.criterion for f in a.findings if f.points < -1}
    lost_b = {f.criterion for f in b.findings if f.points < -1}
    assert lost_a == lost_b, (case.id, lost_a ^ lost_b)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_point_is_explained(case):
    sc = card(case)
    texts = {t.turn: t.text for t in sc.transcript}
    for d in sc.dimensions:
        assert d.score == pytest.approx(sum(c.score for c in d.criteria), abs=0.011)
        for c in d.criteria:
            lost = sum(f.points for f in sc.findings if f.criterion == c.id)
            assert c.score == pytest.approx(c.max + lost, abs=0.011), (case.id, c.id)
            for e in c.evidence:
                assert e.quote in texts[e.turn]
    assert sc.total == pytest.approx(sum(d.score for d in sc.dimensions), abs=0.011)
    for f in sc.findings:
        assert f.tip and f.message
        if f.turn is not None:
            assert f.quote and f.quote in texts[f.turn], (case.id, f)


def test_grading_is_deterministic():
    from grading.service import grade_transcript

    for c in CASES[:: max(1, len(CASES) // 8)]:
        a = card(c).model_dump(exclude={"graded_at"})
        b = grade_transcript(c.path).model_dump(exclude={"graded_at"})
        assert a == b, c.id


def test_calibration_files_are_in_sync_with_their_builder(tmp_path, monkeypatch):
    """data/calibration/build.py writes the set; the files on disk must be what it writes."""
    import importlib.util

    from tests.grading.calib import CALIBRATION_DIR

    spec = importlib.util.spec_from_file_location("calibration_build", CALIBRATION_DIR / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "HERE", tmp_path)
    written = mod.build()
    assert len(written) == len(CASES)
    for p in written:
        disk = CALIBRATION_DIR / p.relative_to(tmp_path)
        assert disk.read_text(encoding="utf-8") == p.read_text(encoding="utf-8"), disk
