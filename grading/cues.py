"""The grader's cue lists (cues.yaml), compiled once. See the YAML header for what they are (and are not)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

CUES_PATH = Path(__file__).resolve().parent / "cues.yaml"
KINDS = ("customer_accept", "customer_reject", "customer_thanks", "customer_done", "customer_upset",
         "customer_objection", "time_frame", "weak_offer", "agent_abuse")


@dataclass(frozen=True)
class Cues:
    language: str
    patterns: dict[str, tuple[re.Pattern[str], ...]]

    def search(self, kind: str, text: str) -> re.Match[str] | None:
        for p in self.patterns.get(kind, ()):
            m = p.search(text)
            if m and m.end() > m.start():
                return m
        return None

    def has(self, kind: str, text: str) -> bool:
        return self.search(kind, text) is not None


@lru_cache(maxsize=1)
def _all() -> dict[str, Cues]:
    data = yaml.safe_load(CUES_PATH.read_text(encoding="utf-8"))
    out = {}
    for lang, kinds in data.items():
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"{CUES_PATH}: unknown cue kinds {sorted(unknown)}")
        out[lang] = Cues(lang, {k: tuple(re.compile(p, re.IGNORECASE) for p in v or []) for k, v in kinds.items()})
    return out


def cues(lang: str) -> Cues:
    table = _all()
    return table.get(lang) or table["en"]
