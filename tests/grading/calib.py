"""Loading the calibration set (tests/grading/data/calibration): transcripts with their planted breaches."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from grading.scorecard import Scorecard
from grading.service import grade_transcript

CALIBRATION_DIR = Path(__file__).resolve().parent / "data" / "calibration"


@dataclass
class Case:
    path: Path
    family: str
    variant: str
    kind: str
    language: str
    breaks: str | None
    twin_of: str | None
    expect: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.family}/{self.variant}"

    @property
    def exemplary(self) -> bool:
        return self.variant == "exemplary"

    @property
    def blocker(self) -> bool:
        return any(e.get("blocker") for e in self.expect)


def _meta(path: Path) -> tuple[dict, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        doc = json.loads(text)
        return doc["meta"]["calibration"], doc["language"]
    first = text.splitlines()[0]
    assert first.startswith("# calibration:"), path
    lang = "zh" if "坐席：" in text else "en"
    return json.loads(first.split(":", 1)[1]), lang


@lru_cache(maxsize=1)
def cases() -> tuple[Case, ...]:
    out = []
    for path in sorted(CALIBRATION_DIR.glob("*/*")):
        if path.suffix not in (".json", ".txt"):
            continue
        meta, lang = _meta(path)
        out.append(Case(path, meta["family"], meta["variant"], meta["kind"], lang, meta.get("breaks"),
                        meta.get("twin_of"), list(meta.get("expect") or [])))
    return tuple(out)


def families() -> dict[str, list[Case]]:
    fams: dict[str, list[Case]] = {}
    for c in cases():
        fams.setdefault(c.family, []).append(c)
    return fams


_cards: dict[Path, Scorecard] = {}


def card(case: Case) -> Scorecard:
    if case.path not in _cards:
        _cards[case.path] = grade_transcript(case.path)
    return _cards[case.path]
