"""Rubrics: the default one, teacher copies, and validation errors that name the file, field and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grading.rubric import BUILTIN_RUBRIC_DIR, Rubric, default_rubric, list_rubrics, load_rubric_file, resolve_rubric
from grading.rules import BLOCKER_RULES, RULES
from grading.service import grade_transcript
from personas.yaml_lines import YamlError
from tests.grading.calib import CALIBRATION_DIR

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = BUILTIN_RUBRIC_DIR / "default.yaml"


def test_default_rubric_shape():
    r = default_rubric()
    assert (r.id, r.pass_mark) == ("default", 60)
    assert sum(d.weight for d in r.dimensions) == 100
    names = {d.id: d.name.zh for d in r.dimensions}
    assert names == {"script": "服务规范", "empathy": "安抚与共情", "resolution": "问题解决", "communication": "沟通技巧"}
    for d in r.dimensions:
        assert sum(c.points for c in d.criteria) == d.weight
        for c in d.criteria:
            assert c.name.zh and c.name.en and c.tip.zh and c.tip.en
    assert {b.rule for b in r.blockers} == {"leak_account", "abuse", "ask_secret"}
    # the required steps each have a criterion
    crit = {c.id for d in r.dimensions for c in d.criteria}
    assert {"opening", "verification", "confirm_need", "hold", "satisfaction", "closing", "forbidden_phrases", "filler",
            "acknowledge", "apology", "empathy_first", "no_blame", "mood", "goal", "next_steps", "confirmed",
            "objections", "speech_rate", "talk_ratio", "interruptions", "response_gap", "repeated_questions"} <= crit


def _write(tmp_path: Path, mutate, name: str = "mine.yaml") -> Path:
    data = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_unknown_rule_names_file_field_and_line(tmp_path):
    def bad(d):
        d["dimensions"][1]["criteria"][2]["rule"] = "empathy_befor_fix"
    path = _write(tmp_path, bad)
    with pytest.raises(YamlError) as ei:
        load_rubric_file(path)
    msg = str(ei.value)
    assert str(path) in msg and "dimensions.1.criteria.2.rule" in msg and "empathy_befor_fix" in msg
    assert f"line {_line_of(path, 'empathy_befor_fix')}" in msg
    assert "empathy_before_fix" in msg  # the list of known rules helps the teacher fix it


def test_weights_and_points_must_add_up(tmp_path):
    def bad(d):
        d["dimensions"][0]["weight"] = 35
    path = _write(tmp_path, bad)
    with pytest.raises(YamlError) as ei:
        load_rubric_file(path)
    msg = str(ei.value)
    assert "dimensions.0" in msg and "35" in msg and "line" in msg
    assert "add up to 105" in msg or "must be equal" in msg


def test_unknown_param_and_misplaced_per_breach(tmp_path):
    def bad(d):
        d["dimensions"][3]["criteria"][0]["params"]["zh_rang"] = [100, 200]
        d["dimensions"][0]["criteria"][0]["per_breach"] = 1
    path = _write(tmp_path, bad)
    with pytest.raises(YamlError) as ei:
        load_rubric_file(path)
    msg = str(ei.value)
    assert "dimensions.3.criteria.0.params" in msg and "zh_rang" in msg and "zh_range" in msg
    assert "dimensions.0.criteria.0.per_breach" in msg
    assert "dimensions.3.criteria.0.params.zh_rang" in msg
    key = _line_of(path, "zh_rang:")  # the wrong key's own line (a block list's value starts one below)
    assert f"line {key}" in msg or f"line {key + 1}" in msg


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\nversion: 1\nname: {zh: 坏的\n", encoding="utf-8")
    with pytest.raises(YamlError) as ei:
        load_rubric_file(path)
    assert "broken.yaml" in str(ei.value) and "line" in str(ei.value)


def test_every_rule_the_default_rubric_uses_exists():
    r = default_rubric()
    for d in r.dimensions:
        for c in d.criteria:
            assert c.rule in RULES
    for b in r.blockers:
        assert b.rule in BLOCKER_RULES


def test_teacher_folder_lists_and_overrides(tmp_path):
    def stricter(d):
        d["id"] = "strict"
        d["version"] = 3
        d["pass_mark"] = 80
        d["name"] = {"zh": "严格标准", "en": "Strict"}
    _write(tmp_path, stricter, "strict.yaml")
    (tmp_path / "bad.yaml").write_text("id: x\n", encoding="utf-8")
    rs = list_rubrics(tmp_path)
    assert {"default", "strict"} <= set(rs.rubrics)
    assert rs.sources["strict"] == "teacher" and rs.sources["default"] == "builtin"
    assert len(rs.errors) == 1 and "bad.yaml" in str(rs.errors[0])

    def override(d):
        d["version"] = 2
        d["pass_mark"] = 70
    _write(tmp_path, override, "default.yaml")
    rs = list_rubrics(tmp_path)
    assert rs.get("default").version == 2 and rs.sources["default"] == "teacher"


def test_scorecard_pins_rubric_and_a_teacher_edit_changes_scores(tmp_path):
    case = CALIBRATION_DIR / "parcel-zh" / "forbidden_phrase.json"
    base = grade_transcript(case)
    assert (base.rubric_id, base.rubric_version) == ("default", 2)

    def harsher(d):
        d["id"] = "harsh"
        d["version"] = 7
        crit = d["dimensions"][0]["criteria"]
        fp = next(c for c in crit if c["id"] == "forbidden_phrases")
        fp["per_breach"] = 6
    path = _write(tmp_path, harsher, "harsh.yaml")
    harsh = grade_transcript(case, rubric=load_rubric_file(path))
    assert (harsh.rubric_id, harsh.rubric_version) == ("harsh", 7)
    assert harsh.total == pytest.approx(base.total - 3)
    # by path too (a teacher trying out an edited copy)
    assert resolve_rubric(str(path)).id == "harsh"


def test_validate_command_checks_rubrics(tmp_path):
    good = _write(tmp_path, lambda d: None, "ok.yaml")

    def bad(d):
        d["pass_mark"] = 160
    broken = _write(tmp_path, bad, "nope.yaml")
    run = lambda *files: subprocess.run([sys.executable, "-m", "server.cli", "validate", "--rubric", *map(str, files)],  # noqa: E731
                                        cwd=ROOT, capture_output=True, text=True, timeout=60)
    ok = run(good)
    assert ok.returncode == 0 and "OK" in ok.stdout
    res = run(broken)
    assert res.returncode == 1 and "pass_mark" in res.stderr and "line" in res.stderr


def test_rubric_model_round_trips():
    r = default_rubric()
    assert Rubric.model_validate(r.model_dump()) == r
