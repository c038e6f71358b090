"""Shared fixtures: database backends (real SQLite and, when configured, real PostgreSQL) and a real
uvicorn server on loopback started through the `callcoach serve` command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("CALLCOACH_TEST_PG_URL")  # e.g. postgresql+psycopg://callcoach:callcoach@127.0.0.1/callcoach_test


def _check_pg_url(url: str | None) -> None:
    """A malformed URL (e.g. a start script's chatter captured with it) must stop the run at once, with the
    value shown, instead of surfacing as dozens of server start-up errors."""
    if not url:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError
    try:
        make_url(url)
    except ArgumentError:
        raise pytest.UsageError(f"CALLCOACH_TEST_PG_URL is not a database URL: {url!r}") from None


_check_pg_url(PG_URL)


def _backends() -> list:
    params = [pytest.param("sqlite", id="sqlite")]
    if PG_URL:
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    elif os.environ.get("CI"):
        # in CI PostgreSQL is required: a missing server must fail loudly, not skip quietly
        params.append(pytest.param("postgres", id="postgres-missing", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_backends())
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'callcoach.db'}"
    if not PG_URL:
        pytest.fail("CI=true but CALLCOACH_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
    return PG_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    proc: subprocess.Popen
    port: int
    data_dir: Path
    db_url: str
    log_path: Path
    scheme: str = "http"  # "https" when started with CALLCOACH_TLS=1

    @property
    def http(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"{'wss' if self.scheme == 'https' else 'ws'}://127.0.0.1:{self.port}/ws/call"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_server(data_dir: Path, db_url: str, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCOACH_")}
    env.update({
        "CALLCOACH_DATA_DIR": str(data_dir),
        "CALLCOACH_DATABASE_URL": db_url,
        "CALLCOACH_PORT": str(port),
        "CALLCOACH_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra_env or {})
    log_path = data_dir / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--log-level", "warning"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    scheme = "https" if env.get("CALLCOACH_TLS", "").lower() in ("1", "true") else "http"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')}")
        try:
            # only "is it up": TLS tests check the certificate themselves
            if httpx.get(f"{scheme}://127.0.0.1:{port}/api/health", timeout=1, verify=False).status_code == 200:
                return LiveServer(proc, port, data_dir, db_url, log_path, scheme)
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text(errors='replace')}")


@pytest.fixture
def server_factory(tmp_path) -> Iterator:
    servers: list[LiveServer] = []

    def make(db_url: str, **env: str) -> LiveServer:
        srv = start_server(tmp_path / f"data-{uuid.uuid4().hex[:6]}", db_url, env)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def live_server(server_factory, db_url) -> LiveServer:
    return server_factory(db_url, CALLCOACH_RESUME_GRACE_S="2")
