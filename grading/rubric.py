"""Rubrics: versioned YAML that says what is scored, how many points, and what each rule costs.

A rubric is language-neutral: names and tips carry a text per language. Every criterion names a
built-in rule (see `grading.rules.RULES`) and may tune it with `params`. Teachers copy a rubric,
edit it and drop it in their rubric folder (Settings.rubric_dir); `load_rubric_file` validates it
and its errors name the file, the field and the line (shared with scenario YAML, personas.yaml_lines).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from grading.rules import BLOCKER_RULES, RULES
from personas.yaml_lines import YamlError, _line_for, load_yaml_with_lines

BUILTIN_RUBRIC_DIR = Path(__file__).resolve().parent / "rubrics"
_ID = r"^[a-z0-9][a-z0-9_-]{1,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LText(_Strict):
    """A text in each language; a missing language falls back to the other one."""

    zh: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one(self) -> LText:
        if not (self.zh or self.en):
            raise ValueError("give the text in at least one language (zh or en)")
        return self

    def get(self, lang: str) -> str:
        return (self.zh if lang == "zh" else self.en) or self.zh or self.en or ""


class ParamError(ValueError):
    """A bad rule parameter; `key` lets the error point at that key's own line."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def _check_params(rule_params: dict[str, Any], params: dict[str, Any], rule: str) -> dict[str, Any]:
    unknown = sorted(set(params) - set(rule_params))
    if unknown:
        allowed = ", ".join(sorted(rule_params)) or "none"
        raise ParamError(f"rule {rule!r} has no parameter(s) {unknown}; it takes: {allowed}", unknown[0])
    for k, v in params.items():
        default = rule_params[k]
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ParamError(f"parameter {k!r} must be true or false", k)
        elif isinstance(default, (int, float)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParamError(f"parameter {k!r} must be a number", k)
        elif isinstance(default, (list, tuple)):
            if (not isinstance(v, (list, tuple)) or len(v) != len(default)
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
                raise ParamError(f"parameter {k!r} must be a list of {len(default)} numbers", k)
        elif isinstance(default, str):
            if not isinstance(v, str):
                raise ParamError(f"parameter {k!r} must be text", k)
    return params


class CriterionSpec(_Strict):
    id: str = Field(pattern=_ID)
    rule: str
    name: LText
    points: float = Field(gt=0, le=100)
    per_breach: float | None = Field(default=None, gt=0, description="deduction per breach (capped at points)")
    params: dict[str, Any] = Field(default_factory=dict)
    tip: LText  # 正确做法: the correct behaviour, shown with every finding of this criterion
    judge: bool = False  # the optional LLM judge may move this criterion within the rubric's band

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        if v not in RULES:
            raise ValueError(f"unknown rule {v!r}; known rules: {', '.join(sorted(RULES))}")
        return v

    @field_validator("params")
    @classmethod
    def _known_params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        rule = info.data.get("rule")
        if rule not in RULES:
            return v
        return _check_params(RULES[rule].params, v, rule)

    @field_validator("per_breach")
    @classmethod
    def _per_breach_rule(cls, v: float | None, info: ValidationInfo) -> float | None:
        rule = info.data.get("rule")
        if v is not None and rule in RULES and not RULES[rule].per_breach:
            raise ValueError(f"rule {rule!r} is scored as a whole; per_breach applies only to breach rules "
                             f"({', '.join(sorted(k for k, r in RULES.items() if r.per_breach))})")
        return v

    def param(self, key: str) -> Any:
        if key in self.params:
            return self.params[key]
        return RULES[self.rule].params[key]

    def breach_cost(self) -> float:
        return self.per_breach if self.per_breach is not None else self.points


class DimensionSpec(_Strict):
    id: str = Field(pattern=_ID)
    name: LText
    weight: float = Field(gt=0, le=100)
    criteria: list[CriterionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _points_sum(self) -> DimensionSpec:
        total = sum(c.points for c in self.criteria)
        if not math.isclose(total, self.weight, abs_tol=1e-6):
            raise ValueError(f"the criteria of dimension {self.id!r} add up to {total:g} points "
                             f"but its weight is {self.weight:g}: they must be equal")
        return self


class BlockerSpec(_Strict):
    id: str = Field(pattern=_ID)
    rule: str
    name: LText
    tip: LText
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        if v not in BLOCKER_RULES:
            raise ValueError(f"unknown blocker rule {v!r}; known: {', '.join(sorted(BLOCKER_RULES))}")
        return v

    @field_validator("params")
    @classmethod
    def _known_params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        rule = info.data.get("rule")
        if rule not in BLOCKER_RULES:
            return v
        return _check_params(BLOCKER_RULES[rule].params, v, rule)


class JudgeSpec(_Strict):
    band: float = Field(default=0.25, gt=0, le=1, description="a judged criterion moves at most band x its points")
    min_valid_runs: int = Field(default=1, ge=1, description="runs with a verified quote needed to move a criterion")


class Rubric(_Strict):
    id: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    name: LText
    description: LText | None = None
    pass_mark: float = Field(default=60, ge=0, le=100)
    dimensions: list[DimensionSpec] = Field(min_length=1)
    blockers: list[BlockerSpec] = Field(default_factory=list)
    judge: JudgeSpec = Field(default_factory=JudgeSpec)

    @field_validator("dimensions")
    @classmethod
    def _weights(cls, v: list[DimensionSpec]) -> list[DimensionSpec]:
        total = sum(d.weight for d in v)
        if not math.isclose(total, 100.0, abs_tol=1e-6):
            raise ValueError(f"dimension weights add up to {total:g}; they must add up to 100")
        ids = [d.id for d in v]
        crit = [c.id for d in v for c in d.criteria]
        for kind, seq in (("dimension", ids), ("criterion", crit)):
            dup = sorted({x for x in seq if seq.count(x) > 1})
            if dup:
                raise ValueError(f"{kind} ids must be unique; repeated: {dup}")
        return v

    @field_validator("blockers")
    @classmethod
    def _unique_blockers(cls, v: list[BlockerSpec]) -> list[BlockerSpec]:
        ids = [b.id for b in v]
        dup = sorted({x for x in ids if ids.count(x) > 1})
        if dup:
            raise ValueError(f"blocker ids must be unique; repeated: {dup}")
        return v

    def criterion(self, criterion_id: str) -> CriterionSpec | None:
        for d in self.dimensions:
            for c in d.criteria:
                if c.id == criterion_id:
                    return c
        return None


def load_rubric_file(path: Path | str) -> Rubric:
    """Validate one rubric file; raises YamlError naming the file, field and line (for a bad rule
    parameter, the line of that parameter)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError(str(path), [("", None, f"cannot read file: {exc}")]) from exc
    data, lines = load_yaml_with_lines(text, str(path))
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            cause = (err.get("ctx") or {}).get("error")
            if isinstance(cause, ParamError):
                loc = loc + (cause.key,)
            field = ".".join(str(p) for p in loc)
            problems.append((field, _line_for(loc, lines), err["msg"]))
        raise YamlError(str(path), problems) from None


@dataclass
class RubricSet:
    """All rubrics found: built-in ones first, then the teacher folder (which may override by id)."""

    rubrics: dict[str, Rubric] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # builtin | teacher
    errors: list[YamlError] = field(default_factory=list)

    def get(self, rubric_id: str | None) -> Rubric:
        rid = rubric_id or "default"
        try:
            return self.rubrics[rid]
        except KeyError:
            raise KeyError(f"unknown rubric {rid!r}; known: {', '.join(sorted(self.rubrics)) or 'none'}") from None

    def __iter__(self):
        return iter(self.rubrics.values())

    def __len__(self) -> int:
        return len(self.rubrics)


def _scan(directory: Path, source: str, out: RubricSet) -> None:
    if not directory.is_dir():
        return
    for path in sorted(list(directory.glob("*.yaml")) + list(directory.glob("*.yml"))):
        try:
            rubric = load_rubric_file(path)
        except YamlError as exc:
            out.errors.append(exc)
            continue
        if rubric.id in out.rubrics and out.sources[rubric.id] == source:
            out.errors.append(YamlError(str(path), [("id", None, f"duplicate rubric id {rubric.id!r} "
                                                                 f"(also in {out.paths[rubric.id]})")]))
            continue
        out.rubrics[rubric.id] = rubric
        out.paths[rubric.id] = path
        out.sources[rubric.id] = source


def list_rubrics(teacher_dir: Path | str | None = None) -> RubricSet:
    """Built-in rubrics (grading/rubrics/*.yaml) plus a teacher folder; a teacher rubric with the id of a
    built-in one replaces it (copy default.yaml, keep the id, raise the version)."""
    return _cached_rubrics(str(teacher_dir) if teacher_dir else None, _dir_stamp(teacher_dir))


def _dir_stamp(directory: Path | str | None) -> tuple:
    """Changes when a teacher edits, adds or removes a rubric file: the cache then reloads."""
    stamps = []
    for d in (BUILTIN_RUBRIC_DIR, Path(directory) if directory else None):
        if d is None or not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix in (".yaml", ".yml"):
                st = p.stat()
                stamps.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(stamps)


@lru_cache(maxsize=8)
def _cached_rubrics(teacher_dir: str | None, _stamp: tuple) -> RubricSet:
    out = RubricSet()
    _scan(BUILTIN_RUBRIC_DIR, "builtin", out)
    if teacher_dir:
        _scan(Path(teacher_dir), "teacher", out)
    return out


def resolve_rubric(ref: str | None, teacher_dir: Path | str | None = None) -> Rubric:
    """A rubric by id, or by path to a YAML file (a teacher trying out an edited copy)."""
    if ref and (ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref):
        return load_rubric_file(Path(ref))
    return list_rubrics(teacher_dir).get(ref)


def default_rubric() -> Rubric:
    return list_rubrics().get("default")
