"""The client's audio parts in a real Chromium, without the voice server: the microphone worklet
downsamples to 16 kHz mono s16le in the right order (not reversed in 128-sample blocks like the
vosk-server sample client), and the playback queue plays customer frames, reports positions and
stops at once on `interrupt`."""

from __future__ import annotations

import pytest

from tests.conftest import start_server
from tests.web_client.conftest import make_context

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, chromium_path):
    """One server for these tests: they only need the client's files from a real origin."""
    data = tmp_path_factory.mktemp("audio-modules")
    srv = start_server(data, f"sqlite:///{data / 'web.db'}")
    yield srv
    srv.stop()


@pytest.fixture
def page(browser, app_server):
    ctx = make_context(browser)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{app_server.http}/app/#/library?nofocus=1")
    pg.wait_for_selector("#scenario-cards .card")
    yield pg
    ctx.close()
    assert not errors, errors


SINE_CHECK = """
// correlation of `got` (Int16Array at 16 kHz) with a sine of `freq` Hz, best over a few sample lags
function bestCorrelation(got, freq, rate) {
  let best = -1;
  for (let lag = -3; lag <= 3; lag++) {
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = 50; i < got.length - 50; i++) {
      const x = got[i] / 32768, y = 0.5 * Math.sin(2 * Math.PI * freq * (i + lag) / rate);
      sxy += x * y; sxx += x * x; syy += y * y;
    }
    best = Math.max(best, sxy / Math.sqrt(sxx * syy));
  }
  return best;
}
"""


@pytest.mark.parametrize("in_rate", [48000, 44100, 16000])
def test_downsampler_keeps_sample_order(page, in_rate):
    result = page.evaluate(SINE_CHECK + """async (inRate) => {
        const { Downsampler } = await import('/app/js/call/pcm.js');
        const ds = new Downsampler(inRate, 16000);
        const freq = 440, seconds = 1;
        const chunks = [];
        // feed it the way an AudioWorklet does: 128-sample render quanta
        for (let start = 0; start < inRate * seconds; start += 128) {
          const block = new Float32Array(128);
          for (let i = 0; i < 128; i++) block[i] = 0.5 * Math.sin(2 * Math.PI * freq * (start + i) / inRate);
          chunks.push(ds.process(block));
        }
        const total = chunks.reduce((a, c) => a + c.length, 0);
        const out = new Int16Array(total);
        let o = 0;
        for (const c of chunks) { out.set(c, o); o += c.length; }
        // the same signal with every 128-sample block reversed (the vosk-server sample's bug)
        const rev = new Float32Array(Math.ceil(inRate * seconds / 128) * 128);
        for (let start = 0; start < rev.length; start += 128) {
          for (let i = 0; i < 128; i++) rev[start + i] = 0.5 * Math.sin(2 * Math.PI * freq * (start + 127 - i) / inRate);
        }
        const badOut = new Downsampler(inRate, 16000).process(rev);
        const fed = chunks.length * 128;
        return { n: total, expected: Math.floor(fed * 16000 / inRate), corr: bestCorrelation(out, freq, 16000), badCorr: bestCorrelation(badOut, freq, 16000),
                 peak: Math.max(...out.slice(100, 2000)) };
    }""", in_rate)
    assert abs(result["n"] - result["expected"]) <= 1, result
    assert result["corr"] > 0.99, result
    assert result["badCorr"] < 0.9, result  # the check would catch reversed blocks
    assert 0.45 * 32767 < result["peak"] <= 0.5 * 32767 + 2, result


def test_microphone_worklet_emits_16k_s16le_frames_in_order(page):
    """The real AudioWorklet in an OfflineAudioContext at 48 kHz, fed a 440 Hz tone."""
    result = page.evaluate(SINE_CHECK + """async () => {
        const ctx = new OfflineAudioContext(1, 48000, 48000);
        await ctx.audioWorklet.addModule('/app/js/call/mic-worklet.js');
        const node = new AudioWorkletNode(ctx, 'callcoach-mic', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
        const frames = [];
        node.port.onmessage = (ev) => frames.push(new Int16Array(ev.data.pcm));
        const osc = new OscillatorNode(ctx, { frequency: 440 });
        const gain = new GainNode(ctx, { gain: 0.5 });
        osc.connect(gain).connect(node);
        osc.start();
        await ctx.startRendering();
        await new Promise(r => setTimeout(r, 200));  // the last port messages
        const out = new Int16Array(frames.reduce((a, f) => a + f.length, 0));
        let o = 0;
        for (const f of frames) { out.set(f, o); o += f.length; }
        return { frames: frames.length, sizes: [...new Set(frames.map(f => f.length))], n: out.length,
                 corr: bestCorrelation(out, 440, 16000) };
    }""")
    assert result["sizes"] == [320], result  # 20 ms frames at 16 kHz
    assert 48 <= result["frames"] <= 50, result
    assert result["corr"] > 0.99, result


def test_player_plays_reports_and_stops_on_interrupt(page):
    result = page.evaluate("""async () => {
        const { Player } = await import('/app/js/call/player.js');
        const ctx = new AudioContext();
        await ctx.resume();
        const reports = [];
        const player = new Player(ctx, (m) => reports.push(m));
        const frame = (turn, seq, ms, rate = 16000) => {
          const n = Math.round(rate * ms / 1000);
          const buf = new ArrayBuffer(16 + 2 * n);
          const dv = new DataView(buf);
          'CCAU'.split('').forEach((c, i) => dv.setUint8(i, c.charCodeAt(0)));
          dv.setUint32(4, turn, true); dv.setUint32(8, seq, true); dv.setUint32(12, rate, true);
          for (let i = 0; i < n; i++) dv.setInt16(16 + 2 * i, Math.round(8000 * Math.sin(2 * Math.PI * 300 * i / rate)), true);
          return buf;
        };
        const sleep = (ms) => new Promise(r => setTimeout(r, ms));
        const t0 = ctx.currentTime;
        // turn 2: 2 s of speech in 100 ms frames, interrupted after ~0.5 s
        for (let s = 0; s < 20; s++) player.push(frame(2, s, 100));
        await sleep(600);
        const playingBefore = player.playing;
        player.interrupt(2);
        const afterInterrupt = reports.filter(r => r.turn === 2);
        const cut = afterInterrupt[afterInterrupt.length - 1];
        const lateFrameAccepted = player.push(frame(2, 20, 100));  // a stale frame after the interrupt
        const playingAfter = player.playing;
        // turn 4: 300 ms, played to the end
        player.push(frame(4, 0, 150, 24000));
        player.push(frame(4, 1, 150, 24000));
        player.end(4, 300);
        await sleep(900);
        const done4 = reports.filter(r => r.turn === 4 && r.done);
        player.close();
        await ctx.close();
        return { clockRan: ctx.currentTime > t0, playingBefore, playingAfter, cut, lateFrameAccepted, done4,
                 progress: reports.filter(r => r.turn === 2 && !r.done).length };
    }""")
    assert result["clockRan"], "the AudioContext clock did not move (no audio output?)"
    assert result["playingBefore"] and not result["playingAfter"], result
    assert result["cut"]["type"] == "playback" and result["cut"]["done"] is False, result
    assert 250 <= result["cut"]["played_ms"] <= 1000, result  # stopped after about half a second, not 2 s
    assert result["lateFrameAccepted"] is False, result
    assert result["progress"] >= 2, result  # positions were reported while it played
    assert len(result["done4"]) == 1 and abs(result["done4"][0]["played_ms"] - 300) <= 2, result
