"""The shared act detector, memoised for grading transcripts.

Detection is a pure function of (text, language, scenario phrasings, verified, what the customer said),
and call-centre speech is formulaic: openings, hold lines, satisfaction checks and closings repeat from
call to call. Grading many transcripts (a class's homework, a benchmark, re-grading with a new rubric)
therefore reuses most detections. This wrapper is the same `ActDetector` behind a bounded LRU cache;
the Detection objects it returns are shared and must be treated as read-only.
"""

from __future__ import annotations

from functools import lru_cache

from grading.acts.detector import ActDetector, Detection, ScenarioMatcher, default_detector


class CachedDetector:
    def __init__(self, inner: ActDetector, maxsize: int = 16384):
        self.inner = inner
        self.books = inner.books
        self._cached = lru_cache(maxsize=maxsize)(self._detect)

    def _detect(self, text: str, lang: str, scenario: ScenarioMatcher | None, verified: bool | None,
                said: frozenset[str]) -> Detection:
        return self.inner.detect(text, lang, scenario, verified=verified, said=said)

    def detect(self, text: str, lang: str, scenario: ScenarioMatcher | None = None, verified: bool | None = None,
               said: frozenset[str] = frozenset()) -> Detection:
        return self._cached(text, lang, scenario, verified, frozenset(said))

    def book(self, lang: str):
        return self.inner.book(lang)

    def cache_info(self):
        return self._cached.cache_info()

    def cache_clear(self) -> None:
        self._cached.cache_clear()


@lru_cache(maxsize=1)
def grading_detector() -> CachedDetector:
    return CachedDetector(default_detector())
