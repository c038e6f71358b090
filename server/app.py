"""The FastAPI application: REST, the call websocket and the web client, on one port."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from server.call.registry import CallRegistry
from server.deps import AppContext
from server.routes import call_ws, scenarios, sessions
from server.settings import Settings, get_settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web_client"
log = logging.getLogger("callcoach")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    ctx = AppContext.build(settings)
    registry = CallRegistry(ctx)
    ctx.extras["registry"] = registry

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        swept = registry.sweep_stale()
        if swept:
            log.info("closed %d call(s) left active by an earlier process as abandoned", swept)
        yield
        await registry.close_all()

    app = FastAPI(title="CallCoach", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    app.include_router(scenarios.router)
    app.include_router(sessions.router)
    app.include_router(call_ws.router)
    for optional in ("server.routes.grading", "server.routes.recordings", "server.routes.web"):
        try:
            module = __import__(optional, fromlist=["router"])
        except ImportError:
            continue
        app.include_router(module.router)

    @app.get("/api/health")
    def health() -> dict:
        return {"ok": True, "scenarios": len(ctx.library), "engines": sorted(ctx.engines),
                "library_errors": [str(e) for e in ctx.library.errors]}

    if (WEB_DIR / "index.html").exists():
        app.mount("/app", StaticFiles(directory=WEB_DIR, html=True), name="web")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/app/")
    else:
        @app.get("/", include_in_schema=False)
        def root_missing() -> JSONResponse:
            return JSONResponse({"service": "CallCoach", "api": "/docs"})

    return app
