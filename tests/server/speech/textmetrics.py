"""Character / word error rates for the round-trip tests (edit distance, normalised text)."""

from __future__ import annotations

import re
import unicodedata

_ZH_DIGITS = dict(zip("0123456789", "零一二三四五六七八九"))
_EN_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}


def edit_distance(a: list[str] | str, b: list[str] | str) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def normalize_zh(text: str) -> str:
    import zhconv

    text = zhconv.convert(unicodedata.normalize("NFKC", text), "zh-hans")
    text = "".join(_ZH_DIGITS.get(c, c) for c in text)
    return "".join(c for c in text if c.isalnum()).lower()


def normalize_en(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    words = re.findall(r"[a-z0-9']+", text)
    return [_EN_NUMBERS.get(w, w).strip("'") for w in words if w.strip("'")]


def cer(ref: str, hyp: str, normalize=normalize_zh) -> float:
    r, h = normalize(ref), normalize(hyp)
    return edit_distance(r, h) / max(1, len(r))


def wer(ref: str, hyp: str) -> float:
    r, h = normalize_en(ref), normalize_en(hyp)
    return edit_distance(r, h) / max(1, len(r))


def corpus_cer(pairs, normalize=normalize_zh) -> float:
    errs = sum(edit_distance(normalize(r), normalize(h)) for r, h in pairs)
    return errs / max(1, sum(len(normalize(r)) for r, _ in pairs))


def corpus_wer(pairs) -> float:
    errs = sum(edit_distance(normalize_en(r), normalize_en(h)) for r, h in pairs)
    return errs / max(1, sum(len(normalize_en(r)) for r, _ in pairs))
