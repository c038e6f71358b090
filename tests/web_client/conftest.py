"""Browser end-to-end fixtures: Debian's real headless Chromium driven by Playwright's Python API
(the `playwright` package only: no `playwright install`, no browser download), against a real
`callcoach serve` on loopback (tests/conftest.py).

Screenshots go to $CALLCOACH_TEST_ARTIFACTS/web_client (default test-artifacts/web_client).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, LiveServer

CHROMIUM = os.environ.get("CALLCOACH_CHROMIUM", "/usr/bin/chromium")
BASE_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


def _missing(reason: str) -> None:
    # in CI the browser tests must run: a missing browser fails loudly instead of skipping quietly
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI=true: scripts/install.sh --all installs it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package is not installed (pip install playwright; never `playwright install`)")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    base = Path(os.environ.get("CALLCOACH_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    out = base / "web_client"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def playwright_session(chromium_path):
    # module scope, not session: while Playwright's sync API is open it owns the thread's event loop,
    # and other test modules' asyncio.run() would fail after ours
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def launch(playwright_session, chromium_path: str, extra_args: list[str] | None = None):
    return playwright_session.chromium.launch(
        executable_path=chromium_path, headless=True, args=BASE_ARGS + (extra_args or []),
        ignore_default_args=["--mute-audio"],
    )


@pytest.fixture(scope="module")
def browser(playwright_session, chromium_path):
    b = launch(playwright_session, chromium_path)
    yield b
    b.close()


@pytest.fixture
def web_server(server_factory, tmp_path) -> LiveServer:
    """A real server with the test hooks on, on SQLite (the browser does not care about the database)."""
    return server_factory(f"sqlite:///{tmp_path / 'web.db'}", CALLCOACH_TEST_HOOKS="1",
                          CALLCOACH_RESUME_GRACE_S="30", CALLCOACH_ENGINE="scripted")


class PageProbe:
    """A page with its console errors and its websocket frames recorded."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.frames: list[tuple[str, str]] = []  # (direction, text payload)
        self.binary_frames = 0
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("websocket", self._websocket)

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console.{msg.type}: {msg.text}")

    def _websocket(self, ws) -> None:
        def on_frame(direction):
            def handler(payload):
                if isinstance(payload, (bytes, bytearray)):
                    self.binary_frames += 1
                else:
                    self.frames.append((direction, payload))
            return handler

        ws.on("framesent", on_frame("sent"))
        ws.on("framereceived", on_frame("received"))

    def goto(self, hash_path: str) -> None:
        self.page.goto(f"{self.base}/app/{hash_path}")

    def shot(self, artifacts: Path, name: str, full_page: bool = True) -> Path:
        path = artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_no_errors(self, allow: tuple[str, ...] = ()) -> None:
        bad = [e for e in self.errors if not any(a in e for a in allow)]
        assert not bad, "browser errors:\n" + "\n".join(bad)


def make_context(browser, *, trainee: str | None = "测试学员", lang: str | None = None, viewport=(1280, 860),
                 ignore_https_errors: bool = False):
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                              timezone_id="Asia/Shanghai", ignore_https_errors=ignore_https_errors)
    script = []
    if trainee:
        script.append(f"localStorage.setItem('callcoach.trainee', {trainee!r});")
    if lang:
        script.append(f"if (!sessionStorage.getItem('cc.langset')) {{ localStorage.setItem('callcoach.lang', {lang!r}); sessionStorage.setItem('cc.langset', '1'); }}")
    if script:
        ctx.add_init_script("\n".join(script))
    return ctx


@pytest.fixture
def probe_factory(browser, web_server) -> Iterator:
    contexts = []

    def make(**kw) -> PageProbe:
        ctx = make_context(browser, **kw)
        contexts.append(ctx)
        return PageProbe(ctx.new_page(), web_server.http)

    yield make
    for ctx in contexts:
        ctx.close()


def api(server: LiveServer, path: str, method: str = "GET", **kw):
    r = httpx.request(method, f"{server.http}{path}", timeout=20, **kw)
    return r
