"""Precision and recall of the act detector against a labelled set (tests/grading/data/act_labels.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from grading.acts.detector import ActDetector, default_detector
from grading.acts.labels import UTTERANCE_LABELS


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_items(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["items"]


def evaluate(items: list[dict], detector: ActDetector | None = None) -> tuple[dict[tuple[str, str], Score], list[dict]]:
    """Scores per (language, label), and the mistakes (for tuning the phrase lists)."""
    detector = detector or default_detector()
    scores: dict[tuple[str, str], Score] = {}
    mistakes = []
    for item in items:
        got = detector.detect(item["text"], item["lang"]).labels & set(UTTERANCE_LABELS)
        want = set(item["labels"])
        for label in UTTERANCE_LABELS:
            sc = scores.setdefault((item["lang"], label), Score())
            if label in got and label in want:
                sc.tp += 1
            elif label in got:
                sc.fp += 1
            elif label in want:
                sc.fn += 1
        if got != want:
            mistakes.append({"id": item["id"], "text": item["text"], "missing": sorted(want - got), "extra": sorted(got - want)})
    return scores, mistakes


def table(scores: dict[tuple[str, str], Score]) -> str:
    lines = ["| act | zh P | zh R | en P | en R |", "|---|---|---|---|---|"]
    for label in UTTERANCE_LABELS:
        zh, en = scores.get(("zh", label), Score()), scores.get(("en", label), Score())
        lines.append(f"| {label} | {zh.precision:.2f} | {zh.recall:.2f} | {en.precision:.2f} | {en.recall:.2f} |")
    return "\n".join(lines)
