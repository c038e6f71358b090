"""HTTPS for classrooms (server/tls.py): the self-signed certificate, and a real `callcoach serve` over TLS
carrying pages, the REST API and a whole websocket call (wss)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import subprocess
import sys

import httpx
import pytest
from cryptography import x509

from server.tls import RENEW_BEFORE_DAYS, VALID_DAYS, certificate_names, ensure_self_signed, local_addresses, tls_files
from tests.conftest import ROOT
from tests.personas.test_director import GOOD_ZH
from tests.wsclient import CallClient


def _names(cert_path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(i) for i in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def test_certificate_covers_this_machine_and_is_reused(tmp_path):
    names = certificate_names("0.0.0.0")
    assert names[:2] == ["localhost", "127.0.0.1"]
    assert set(local_addresses()) <= set(names)
    assert all(not ipaddress.ip_address(a).is_loopback for a in local_addresses())
    first = ensure_self_signed(tmp_path / "tls", names)
    assert _names(first.certfile) == set(names)
    assert first.keyfile.stat().st_mode & 0o777 == 0o600
    pem = first.certfile.read_bytes()
    again = ensure_self_signed(tmp_path / "tls", names)
    # the same certificate: students' browsers keep the exception they accepted
    assert again.certfile.read_bytes() == pem
    cert = x509.load_pem_x509_certificate(pem)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == VALID_DAYS


def test_certificate_is_renewed_for_a_new_address_or_near_expiry(tmp_path):
    d = tmp_path / "tls"
    pem = ensure_self_signed(d, ["localhost", "127.0.0.1"]).certfile.read_bytes()
    moved = ensure_self_signed(d, ["localhost", "127.0.0.1", "10.1.2.3"])
    assert moved.certfile.read_bytes() != pem and "10.1.2.3" in _names(moved.certfile)
    pem = moved.certfile.read_bytes()
    late = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=VALID_DAYS - RENEW_BEFORE_DAYS + 1)
    renewed = ensure_self_signed(d, ["localhost", "127.0.0.1", "10.1.2.3"], now=late)
    assert renewed.certfile.read_bytes() != pem
    assert x509.load_pem_x509_certificate(renewed.certfile.read_bytes()).not_valid_after_utc > late
    (d / "cert.pem").write_text("not a certificate")
    assert b"BEGIN CERTIFICATE" in ensure_self_signed(d, ["localhost"]).certfile.read_bytes()


def test_a_teachers_certificate_is_used_as_is_and_a_missing_one_is_named(tmp_path):
    own = ensure_self_signed(tmp_path / "own", ["callcoach.school.example"])
    used = tls_files(tmp_path / "data", "0.0.0.0", own.certfile, own.keyfile)
    assert (used.certfile, used.keyfile, used.self_signed) == (own.certfile, own.keyfile, False)
    assert not (tmp_path / "data" / "tls").exists()
    with pytest.raises(FileNotFoundError, match="CALLCOACH_TLS_KEYFILE is not set"):
        tls_files(tmp_path / "data", "0.0.0.0", own.certfile, None)
    env = {"CALLCOACH_DATA_DIR": str(tmp_path / "data"), "CALLCOACH_TLS_CERTFILE": str(tmp_path / "nope.pem"),
           "CALLCOACH_TLS_KEYFILE": str(own.keyfile), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--https"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "nope.pem does not exist" in r.stderr and "证书" in r.stderr


def test_https_server_carries_pages_api_and_a_whole_call(server_factory, tmp_path):
    srv = server_factory(f"sqlite:///{tmp_path / 'tls.db'}", CALLCOACH_TLS="1", CALLCOACH_ENGINE="scripted")
    cert = srv.data_dir / "tls" / "cert.pem"
    ctx = ssl.create_default_context(cafile=str(cert))  # verified against our own certificate, not skipped
    with httpx.Client(verify=ctx, timeout=20) as client:
        assert client.get(f"{srv.http}/app/").status_code == 200
        scenarios = client.get(f"{srv.http}/api/scenarios").json()
        assert any(s["id"] == "parcel-late-angry" for s in scenarios)
    with pytest.raises(httpx.HTTPError):  # no plain HTTP on the TLS port
        httpx.get(f"http://127.0.0.1:{srv.port}/api/health", timeout=5)
    assert f"https://127.0.0.1:{srv.port}/" in srv.log_path.read_text()

    async def call() -> list[dict]:
        c = await CallClient.connect(srv.ws, ssl=ctx)
        await c.send({"type": "start", "scenario": "parcel-late-angry", "mode": "practice", "language": "zh",
                      "seed": 3, "trainee": "tls-test"})
        await c.recv_until("started")
        for line in GOOD_ZH:
            await c.send({"type": "text", "text": line})
            if (await c.recv_until("customer", "ended"))["type"] == "ended":
                break
        else:
            await c.recv_until("ended")
        await c.close()
        return c.received

    received = asyncio.run(call())
    assert received[-1]["type"] == "ended" and received[-1]["reason"] == "resolved"
