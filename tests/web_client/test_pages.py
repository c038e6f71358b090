"""The browser client in a real headless Chromium against a real server: the library, an English text
call end to end, exam mode (no meter, no hints, no hidden facts), a websocket dropped by the server
mid-call, and a refused microphone. Screenshots of every page land in the test artifacts."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from personas.library import load_library
from tests.web_client.conftest import api, make_context, PageProbe
from tests.personas.test_director import GOOD_ZH

pytestmark = pytest.mark.browser

SCENARIO = "parcel-late-angry"

# An English agent who greets, empathises and offers a fix but never verifies or paraphrases:
# the customer replies every time, and the scorecard has deductions to show.
EN_LINES = [
    "Good morning, thank you for calling SwiftPost, my name is Anna, agent ID 4471.",
    "I'm so sorry. I completely understand how frustrating this must be. Could you tell me what happened?",
    "Here's what I can do: I'll arrange a free express reship today so it arrives tomorrow. Would that work?",
]

GOOD_CALL_ZH = GOOD_ZH  # the exemplary parcel call, shared with the director tests


def customer_count(page) -> int:
    return page.locator("#transcript .turn.customer").count()


def say(page, text: str, timeout: float = 10_000) -> None:
    """Type an agent line, press Enter, wait for the customer's reply (or the end of the call)."""
    before = customer_count(page)
    page.fill("#agent-text", text)
    page.press("#agent-text", "Enter")
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#transcript .turn.customer').length > n"
        " || location.hash.startsWith('#/report/')", arg=[before], timeout=timeout)


def start_call(page, *, mode: str, lang: str) -> None:
    page.wait_for_selector("#call-setup")
    page.check(f"#opt-mode-{mode}")
    page.check(f"#opt-language-{lang}")
    page.check("#opt-input-text")
    page.click("#start-call")
    page.wait_for_selector("#transcript .turn.customer")
    page.wait_for_function("window.__callcoach && window.__callcoach.conn.status === 'live'")


def start_voice_call_expecting_mic_error(p: PageProbe, scenario: str) -> str:
    """Offer voice as a server with speech models does, press Start, and return the microphone error shown."""
    p.page.route("**/api/web/config", lambda route: route.fulfill(
        status=200, content_type="application/json",
        body=json.dumps({"voice": True, "resume_grace_s": 30, "default_language": "zh", "engines": ["scripted"],
                         "test_hooks": True})))
    p.goto(f"#/call/{scenario}")
    p.page.wait_for_selector("#call-setup")
    assert p.page.is_checked("#opt-input-voice")
    p.page.click("#start-call")
    p.page.wait_for_selector("#use-text-instead")
    return p.page.inner_text(".alert-slot .alert")


def session_id(page) -> str:
    return page.evaluate("window.__callcoach.conn.sessionId")


# ---------------------------------------------------------------------------------------------- library
def test_library_loads_filters_and_remembers_the_language(browser, web_server, artifacts):
    scenarios = api(web_server, "/api/scenarios?lang=zh").json()
    assert len(scenarios) >= 4
    ctx = make_context(browser, trainee=None)
    p = PageProbe(ctx.new_page(), web_server.http)
    page = p.page
    try:
        page.goto(web_server.http + "/")  # / redirects to /app/ and the router lands on #/library
        # first visit: the trainee is asked for a name once
        page.wait_for_selector("#trainee-dialog[open]")
        p.shot(artifacts, "01-library-name-dialog", full_page=False)
        page.fill("#trainee-input", "李小明")
        page.click("#trainee-form button[type=submit]")
        assert page.evaluate("localStorage.getItem('callcoach.trainee')") == "李小明"
        assert "李小明" in page.inner_text("#trainee-button")

        page.wait_for_selector("#scenario-cards .card")
        assert page.inner_text("h1") == "场景库"  # Chinese by default
        assert page.locator("#scenario-cards .card").count() == len(scenarios)
        card = page.locator(f'.card[data-scenario="{SCENARIO}"]')
        text = card.inner_text()
        assert "快递延误投诉" in text and "初级" in text and "呼入" in text and "快递物流" in text
        assert "中文 / English" in text and "共情" in text  # languages and skills
        p.shot(artifacts, "02-library-zh")

        # filters: level, direction, search, and their combination
        page.select_option("#f-level", "初级")
        want = {s["id"] for s in scenarios if s["level"] == "初级"}
        assert set(page.eval_on_selector_all("#scenario-cards .card", "els => els.map(e => e.dataset.scenario)")) == want
        page.select_option("#f-level", "")
        page.select_option("#f-direction", "outbound")
        want = {s["id"] for s in scenarios if s["direction"] == "outbound"}
        assert want and set(page.eval_on_selector_all("#scenario-cards .card", "els => els.map(e => e.dataset.scenario)")) == want
        assert re.search(rf"{len(want)} / {len(scenarios)}", page.inner_text("#library-count"))
        page.click("button[type=reset]")
        page.fill("#f-q", "快递")
        page.wait_for_function("document.querySelectorAll('#scenario-cards .card').length >= 1")
        ids = page.eval_on_selector_all("#scenario-cards .card", "els => els.map(e => e.dataset.scenario)")
        assert SCENARIO in ids and all("快递" in next(s["title"] + s["summary"] + s["industry"] for s in scenarios if s["id"] == i) for i in ids)
        page.fill("#f-q", "no such scenario at all")
        assert page.locator("#scenario-cards .card").count() == 0
        assert page.locator("#scenario-cards .empty").is_visible()
        page.click("button[type=reset]")
        page.wait_for_function(f"document.querySelectorAll('#scenario-cards .card').length === {len(scenarios)}")

        # the knowledge sheet: what the agent may offer, never the customer's hidden facts
        card.locator("summary").click()
        sheet = card.locator(".sheet").inner_text()
        assert "免费加急重发" in sheet and "核实" in sheet
        assert "赔偿商品价值" not in sheet.split("可提供的方案")[1]  # an offer outside policy is not listed
        secrets = load_library().get(SCENARIO).persona.secret_strings("zh")
        html = page.content()
        for secret in secrets:
            assert secret not in html, secret
        p.shot(artifacts, "03-library-knowledge-sheet")

        # English by the toggle, remembered across a reload
        page.click("#lang-toggle")
        page.wait_for_function("document.querySelector('h1').textContent === 'Scenario library'")
        assert page.evaluate("localStorage.getItem('callcoach.lang')") == "en"
        assert page.evaluate("document.documentElement.lang") == "en"
        page.reload()
        page.wait_for_selector("#scenario-cards .card")
        assert page.inner_text("h1") == "Scenario library"
        assert "Late parcel complaint" in page.locator(f'.card[data-scenario="{SCENARIO}"]').inner_text()
        assert "Junior (初级)" in page.locator(f'.card[data-scenario="{SCENARIO}"]').inner_text()
        p.shot(artifacts, "04-library-en")

        # every UI string exists in both languages
        keys = page.evaluate("""async () => {
            const { messages } = await import('/app/js/messages.js');
            const zh = Object.keys(messages.zh), en = Object.keys(messages.en);
            return { onlyZh: zh.filter(k => !(k in messages.en)), onlyEn: en.filter(k => !(k in messages.zh)) };
        }""")
        assert keys == {"onlyZh": [], "onlyEn": []}

        # keyboard: the cards' call links are reachable and open the set-up screen
        page.locator(f'.card[data-scenario="{SCENARIO}"] a.button').focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#call-setup")
        assert page.url.endswith(f"#/call/{SCENARIO}")
        p.assert_no_errors()
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------- English text call
def test_english_text_call_end_to_end(probe_factory, web_server, artifacts):
    p = probe_factory(trainee="Test Trainee", lang="en")
    page = p.page
    p.goto("#/library")
    page.wait_for_selector(f'.card[data-scenario="{SCENARIO}"]')
    assert page.inner_text("h1") == "Scenario library"
    page.click(f'.card[data-scenario="{SCENARIO}"] a.button')
    page.wait_for_selector(".sheet-holder .sheet")
    p.shot(artifacts, "05-call-setup-en")
    start_call(page, mode="practice", lang="en")

    # practice mode: the mood meter and hints are there
    assert page.locator("#mood-meter").is_visible() and page.locator("#hints").is_visible()
    opening = page.inner_text("#transcript .turn.customer >> nth=0")
    assert "parcel" in opening.lower()
    for line in EN_LINES:
        say(page, line)
    agent_lines = page.eval_on_selector_all("#transcript .turn.agent .text", "els => els.map(e => e.textContent)")
    assert agent_lines == EN_LINES
    assert customer_count(page) == 1 + len(EN_LINES)
    assert page.get_attribute("#meter-anger", "aria-valuenow") is not None
    assert page.inner_text("#hint-text") not in ("", "No hint yet.")
    assert re.fullmatch(r"\d\d:\d\d / 10:00", page.inner_text("#call-timer"))
    p.shot(artifacts, "06-call-practice-en", full_page=False)
    sid = session_id(page)

    page.click("#end-call")
    page.wait_for_url(f"**#/report/{sid}")
    page.wait_for_selector("#report-transcript")
    if api(web_server, "/openapi.json").json()["paths"].get("/api/sessions/{session_id}/scorecard") is None:
        pytest.fail("the grader's scorecard route GET /api/sessions/{id}/scorecard is missing")
    card = api(web_server, f"/api/sessions/{sid}/scorecard").json()
    page.wait_for_selector("#score-total")
    assert abs(float(page.inner_text("#score-total .score-number")) - card["total"]) < 0.051
    assert page.inner_text("#verdict").strip().endswith("Pass" if card["passed"] else "Fail")
    assert page.locator("#dimension-bars .dim").count() == len(card["dimensions"])
    assert card["findings"], "a call that never verifies must lose points"
    assert page.locator("#findings .finding").count() == len(card["findings"])
    first = page.locator("#findings .finding").first
    assert first.locator(".tip").inner_text().startswith("Do this instead:")
    # each finding is highlighted at its turn in the transcript
    for f in card["findings"]:
        if f["turn"] is not None:
            assert "has-finding" in page.get_attribute(f"#turn-{f['turn']}", "class")
    p.shot(artifacts, "07-report-en")

    # clicking a finding brings its turn into view and marks it
    turn = int(first.get_attribute("data-turn"))
    first.locator(".finding-head").click()
    page.wait_for_selector(f"#turn-{turn}.current")
    page.wait_for_function("""([t]) => { const r = document.getElementById('turn-' + t).getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight; }""", arg=[turn])  # scrolled into view
    page.wait_for_timeout(300)
    p.shot(artifacts, "08-report-finding-clicked", full_page=False)

    # the print view fits A4: no horizontal overflow at A4 width, and a PDF of a few pages
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 794, "height": 1123})
    assert page.evaluate("document.documentElement.scrollWidth") <= 794
    assert not page.locator(".topbar").is_visible() and not page.locator("#print-report").is_visible()
    p.shot(artifacts, "09-report-print-a4")
    pdf = page.pdf(format="A4", print_background=True, path=str(artifacts / "report-en.pdf"))
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 4, pages
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 860})

    # My history: a second (good, Chinese) call by the same trainee, then the chart over both
    from tests.wsclient import CallClient

    async def good_call():
        c = await CallClient.connect(web_server.ws)
        await c.send({"type": "start", "scenario": SCENARIO, "mode": "practice", "language": "zh", "trainee": "Test Trainee"})
        await c.recv_until("started")
        for line in GOOD_CALL_ZH:
            await c.send({"type": "text", "text": line})
            if (await c.recv_until("customer", "ended"))["type"] == "ended":
                return
        await c.recv_until("ended")

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's event loop
        pool.submit(asyncio.run, good_call()).result(timeout=60)
    p.goto("#/history")
    page.wait_for_selector("#history-chart svg")
    assert page.locator("#history-table tbody tr").count() == 2
    assert page.locator("#history-chart .series-total circle").count() == 2
    assert page.locator("#history-chart g.series").count() == 1 + len(card["dimensions"])
    p.shot(artifacts, "10-history-en")
    page.click("#history-table tbody tr:last-child a")
    page.wait_for_url(f"**#/report/{sid}")
    p.assert_no_errors()


# ---------------------------------------------------------------------------------------------- exam mode
def test_exam_mode_shows_no_meter_no_hints_and_leaks_nothing(probe_factory, web_server, artifacts):
    scenario = load_library().get(SCENARIO)
    secrets = scenario.persona.secret_strings("zh")
    p = probe_factory(lang="zh")
    page = p.page
    p.goto(f"#/call/{SCENARIO}")
    start_call(page, mode="exam", lang="zh")
    # an agent who never asks about the parcel: nothing hidden may reach the browser
    for line in ["您好，顺达快递客服中心，工号3021，很高兴为您服务。", "非常抱歉，我理解您的心情。", "好的，我明白。"]:
        say(page, line)
    assert page.locator("#mood-meter").count() == 0
    assert page.locator("#hints").count() == 0
    assert page.locator("#exam-note").is_visible()
    assert page.inner_text("#mode-badge") == "考试模式"
    p.shot(artifacts, "11-call-exam-zh", full_page=False)
    html_during = page.content()
    sid = session_id(page)
    page.click("#end-call")
    page.wait_for_url(f"**#/report/{sid}")
    page.wait_for_selector("#report-transcript")
    html_after = page.content()

    received = [json.loads(text) for d, text in p.frames if d == "received"]
    types = {m["type"] for m in received}
    assert "started" in types and "customer" in types and "ended" in types
    assert "state" not in types and "hint" not in types
    traffic = "\n".join(text for _, text in p.frames)
    for secret in secrets:
        assert secret not in traffic, f"secret in websocket traffic: {secret}"
        assert secret not in html_during, f"secret in the call page: {secret}"
        assert secret not in html_after, f"secret in the report page: {secret}"
    assert '"responses"' not in traffic and '"unlock"' not in traffic  # persona fields never go out
    p.assert_no_errors()


# ---------------------------------------------------------------------------------------------- dropped socket
def test_dropped_websocket_reconnects_and_no_turn_is_lost(probe_factory, web_server, artifacts):
    p = probe_factory(lang="zh")
    page = p.page
    p.goto(f"#/call/{SCENARIO}")
    start_call(page, mode="practice", lang="zh")
    lines = GOOD_CALL_ZH[:5]
    say(page, lines[0])
    say(page, lines[1])
    sid = session_id(page)

    # the server closes the call's websocket (as a restart or a proxy would)
    r = api(web_server, f"/api/test/sessions/{sid}/drop", method="POST")
    assert r.status_code == 200, r.text
    # the trainee types straight on: the line waits and goes out once the call is resumed
    page.fill("#agent-text", lines[2])
    page.press("#agent-text", "Enter")
    page.wait_for_function("window.__callcoach.conn.statusLog.includes('reconnecting')")
    p.shot(artifacts, "12-call-reconnecting", full_page=False)
    page.wait_for_function("window.__callcoach.conn.reconnects >= 1 && window.__callcoach.conn.status === 'live'", timeout=15_000)
    page.wait_for_function("document.querySelectorAll('#transcript .turn.customer').length >= 4", timeout=10_000)
    assert page.locator("#call-alert .alert.info").is_visible()  # "reconnected: the call goes on"
    p.shot(artifacts, "13-call-resumed", full_page=False)
    say(page, lines[3])
    say(page, lines[4])

    agent_lines = page.eval_on_selector_all("#transcript .turn.agent .text", "els => els.map(e => e.textContent)")
    assert agent_lines == lines  # each line once, in order
    assert customer_count(page) == 1 + len(lines)
    statuses = page.evaluate("window.__callcoach.conn.statusLog")
    assert statuses[:2] == ["connecting", "live"] and "reconnecting" in statuses and statuses[-1] == "live"

    page.click("#end-call")
    page.wait_for_url(f"**#/report/{sid}")
    body = api(web_server, f"/api/sessions/{sid}").json()
    assert [t["turn"] for t in body["turns"]] == list(range(1 + 2 * len(lines)))
    assert [t["text"] for t in body["turns"] if t["speaker"] == "agent"] == lines
    assert body["status"] == "ended"
    p.assert_no_errors(allow=("WebSocket",))


# ---------------------------------------------------------------------------------------------- microphone refused
def test_microphone_refused_is_explained_and_text_works(probe_factory, web_server, artifacts):
    p = probe_factory(lang="zh")
    page = p.page
    # pretend the server offers voice, and the trainee refuses the microphone
    page.add_init_script("""
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    """)
    message = start_voice_call_expecting_mic_error(p, SCENARIO)
    assert "麦克风" in message and "拒绝" in message
    p.shot(artifacts, "14-call-mic-refused", full_page=False)
    # no call was opened for a refused microphone
    assert not [f for f in p.frames if f[0] == "sent"]
    page.click("#use-text-instead")
    page.wait_for_selector("#agent-text")
    page.wait_for_function("window.__callcoach.conn.status === 'live'")
    say(page, GOOD_CALL_ZH[0])
    start = json.loads(next(text for d, text in p.frames if d == "sent"))
    assert start["type"] == "start" and "audio" not in start and start["trainee"] == "测试学员"
    p.assert_no_errors()


# ---------------------------------------------------------------------------------------------- page reloaded
def test_reloaded_page_offers_to_resume_the_call(probe_factory, web_server, artifacts):
    p = probe_factory(lang="zh")
    page = p.page
    page.on("dialog", lambda d: d.accept())  # "leave the page?" while on a call
    p.goto(f"#/call/{SCENARIO}")
    start_call(page, mode="exam", lang="zh")
    say(page, GOOD_CALL_ZH[0])
    sid = session_id(page)
    page.reload()
    page.wait_for_selector("#resume-call")
    p.shot(artifacts, "15-call-resume-offer", full_page=False)
    page.click("#resume-call")
    page.wait_for_function("window.__callcoach && window.__callcoach.conn.status === 'live'")
    # the transcript is rebuilt from the server's record, and the call goes on
    assert page.eval_on_selector_all("#transcript .turn", "els => els.map(e => e.dataset.speaker)") == ["customer", "agent", "customer"]
    assert page.locator("#mood-meter").count() == 0  # still an exam
    say(page, GOOD_CALL_ZH[1])
    assert session_id(page) == sid
    page.click("#end-call")
    page.wait_for_url(f"**#/report/{sid}")
    body = api(web_server, f"/api/sessions/{sid}").json()
    assert [t["text"] for t in body["turns"] if t["speaker"] == "agent"] == GOOD_CALL_ZH[:2]
    p.assert_no_errors()


# ---------------------------------------------------------------------------------------------- accessibility
A11Y_AUDIT = """() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = ({ r, g, b }) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5 && !getComputedStyle(e).backgroundImage.includes('gradient')) return c; }
    return { r: 255, g: 255, b: 255, a: 1 }; };
  const problems = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    if (el.closest('[aria-hidden="true"], [hidden], dialog:not([open]), option, svg')) continue;
    if (el.closest('button:disabled, input:disabled + label')) continue;  // disabled controls are exempt
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    const cs = getComputedStyle(el);
    const fg = parse(cs.color); const bg = bgOf(el);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) problems.push(`${ratio.toFixed(2)} < ${need}: <${el.tagName.toLowerCase()} class="${el.className}"> ${el.textContent.trim().slice(0, 40)}`);
  }
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) problems.push(`unlabelled ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll('button, a[href], [role=button]')) {
    const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
    if (!name && el.offsetParent) problems.push(`control without a name: ${el.outerHTML.slice(0, 80)}`);
  }
  return problems;
}"""


def test_pages_have_labels_and_aa_contrast(probe_factory, web_server, artifacts):
    p = probe_factory(lang="zh")
    page = p.page

    def audit(where: str) -> None:
        problems = page.evaluate(A11Y_AUDIT)
        assert not problems, f"{where}:\n" + "\n".join(problems)

    p.goto("#/library")
    page.wait_for_selector("#scenario-cards .card")
    audit("library")
    p.goto(f"#/call/{SCENARIO}")
    page.wait_for_selector(".sheet-holder .sheet")
    audit("call set-up")
    start_call(page, mode="practice", lang="zh")
    say(page, GOOD_CALL_ZH[0])
    audit("call")
    # keyboard only: Tab from the text box reaches Send, then End call
    page.focus("#agent-text")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "send-text"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "end-call"
    sid = session_id(page)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**#/report/{sid}")
    page.wait_for_selector("#score-total")
    audit("report")
    p.goto("#/history")
    page.wait_for_selector("#history-table")
    audit("history")
    p.assert_no_errors()
