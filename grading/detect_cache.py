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
        # scenario matchers by identity (hashing one hashes all its patterns); each is kept alive here,
        # so an id in the cache key can never be reused by another matcher
        self._matchers: dict[int, ScenarioMatcher] = {}

    def _detect(self, text: str, lang: str, matcher_id: int, verified: bool | None,
                said: frozenset[str]) -> Detection:
        scenario = self._matchers.get(matcher_id) if matcher_id else None
        return self.inner.detect(text, lang, scenario, verified=verified, said=said)

    def detect(self, text: str, lang: str, scenario: ScenarioMatcher | None = None, verified: bool | None = None,
               said: frozenset[str] = frozenset()) -> Detection:
        mid = 0
        if scenario is not None:
            mid = id(scenario)
            if self._matchers.get(mid) is not scenario:
                if len(self._matchers) > 4096:  # a long-running process building matchers per call
                    self._matchers.clear()
                    self._cached.cache_clear()
                self._matchers[mid] = scenario
        return self._cached(text, lang, mid, verified, said if isinstance(said, frozenset) else frozenset(said))

    def book(self, lang: str):
        return self.inner.book(lang)

    def cache_info(self):
        return self._cached.cache_info()

    def cache_clear(self) -> None:
        self._cached.cache_clear()


@lru_cache(maxsize=1)
def grading_detector() -> CachedDetector:
    return CachedDetector(default_detector())
