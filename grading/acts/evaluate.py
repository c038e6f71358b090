"""Precision and recall of the act detector against a labelled set (tests/grading/data/act_labels.yaml)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from grading.acts.detector import ActDetector, default_detector
from grading.acts.labels import UTTERANCE_LABELS, Breach

# Labels the blind-written set carries. `abuse` and `ask_secret` came after it: no item insults or asks for a
# password, so on the set they can only show false positives (their positives are unit cases in
# tests/grading/test_act_detector.py).
SET_LABELS: tuple[str, ...] = tuple(a for a in UTTERANCE_LABELS if a not in (Breach.ABUSE, Breach.ASK_SECRET))


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


# Rarest labels first: an item is stratified by the first of its labels in this order, so every label has
# positives in both halves. Fixed (not computed from the set) so adding items does not reshuffle the others.
_STRATA_ORDER: tuple[str, ...] = (
    "warn_abuse", "filler", "thank_waiting", "close", "confirm_satisfaction", "hold_request", "greet",
    "self_identify", "verify_identity", "paraphrase", "apologise", "blame_customer", "empathise",
    "disclose_account", "forbidden_phrase", "offer", "explain", "ask_question",
)


def _hash(item_id: str) -> str:
    return hashlib.sha1(item_id.encode("utf-8")).hexdigest()


def split(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """Deterministic dev / held-out test halves, stratified by language and rarest label.

    Within each stratum items are ordered by sha1 of their id and dealt alternately to dev and test; the
    dealer carries on across strata so odd-sized strata do not all favour one half. Tune the phrase lists
    on dev mistakes only; the test half measures generalisation.
    """
    strata: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        labels = set(item["labels"])
        key = next((lab for lab in _STRATA_ORDER if lab in labels), "none")
        strata.setdefault((item["lang"], key), []).append(item)
    dev: list[dict] = []
    test: list[dict] = []
    turn = 0
    for key in sorted(strata):
        for item in sorted(strata[key], key=lambda it: _hash(it["id"])):
            (dev if turn % 2 == 0 else test).append(item)
            turn += 1
    order = {item["id"]: i for i, item in enumerate(items)}
    dev.sort(key=lambda it: order[it["id"]])
    test.sort(key=lambda it: order[it["id"]])
    return dev, test


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
    def p(sc: Score) -> str:  # "-": nothing was predicted, so precision says nothing
        return f"{sc.precision:.2f}" if sc.tp + sc.fp else "-"

    def r(sc: Score) -> str:  # "-": no item carries the label (abuse, ask_secret: see SET_LABELS)
        return f"{sc.recall:.2f}" if sc.tp + sc.fn else "-"

    for label in UTTERANCE_LABELS:
        zh, en = scores.get(("zh", label), Score()), scores.get(("en", label), Score())
        lines.append(f"| {label} | {p(zh)} | {r(zh)} | {p(en)} | {r(en)} |")
    return "\n".join(lines)
