"""The application context: one of each shared part, built once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine as DbEngine

from grading.acts.detector import ActDetector, default_detector
from personas.engines.base import Engine
from personas.engines.scripted import ScriptedEngine
from personas.library import Library, load_library
from server.db import make_engine
from server.settings import Settings
from server.store import CallStore

log = logging.getLogger("callcoach")


@dataclass
class AppContext:
    settings: Settings
    db: DbEngine
    store: CallStore
    library: Library
    detector: ActDetector
    engines: dict[str, Engine]
    grader: Callable[[str], str | None] | None = None
    extras: dict = field(default_factory=dict)  # speech models etc., loaded lazily by their modules

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        db = make_engine(settings.db_url)
        library = load_library(settings.library_dir)
        for err in library.errors:
            log.error("%s", err)
        engines: dict[str, Engine] = {"scripted": ScriptedEngine()}
        if settings.llm_base_url:
            try:
                from personas.engines.llm import LLMEngine  # the LLM engine issue adds this module
            except ImportError:
                log.warning("CALLCOACH_LLM_BASE_URL is set but the llm engine is not available; using scripted")
            else:
                engines["llm"] = LLMEngine(settings, fallback=engines["scripted"])
        ctx = cls(settings=settings, db=db, store=CallStore(db), library=library, detector=default_detector(),
                  engines=engines)
        try:
            from grading.service import make_session_grader
        except ImportError:
            ctx.grader = None
        else:
            ctx.grader = make_session_grader(ctx)
        return ctx
