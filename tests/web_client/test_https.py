"""A classroom: students open the teacher's server by its network address, not localhost. Browsers give the
microphone only to secure pages, so over plain HTTP the call page must say why voice is off and how to turn
it on, and over `serve --https` the microphone and the call (wss) work. Real Chromium, real servers bound to
0.0.0.0, reached through this machine's own non-loopback address."""

from __future__ import annotations

import pytest

from server.tls import local_addresses
from tests.personas.test_director import GOOD_ZH
from tests.web_client.conftest import PageProbe, make_context
from tests.web_client.test_pages import SCENARIO, say, start_call, start_voice_call_expecting_mic_error

pytestmark = pytest.mark.browser


def _lan_address() -> str:
    found = local_addresses()
    if not found:
        pytest.skip("this machine has no non-loopback IPv4 address to play the classroom network")
    return found[0]


def test_over_https_a_classroom_machine_gets_the_microphone_and_the_call(browser, server_factory, tmp_path, artifacts):
    addr = _lan_address()
    srv = server_factory(f"sqlite:///{tmp_path / 'https.db'}", CALLCOACH_HOST="0.0.0.0", CALLCOACH_TLS="1",
                         CALLCOACH_ENGINE="scripted")
    log = srv.log_path.read_text()
    assert f"https://{addr}:{srv.port}/" in log and "高级" in log  # the address and the warning, for the teacher
    # a student who accepted the self-signed certificate's warning once
    ctx = make_context(browser, lang="zh", ignore_https_errors=True)
    try:
        p = PageProbe(ctx.new_page(), f"https://{addr}:{srv.port}")
        page = p.page
        p.goto(f"#/call/{SCENARIO}")
        page.wait_for_selector("#call-setup")
        assert page.evaluate("window.isSecureContext") is True
        # the fake capture device answers: the microphone is available to this page
        tracks = page.evaluate("navigator.mediaDevices.getUserMedia({audio: true}).then(s => s.getAudioTracks().length)")
        assert tracks == 1
        start_call(page, mode="practice", lang="zh")
        say(page, GOOD_ZH[0])
        assert page.evaluate("window.__callcoach.conn.ws.url").startswith(f"wss://{addr}:{srv.port}/")
        assert len(page.locator("#transcript .turn.customer").all()) >= 2
        p.shot(artifacts, "23-call-over-https-lan", full_page=False)
        p.assert_no_errors()
    finally:
        ctx.close()


def test_over_plain_http_the_page_says_voice_needs_https(browser, server_factory, tmp_path, artifacts):
    addr = _lan_address()
    srv = server_factory(f"sqlite:///{tmp_path / 'http.db'}", CALLCOACH_HOST="0.0.0.0", CALLCOACH_ENGINE="scripted")
    assert "--https" in srv.log_path.read_text()  # the start-up lines tell the teacher already
    ctx = make_context(browser, lang="zh")
    try:
        p = PageProbe(ctx.new_page(), f"http://{addr}:{srv.port}")
        page = p.page
        message = start_voice_call_expecting_mic_error(p, SCENARIO)
        assert page.evaluate("window.isSecureContext") is False
        assert "HTTPS" in message and "callcoach serve --https" in message
        p.shot(artifacts, "24-call-http-lan-needs-https", full_page=False)
        assert not [f for f in p.frames if f[0] == "sent"]  # no call opened
        page.click("#use-text-instead")  # and text still works
        page.wait_for_function("window.__callcoach && window.__callcoach.conn.status === 'live'")
        say(page, GOOD_ZH[0])
        p.assert_no_errors()
    finally:
        ctx.close()
