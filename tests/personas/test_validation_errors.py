"""A teacher's broken scenario YAML must fail with a message that names the file, the dotted field and
the line, never with a traceback. Each case breaks one thing in a copy of a real library file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from personas.library import BUILTIN_DIR, Library, load_scenario_file
from personas.yaml_lines import YamlError

SOURCE = BUILTIN_DIR / "parcel-late-angry.yaml"
SALES_SOURCE = BUILTIN_DIR / "broadband-upgrade-sales.yaml"


def line_of(text: str, needle: str) -> int:
    """1-based number of the (single) line that contains `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def broken(tmp_path: Path, source: Path, old: str, new: str, name: str = "broken.yaml") -> tuple[Path, str]:
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {source.name}"
    text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path, text


def problem(exc: YamlError, field: str) -> tuple[str, int | None, str]:
    found = [p for p in exc.problems if p[0] == field]
    assert found, f"no problem for {field!r}; got {exc.problems}"
    return found[0]


def assert_names(exc: YamlError, path: Path, field: str, line: int) -> None:
    message = str(exc)
    assert str(path) in message
    assert re.search(rf"^\s+- {re.escape(field)} \(line {line} / 第 {line} 行\): ", message, re.M), message


def test_the_untouched_source_files_validate():
    assert load_scenario_file(SOURCE).id == "parcel-late-angry"
    assert load_scenario_file(SALES_SOURCE).id == "broadband-upgrade-sales"


def test_wrong_type_in_a_nested_mapping(tmp_path):
    path, text = broken(tmp_path, SOURCE, "mood: {anger: 80,", "mood: {anger: furious,")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    line = line_of(text, "anger: furious")
    assert problem(info.value, "persona.mood.anger")[1] == line
    assert_names(info.value, path, "persona.mood.anger", line)
    assert "integer" in str(info.value)


def test_wrong_type_in_a_list_item(tmp_path):
    path, text = broken(tmp_path, SOURCE, "    allowed: false\n", "    allowed: perhaps\n")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    line = line_of(text, "allowed: perhaps")
    assert_names(info.value, path, "offers.3.allowed", line)
    assert "boolean" in str(info.value)


def test_scalar_where_a_list_is_expected(tmp_path):
    path, text = broken(tmp_path, SOURCE, "unlock: [details, reason, tried]", "unlock: details")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    assert_names(info.value, path, "persona.facts.1.unlock", line_of(text, "unlock: details"))


def test_missing_required_nested_field_points_at_its_mapping(tmp_path):
    path, text = broken(tmp_path, SOURCE, "  temperament: angry\n", "")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    # the field is absent, so the line is where the mapping that lacks it starts (persona's first key)
    line = line_of(text, "persona:") + 1
    assert problem(info.value, "persona.temperament") == ("persona.temperament", line, "Field required")
    assert_names(info.value, path, "persona.temperament", line)


def test_missing_required_top_level_field(tmp_path):
    path, text = broken(tmp_path, SOURCE, "level: 初级\n", "")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    assert_names(info.value, path, "level", line_of(text, "id: parcel-late-angry"))


def test_bad_regex_in_an_offer(tmp_path):
    path, text = broken(tmp_path, SOURCE, "zh: ['(加急|优先|特快)", "zh: ['((加急|优先|特快)")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    line = line_of(text, "zh: ['((加急|优先|特快)")
    assert_names(info.value, path, "offers.0.patterns.zh", line)
    message = str(info.value)
    assert "bad regular expression" in message and "((加急|优先|特快)" in message


def test_bad_regex_in_an_objection_answer(tmp_path):
    old = "          - '随时(都)?(可以|能)?[^，。？]{0,6}(取消|退订|改回|降回|换回|退)'\n"
    path, text = broken(tmp_path, SALES_SOURCE, old, old.replace("[^，。？]{0,6}", "[^，。？]{6,0}"))
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    # the list of patterns is the field: its line is where the list starts
    first = line_of(text, "'(不需要|无需|不用|没有|不)[^，。？]{0,4}(签|合约|签约|合同|绑定|捆绑)'")
    assert_names(info.value, path, "persona.objections.2.answers.zh", first)
    assert "bad regular expression" in str(info.value)


def test_unknown_field_is_named(tmp_path):
    path, text = broken(tmp_path, SOURCE, "  voice: {gender: male,", "  voice: {gendre: male,")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    assert_names(info.value, path, "persona.voice.gendre", line_of(text, "gendre: male"))


def test_several_problems_are_all_reported(tmp_path):
    text = SOURCE.read_text(encoding="utf-8")
    text = text.replace("mood: {anger: 80,", "mood: {anger: furious,").replace("    allowed: false\n", "    allowed: perhaps\n")
    path = tmp_path / "two.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    fields = {p[0] for p in info.value.problems}
    assert {"persona.mood.anger", "offers.3.allowed"} <= fields
    assert "2 problem(s)" in str(info.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path, text = broken(tmp_path, SOURCE, "industry: {zh: 快递物流, en: Parcel delivery}", "industry: {zh: 快递物流, en: [Parcel delivery}")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    assert str(path) in str(info.value)
    (field, line, msg), = info.value.problems
    assert "syntax" in msg.lower()
    assert line is not None and abs(line - line_of(text, "en: [Parcel delivery}")) <= 1


def test_consistency_errors_name_the_file(tmp_path):
    # a rule across fields (offer ids unique) is checked after the fields themselves
    text = SOURCE.read_text(encoding="utf-8").replace("id: fee_refund", "id: express_reship")
    dup = tmp_path / "dup.yaml"
    dup.write_text(text, encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_scenario_file(dup)
    assert "offer ids are not unique" in str(info.value)
    assert str(dup) in str(info.value)


def test_library_collects_errors_instead_of_failing(tmp_path):
    good = tmp_path / "lib"
    good.mkdir()
    (good / "parcel-late-angry.yaml").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    bad_path, _ = broken(good, SOURCE, "mood: {anger: 80,", "mood: {anger: furious,", "bad-one.yaml")
    lib = Library([good])
    assert list(lib.scenarios) == ["parcel-late-angry"]
    assert len(lib.errors) == 1 and str(bad_path) in str(lib.errors[0])
    assert "persona.mood.anger" in str(lib.errors[0])


def test_end_of_turn_out_of_order_or_range(tmp_path):
    elderly = BUILTIN_DIR / "bank-card-locked-elderly.yaml"
    path, text = broken(tmp_path, elderly, "end_of_turn: {min_silence_s: 1.0, max_silence_s: 4.0}",
                        "end_of_turn: {min_silence_s: 2.5, max_silence_s: 1.0}")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    line = line_of(text, "end_of_turn:")
    assert_names(info.value, path, "end_of_turn", line)
    assert "must not exceed" in str(info.value)
    path, text = broken(tmp_path, elderly, "min_silence_s: 1.0", "min_silence_s: 0.05", name="fast.yaml")
    with pytest.raises(YamlError) as info:
        load_scenario_file(path)
    assert_names(info.value, path, "end_of_turn.min_silence_s", line_of(text, "end_of_turn:"))
